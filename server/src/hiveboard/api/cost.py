"""``GET /v1/cost``, ``/v1/cost/timeseries``, ``/v1/llm-calls``: where the money goes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from hiveboard.api.read_common import (
    INTERVALS,
    ApiModel,
    Ctx,
    Page,
    ReadConn,
    bad_cursor,
    check_choice,
    choice_list,
    split_list,
    window,
)
from hiveboard.storage.read import calls as read_calls
from hiveboard.storage.read import cost as read
from hiveboard.storage.read import cost_series
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["cost"])

DEFAULT_COST_WINDOW = timedelta(days=1)


class CostGroup(ApiModel):
    """Spend of one slice. ``unknown_cost_calls`` had neither a reported nor an estimated
    cost: they are counted, never summed as zero."""

    key: str | None = None
    llm_calls: int
    cost_usd: float
    tokens_in: int
    tokens_out: int
    unknown_cost_calls: int


class CostSummary(ApiModel):
    since: datetime
    until: datetime
    total: CostGroup
    by_source: list[CostGroup]
    by_model: list[CostGroup]
    by_agent: list[CostGroup]
    by_task_type: list[CostGroup]
    by_project: list[CostGroup]


class CostPoint(ApiModel):
    """Spend of one bucket (and key). ``unknown_cost_calls`` of its calls had no price and
    are not in ``cost_usd``: a bucket of only those reads 0 with a count beside it."""

    bucket: datetime
    key: str | None
    cost_usd: float
    llm_calls: int
    tokens_in: int
    tokens_out: int
    unknown_cost_calls: int


class CostSeries(ApiModel):
    since: datetime
    until: datetime
    interval: str
    group_by: str | None
    points: list[CostPoint]


class LlmCallOut(ApiModel):
    event_id: str
    agent_id: str
    project_id: str | None
    task_id: str | None
    task_run_id: str | None
    task_type: str | None
    action_id: str | None
    timestamp: datetime
    name: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    cost_source: str
    matched_model: str | None
    duration_ms: int | None
    prompt_preview: str | None
    response_preview: str | None


@router.get("/cost", response_model=CostSummary)
def cost_summary(ctx: Ctx, conn: ReadConn) -> CostSummary:
    """Totals, reported vs estimated vs unknown, by model, agent, task type and project.

    The window defaults to the last 24 hours. Whole hours are summed from hourly cost
    rollups and the partial hours at either end from the calls themselves: exact totals.
    """
    until = ctx.scope.until or ctx.now
    since = ctx.scope.since or until - DEFAULT_COST_WINDOW
    raw = read.cost_summary(conn, replace(ctx.scope, since=since, until=until))
    return CostSummary.model_validate(
        {
            "since": since,
            "until": until,
            "total": raw["total"],
            **{name: raw[name] for name in read.COST_DIMENSIONS},
        }
    )


@router.get("/cost/timeseries", response_model=CostSeries)
def cost_timeseries(
    ctx: Ctx,
    conn: ReadConn,
    interval: Annotated[str, Query(description=f"Bucket size: {', '.join(INTERVALS)}")] = "1h",
    group_by: Annotated[str | None, Query(description="agent or model")] = None,
) -> CostSeries:
    """Cost per bucket (default window: the last 24 hours), optionally split."""
    if group_by is not None:
        check_choice(group_by, "group_by", ("agent", "model"))
    since, until, seconds = window(ctx, interval, DEFAULT_COST_WINDOW)
    points = cost_series.cost_timeseries(conn, ctx.scope, since, until, seconds, group_by)
    return CostSeries.model_validate(
        {
            "since": since,
            "until": until,
            "interval": interval,
            "group_by": group_by,
            "points": points,
        }
    )


@router.get("/llm-calls", response_model=Page[LlmCallOut])
def list_llm_calls(
    ctx: Ctx,
    conn: ReadConn,
    model: Annotated[str | None, Query(description="Comma-separated models")] = None,
    cost_source: Annotated[str | None, Query(description="reported, estimated, unknown")] = None,
    task_id: Annotated[str | None, Query(max_length=256)] = None,
    sort: Annotated[str, Query(description="time (default) or cost (dearest first)")] = "time",
) -> Page[LlmCallOut]:
    """Individual LLM calls; ``sort=cost`` is bounded to the last day unless ``since`` is set."""
    check_choice(sort, "sort", tuple(read_calls.SORTS))
    sources = choice_list(cost_source, "cost_source", read_calls.COST_SOURCES)
    scope = ctx.scope
    if sort == "cost" and scope.since is None:
        scope = replace(scope, since=(scope.until or ctx.now) - DEFAULT_COST_WINDOW)
    try:
        rows, next_cursor = read_calls.list_llm_calls(
            conn,
            scope,
            models=split_list(model),
            sources=sources,
            task_id=task_id,
            sort=sort,
            cursor=ctx.cursor,
            limit=ctx.limit,
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    items = [LlmCallOut.model_validate({**r, "timestamp": r["ts"]}) for r in rows]
    return Page[LlmCallOut](items=items, next_cursor=next_cursor)
