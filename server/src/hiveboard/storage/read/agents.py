"""Agents: the fleet list, one agent, its status history and its last-hour figures.

Status is read from the ``agents`` row, which ingest and the background detector keep
current; heartbeat age is computed against the request's ``now`` so it is never stale.
Per-agent hour statistics come from the minute rollups of the page's agents only, so the
cost of a page does not grow with the fleet or with history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from hiveboard.storage.read.filters import Scope, one_of, where_scope
from hiveboard.storage.read.pagination import Keyset
from hiveboard.storage.tables import (
    agent_status_transitions,
    agents,
    issues,
    queue_snapshots,
    rollups,
    task_runs,
)

ATTENTION_ORDER = ("stuck", "error", "waiting_approval", "processing", "idle", "offline")
"""The fleet's "needs a human first" order (hiveboard.md, Fleet screen)."""

_attention = case(
    {status: rank for rank, status in enumerate(ATTENTION_ORDER)},
    value=agents.c.status,
    else_=len(ATTENTION_ORDER),
)

BY_ID = Keyset("agents:id", (agents.c.agent_id,), descending=False)
BY_ATTENTION = Keyset(
    "agents:attention",
    (_attention, agents.c.agent_id),
    descending=False,
    keys=("attention", "agent_id"),
)


def list_agents(
    conn: Connection,
    scope: Scope,
    *,
    statuses: list[str] | None,
    sort: str,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of agents with their hour statistics, queue depth and open issue count."""
    keyset = BY_ATTENTION if sort == "attention" else BY_ID
    query = select(agents, _attention.label("attention"))
    # The time range does not apply to the fleet: an agent exists until it is deleted.
    query = where_scope(query, agents, _without_time(scope), project=False)
    if (cond := one_of(agents.c.status, statuses)) is not None:
        query = query.where(cond)
    rows = conn.execute(keyset.page(query, cursor, limit)).all()
    page, next_cursor = keyset.split(rows, limit)
    items = [dict(r._mapping) for r in page]
    _decorate(conn, scope.tenant_id, items, now)
    return items, next_cursor


def get_agent(
    conn: Connection, tenant_id: str, agent_id: str, now: datetime
) -> dict[str, Any] | None:
    """One agent of ``tenant_id`` (None when absent, including another tenant's)."""
    row = conn.execute(
        select(agents).where(agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id)
    ).first()
    if row is None:
        return None
    item = dict(row._mapping)
    _decorate(conn, tenant_id, [item], now)
    return item


def status_history(
    conn: Connection, tenant_id: str, agent_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """The agent's newest status transitions, newest first."""
    t = agent_status_transitions
    rows = conn.execute(
        select(t.c.id, t.c.at, t.c.from_status, t.c.to_status, t.c.reason)
        .where(t.c.tenant_id == tenant_id, t.c.agent_id == agent_id)
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(limit)
    ).all()
    return [dict(r._mapping) for r in rows]


def current_run(conn: Connection, tenant_id: str, run_pk: int | None) -> dict[str, Any] | None:
    """The task run an agent is working on, from the pointer the write side keeps."""
    if run_pk is None:
        return None
    row = conn.execute(
        select(task_runs).where(task_runs.c.tenant_id == tenant_id, task_runs.c.id == run_pk)
    ).first()
    return dict(row._mapping) if row else None


def hour_stats(
    conn: Connection, tenant_id: str, agent_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Last-hour counters per agent, summed from the minute rollups.

    Only the given agents' rows: the fleet rows (agent "") are never among them.
    """
    if not agent_ids:
        return {}
    r = rollups
    rows = conn.execute(
        select(
            r.c.agent_id,
            func.sum(r.c.events).label("events"),
            func.sum(r.c.errors).label("errors"),
            func.sum(r.c.tasks_completed).label("tasks_completed"),
            func.sum(r.c.tasks_failed).label("tasks_failed"),
            func.sum(r.c.task_duration_ms_sum).label("duration_sum"),
            func.sum(r.c.task_duration_count).label("duration_count"),
            func.sum(r.c.llm_calls).label("llm_calls"),
            func.sum(r.c.tokens_in).label("tokens_in"),
            func.sum(r.c.tokens_out).label("tokens_out"),
            func.sum(r.c.cost_usd).label("cost_usd"),
            func.sum(r.c.cost_unknown_calls).label("cost_unknown_calls"),
        )
        .where(
            r.c.tenant_id == tenant_id,
            r.c.agent_id.in_(list(agent_ids)),
            r.c.bucket >= now - timedelta(hours=1),
        )
        .group_by(r.c.agent_id)
    ).all()
    return {row.agent_id: dict(row._mapping) for row in rows}


def _decorate(conn: Connection, tenant_id: str, items: list[dict[str, Any]], now: datetime) -> None:
    """Add heartbeat age, hour stats, queue depth and open issues to agent rows in place."""
    ids = [item["agent_id"] for item in items]
    stats = hour_stats(conn, tenant_id, ids, now)
    depth: dict[str, int] = {}
    open_issues: dict[str, int] = {}
    if ids:
        q = queue_snapshots
        for row in conn.execute(
            select(q.c.agent_id, q.c.depth).where(q.c.tenant_id == tenant_id, q.c.agent_id.in_(ids))
        ):
            depth[row.agent_id] = row.depth
        i = issues
        for row in conn.execute(
            select(i.c.agent_id, func.count().label("n"))
            .where(i.c.tenant_id == tenant_id, i.c.state == "open", i.c.agent_id.in_(ids))
            .group_by(i.c.agent_id)
        ):
            open_issues[row.agent_id] = int(row.n)
    for item in items:
        beat = item.get("last_heartbeat_at")
        item["heartbeat_age_seconds"] = (now - beat).total_seconds() if beat else None
        item["queue_depth"] = depth.get(item["agent_id"])
        item["open_issues"] = open_issues.get(item["agent_id"], 0)
        item["stats_1h"] = _stats(stats.get(item["agent_id"]))


def _stats(raw: dict[str, Any] | None) -> dict[str, Any]:
    raw = raw or {}
    completed = int(raw.get("tasks_completed") or 0)
    failed = int(raw.get("tasks_failed") or 0)
    count = int(raw.get("duration_count") or 0)
    return {
        "events": int(raw.get("events") or 0),
        "errors": int(raw.get("errors") or 0),
        "tasks_completed": completed,
        "tasks_failed": failed,
        "success_rate": completed / (completed + failed) if completed + failed else None,
        "avg_duration_ms": (raw.get("duration_sum") or 0) / count if count else None,
        "llm_calls": int(raw.get("llm_calls") or 0),
        "tokens_in": int(raw.get("tokens_in") or 0),
        "tokens_out": int(raw.get("tokens_out") or 0),
        "cost_usd": float(raw.get("cost_usd") or 0.0),
        "cost_unknown_calls": int(raw.get("cost_unknown_calls") or 0),
    }


def _without_time(scope: Scope) -> Scope:
    return Scope(
        tenant_id=scope.tenant_id,
        environment=scope.environment,
        group=scope.group,
        agent_id=scope.agent_id,
    )
