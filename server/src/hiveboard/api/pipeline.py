"""``GET /v1/agents/{agent_id}/pipeline`` and ``GET /v1/pipeline``: what is queued and waiting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from hiveboard.api.read_common import ApiModel, Ctx, ReadConn, not_found
from hiveboard.storage.read import agents as read_agents
from hiveboard.storage.read import pipeline as read

router = APIRouter(prefix="/v1", tags=["pipeline"])


class QueueOut(ApiModel):
    ts: datetime
    depth: int
    oldest_age_seconds: float | None
    items: list[Any] | None
    processing: dict[str, Any] | None
    age_seconds: float | None
    stale: bool


class TodoOut(ApiModel):
    todo_id: str
    summary: str | None
    last_action: str
    priority: str | None
    source: str | None
    context: Any = None
    due_by: str | None
    created_at: datetime
    updated_at: datetime


class ScheduledOut(ApiModel):
    ts: datetime
    items: list[Any]


class IssueOut(ApiModel):
    agent_id: str
    issue_key: str
    issue_id: str | None
    summary: str | None
    severity: str
    category: str | None
    context: Any = None
    state: str
    occurrence_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    updated_at: datetime


class ApprovalOut(ApiModel):
    event_id: str
    kind: str
    agent_id: str
    task_id: str | None
    task_run_id: str | None
    summary: str | None
    payload: dict[str, Any] | None
    requested_at: datetime
    received_at: datetime | None
    received_event_id: str | None
    wait_ms: int
    state: str


class AgentPipeline(ApiModel):
    agent_id: str
    queue: QueueOut | None
    todos: list[TodoOut]
    scheduled: ScheduledOut | None
    issues: list[IssueOut]
    approvals: list[ApprovalOut]
    escalations: list[ApprovalOut]


class PipelineTotals(ApiModel):
    agent_id: str
    queue_depth: int | None
    queue_oldest_age_seconds: float | None
    queue_age_seconds: float | None
    queue_stale: bool
    open_todos: int
    open_issues: dict[str, int]
    pending_approvals: int
    open_escalations: int
    oldest_wait_seconds: float | None
    scheduled_items: int


class FleetPipeline(ApiModel):
    agents: list[PipelineTotals]


@router.get("/agents/{agent_id:path}/pipeline", response_model=AgentPipeline)
def agent_pipeline(agent_id: str, ctx: Ctx, conn: ReadConn) -> AgentPipeline:
    """One agent's latest queue, open TODOs, schedule, open issues and pending waits."""
    agent = read_agents.get_agent(conn, ctx.tenant_id, agent_id, ctx.now)
    if agent is None:
        raise not_found("agent", agent_id)
    return AgentPipeline.model_validate(read.agent_pipeline(conn, ctx.tenant_id, agent, ctx.now))


@router.get("/pipeline", response_model=FleetPipeline)
def fleet_pipeline(ctx: Ctx, conn: ReadConn) -> FleetPipeline:
    """Totals per agent: queue depth and age, TODOs, issues by severity, waits on humans."""
    return FleetPipeline.model_validate({"agents": read.fleet_pipeline(conn, ctx.scope, ctx.now)})
