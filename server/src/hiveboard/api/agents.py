"""``GET /v1/agents`` and ``GET /v1/agents/{agent_id}``: the fleet and one agent."""

from __future__ import annotations

from datetime import datetime
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
)
from hiveboard.derive.status import AGENT_STATUSES
from hiveboard.storage.read import agents as read
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["agents"])


class HourStats(ApiModel):
    events: int
    errors: int
    tasks_completed: int
    tasks_failed: int
    success_rate: float | None
    avg_duration_ms: float | None
    llm_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_unknown_calls: int  # calls with no price, left out of cost_usd: never a silent zero


class AgentSummary(ApiModel):
    agent_id: str
    agent_type: str
    agent_version: str | None
    framework: str | None
    runtime: str | None
    sdk_version: str | None
    environment: str
    group: str
    status: str
    status_since: datetime
    status_reason: str
    heartbeat_interval_s: float
    stuck_threshold_s: float
    first_seen_at: datetime
    last_seen_at: datetime
    last_heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None
    current_task_id: str | None
    current_task_started_at: datetime | None
    last_task_outcome: str | None
    last_task_ended_at: datetime | None
    queue_depth: int | None
    open_issues: int
    stats_1h: HourStats


class StatusChange(ApiModel):
    id: int
    at: datetime
    from_status: str | None
    to_status: str
    reason: str


class CurrentTask(ApiModel):
    task_id: str
    task_run_id: str
    task_type: str | None
    project_id: str | None
    status: str
    started_at: datetime | None
    last_event_at: datetime
    llm_call_count: int
    cost_usd: float


class AgentDetail(AgentSummary):
    current_task: CurrentTask | None
    status_history: list[StatusChange]


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    row["group"] = row.get("group_name")
    return row


@router.get("/agents", response_model=Page[AgentSummary])
def list_agents(
    ctx: Ctx,
    conn: ReadConn,
    status: Annotated[
        str | None, Query(description=f"Comma-separated: {', '.join(AGENT_STATUSES)}")
    ] = None,
    sort: Annotated[
        str, Query(description="agent_id, or attention (stuck, error, waiting first)")
    ] = "agent_id",
) -> Page[AgentSummary]:
    """Agents with derived status, heartbeat age, current task and last-hour figures."""
    check_choice(sort, "sort", ("agent_id", "attention"))
    try:
        rows, next_cursor = read.list_agents(
            conn,
            ctx.scope,
            statuses=choice_list(status, "status", AGENT_STATUSES),
            sort=sort,
            cursor=ctx.cursor,
            limit=ctx.limit,
            now=ctx.now,
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    return Page[AgentSummary](
        items=[AgentSummary.model_validate(_summary(r)) for r in rows], next_cursor=next_cursor
    )


@router.get("/agents/{agent_id:path}", response_model=AgentDetail)
def get_agent(
    agent_id: str,
    ctx: Ctx,
    conn: ReadConn,
    history: Annotated[int, Query(ge=0, le=1000, description="Transitions to include")] = 100,
) -> AgentDetail:
    """One agent, with its current task and its status history (newest first)."""
    row = read.get_agent(conn, ctx.tenant_id, agent_id, ctx.now)
    if row is None:
        raise not_found("agent", agent_id)
    row = _summary(row)
    row["current_task"] = read.current_run(conn, ctx.tenant_id, row.get("current_task_run_pk"))
    row["status_history"] = read.status_history(conn, ctx.tenant_id, agent_id, history)
    return AgentDetail.model_validate(row)
