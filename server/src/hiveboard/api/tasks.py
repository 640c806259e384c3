"""``GET /v1/tasks`` and ``GET /v1/tasks/{task_id}/timeline``: runs and one run's story."""

from __future__ import annotations

from dataclasses import replace as replace_scope
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hiveboard.api.read_common import (
    ApiModel,
    Ctx,
    Page,
    ReadConn,
    bad_cursor,
    check_choice,
    choice_list,
    not_found,
    split_list,
)
from hiveboard.derive.timeline import build_timeline
from hiveboard.storage.read import tasks as read
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["tasks"])

UNINDEXED_SORT_WINDOW = timedelta(days=1)
"""Sorting by duration or cost reads the whole window: bound it when the client did not."""


class TaskRun(ApiModel):
    agent_id: str
    task_id: str
    task_run_id: str
    project_id: str | None
    task_type: str | None
    correlation_id: str | None
    environment: str
    group: str
    status: str
    started_at: datetime | None
    first_event_at: datetime
    last_event_at: datetime
    ended_at: datetime | None
    duration_ms: int | None
    escalated_at: datetime | None
    pending_approvals: int
    exception_type: str | None
    exception_message: str | None
    llm_call_count: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_unknown_calls: int
    action_count: int
    error_count: int
    event_count: int


class LlmCallNode(ApiModel):
    event_id: str
    timestamp: datetime
    offset_ms: int
    action_id: str | None
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
    summary: str | None


class ActionNode(ApiModel):
    action_id: str
    parent_action_id: str | None
    name: str | None
    started_at: datetime | None
    ended_at: datetime | None
    offset_ms: int
    duration_ms: int | None
    status: str
    exception_type: str | None
    exception_message: str | None
    children: list[ActionNode]
    llm_calls: list[LlmCallNode]
    event_ids: list[str]


class PlanStepOut(ApiModel):
    index: int
    description: str | None
    state: str
    updated_at: datetime | None
    turns: int | None
    tokens: int | None


class PlanRevisionOut(ApiModel):
    revision: int
    created_at: datetime
    steps: list[PlanStepOut]
    completed: int
    total: int


class PlanOut(ApiModel):
    current: PlanRevisionOut
    earlier: list[PlanRevisionOut]


class LinkOut(ApiModel):
    event_id: str
    event_type: str
    timestamp: datetime
    action_id: str | None
    summary: str | None
    follows_event_id: str | None
    follows_event_type: str | None
    follows_summary: str | None


class ApprovalOut(ApiModel):
    requested_event_id: str
    requested_at: datetime
    action_id: str | None
    summary: str | None
    received_event_id: str | None
    received_at: datetime | None
    wait_ms: int
    status: str
    decision: str | None


class FailureOut(ApiModel):
    event_id: str
    timestamp: datetime
    action_id: str | None
    action_path: list[str]
    exception_type: str | None
    exception_message: str | None


class TimelineEventOut(ApiModel):
    event_id: str
    timestamp: datetime
    event_type: str
    severity: str | None
    action_id: str | None
    parent_event_id: str | None
    status: str | None
    duration_ms: int | None
    kind: str | None
    summary: str | None
    payload: dict[str, Any] | None


class RunRef(ApiModel):
    task_run_id: str
    agent_id: str
    status: str
    first_event_at: datetime
    duration_ms: int | None


class TaskTimeline(ApiModel):
    run: TaskRun
    runs: list[RunRef]
    """Other runs of the same task id, newest first (select one with ``?run=``)."""
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_ms: int | None
    actions: list[ActionNode]
    llm_calls: list[LlmCallNode]
    plan: PlanOut | None
    links: list[LinkOut]
    approvals: list[ApprovalOut]
    failure: FailureOut | None
    total_cost_usd: float | None
    llm_call_count: int
    event_count: int
    events: list[TimelineEventOut]
    truncated: bool


def _with_group(row: dict[str, Any]) -> dict[str, Any]:
    row["group"] = row.get("group_name")
    return row


@router.get("/tasks", response_model=Page[TaskRun])
def list_tasks(
    ctx: Ctx,
    conn: ReadConn,
    status: Annotated[
        str | None, Query(description=f"Comma-separated: {', '.join(read.RUN_STATUSES)}")
    ] = None,
    type: Annotated[str | None, Query(description="Comma-separated task types")] = None,
    task_id: Annotated[str | None, Query(max_length=256)] = None,
    q: Annotated[
        str | None, Query(max_length=256, description="Search: task ids starting with this")
    ] = None,
    sort: Annotated[str, Query(description="started (default), duration or cost")] = "started",
) -> Page[TaskRun]:
    """Task runs, newest first, or longest/dearest first within the time range."""
    check_choice(sort, "sort", tuple(read.SORTS))
    statuses = choice_list(status, "status", read.RUN_STATUSES)
    scope = ctx.scope
    if sort != "started" and scope.since is None:
        scope = replace_scope(scope, since=(scope.until or ctx.now) - UNINDEXED_SORT_WINDOW)
    try:
        rows, next_cursor = read.list_task_runs(
            conn,
            scope,
            statuses=statuses,
            task_types=split_list(type),
            task_id=task_id,
            task_id_prefix=q,
            sort=sort,
            cursor=ctx.cursor,
            limit=ctx.limit,
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    return Page[TaskRun](
        items=[TaskRun.model_validate(_with_group(r)) for r in rows], next_cursor=next_cursor
    )


@router.get("/tasks/{task_id:path}/timeline", response_model=TaskTimeline)
def task_timeline(
    task_id: str,
    ctx: Ctx,
    conn: ReadConn,
    run: Annotated[str | None, Query(description="task_run_id; default: the latest run")] = None,
) -> TaskTimeline:
    """One run's action tree with LLM calls, plan, retries, approvals and failure."""
    runs = read.runs_of_task(conn, ctx.tenant_id, task_id, ctx.scope.agent_id)
    if run is not None:
        chosen = next((r for r in runs if r["task_run_id"] == run), None)
        chosen = chosen or read.find_run(conn, ctx.tenant_id, task_id, run, ctx.scope.agent_id)
        if chosen is None:
            raise not_found("task run", f"{task_id}/{run}")
    elif runs:
        chosen = runs[0]
    else:
        raise not_found("task", task_id)
    events, truncated = read.run_events(conn, ctx.tenant_id, chosen)
    timeline = build_timeline(
        events, now=ctx.now, llm_costs=read.run_llm_costs(conn, ctx.tenant_id, chosen)
    )
    body: dict[str, Any] = {
        **{k: getattr(timeline, k) for k in TaskTimeline.model_fields if hasattr(timeline, k)},
        "run": _with_group(chosen),
        "runs": runs,
        "truncated": truncated,
        "events": [
            {**ev.__dict__, "kind": ev.kind, "summary": ev.summary, "payload": ev.payload}
            for ev in events
        ],
    }
    # The stored run is authoritative for status (the detector may have marked it stuck).
    body["status"] = chosen["status"]
    return TaskTimeline.model_validate(body)
