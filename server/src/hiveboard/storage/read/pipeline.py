"""Pipeline and humans: queues, TODOs, scheduled work, issues, approvals, escalations.

All of it is read from the small "latest state" tables the write side keeps (one row
per agent queue, per TODO, per issue, per approval), so none of these reads touch events.
Ages and wait times are computed against the request's ``now``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from hiveboard.storage.read.filters import Scope, one_of, where_scope
from hiveboard.storage.read.pagination import Keyset
from hiveboard.storage.tables import (
    agents,
    approvals,
    issues,
    queue_snapshots,
    scheduled_items,
    todos,
)

ISSUES_BY_LAST_SEEN = Keyset(
    "issues:last_seen", (issues.c.last_seen_at, issues.c.agent_id, issues.c.issue_key)
)
APPROVALS_BY_REQUEST = Keyset(
    "approvals:requested", (approvals.c.requested_at, approvals.c.event_id)
)
OPEN_APPROVAL_STATES = ("pending", "open")
"""States of an approval or escalation that still waits on a human."""
APPROVAL_KINDS = ("approval", "escalation")
APPROVAL_STATES = ("pending", "received", "expired", "open", "closed")
"""What ``storage.derived_approvals`` records: an approval request is ``pending`` until
``received`` (``expired`` when its run ended first); an escalation is ``open`` until its
run ends (``closed``)."""


def _age(now: datetime, then: datetime | None) -> float | None:
    return (now - then).total_seconds() if then else None


def _queue(row: Any, heartbeat_interval_s: float, now: datetime) -> dict[str, Any]:
    item = dict(row._mapping)
    age = _age(now, item["ts"])
    item["age_seconds"] = age
    # hiveboard.md: a snapshot older than two heartbeats no longer describes the queue.
    item["stale"] = age is not None and age > 2 * heartbeat_interval_s
    return item


def agent_pipeline(
    conn: Connection, tenant_id: str, agent: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Queue, open TODOs, schedule, open issues and pending approvals of one agent."""
    agent_id = agent["agent_id"]
    q = queue_snapshots
    queue_row = conn.execute(
        select(q.c.ts, q.c.depth, q.c.oldest_age_seconds, q.c["items"], q.c.processing).where(
            q.c.tenant_id == tenant_id, q.c.agent_id == agent_id
        )
    ).first()
    td = todos
    open_todos = [
        dict(r._mapping)
        for r in conn.execute(
            select(td)
            .where(td.c.tenant_id == tenant_id, td.c.agent_id == agent_id, td.c.is_open.is_(True))
            .order_by(td.c.created_at)
            .limit(500)
        )
    ]
    s = scheduled_items
    sched = conn.execute(
        select(s.c.ts, s.c["items"]).where(s.c.tenant_id == tenant_id, s.c.agent_id == agent_id)
    ).first()
    i = issues
    open_issues = [
        dict(r._mapping)
        for r in conn.execute(
            select(i)
            .where(i.c.tenant_id == tenant_id, i.c.agent_id == agent_id, i.c.state == "open")
            .order_by(i.c.last_seen_at.desc())
            .limit(500)
        )
    ]
    pending = [
        _approval(r, now)
        for r in conn.execute(
            select(approvals)
            .where(
                approvals.c.tenant_id == tenant_id,
                approvals.c.agent_id == agent_id,
                approvals.c.state.in_(OPEN_APPROVAL_STATES),
            )
            .order_by(approvals.c.requested_at)
            .limit(500)
        )
    ]
    return {
        "agent_id": agent_id,
        "queue": _queue(queue_row, agent["heartbeat_interval_s"], now) if queue_row else None,
        "todos": open_todos,
        "scheduled": {"ts": sched.ts, "items": sched.items or []} if sched else None,
        "issues": open_issues,
        "approvals": [p for p in pending if p["kind"] == "approval"],
        "escalations": [p for p in pending if p["kind"] != "approval"],
    }


def fleet_pipeline(conn: Connection, scope: Scope, now: datetime) -> list[dict[str, Any]]:
    """Per-agent totals: queue depth and oldest age, open TODOs, issues by severity, waits."""
    a = agents
    query = where_scope(
        select(a.c.agent_id, a.c.heartbeat_interval_s),
        a,
        replace(scope, since=None, until=None, project_id=None),
        project=False,
    )
    rows: dict[str, dict[str, Any]] = {}
    for r in conn.execute(query.order_by(a.c.agent_id)):
        rows[r.agent_id] = {
            "agent_id": r.agent_id,
            "queue_depth": None,
            "queue_oldest_age_seconds": None,
            "queue_age_seconds": None,
            "queue_stale": False,
            "open_todos": 0,
            "open_issues": {},
            "pending_approvals": 0,
            "open_escalations": 0,
            "oldest_wait_seconds": None,
            "scheduled_items": 0,
            "_hb": r.heartbeat_interval_s,
        }
    if not rows:
        return []
    ids = list(rows)
    q = queue_snapshots
    for r in conn.execute(select(q).where(q.c.tenant_id == scope.tenant_id, q.c.agent_id.in_(ids))):
        item = rows[r.agent_id]
        item["queue_depth"] = r.depth
        item["queue_oldest_age_seconds"] = r.oldest_age_seconds
        item["queue_age_seconds"] = _age(now, r.ts)
        item["queue_stale"] = (item["queue_age_seconds"] or 0) > 2 * item["_hb"]
    td = todos
    for r in conn.execute(
        select(td.c.agent_id, func.count().label("n"))
        .where(td.c.tenant_id == scope.tenant_id, td.c.is_open.is_(True), td.c.agent_id.in_(ids))
        .group_by(td.c.agent_id)
    ):
        rows[r.agent_id]["open_todos"] = int(r.n)
    i = issues
    for r in conn.execute(
        select(i.c.agent_id, i.c.severity, func.count().label("n"))
        .where(i.c.tenant_id == scope.tenant_id, i.c.state == "open", i.c.agent_id.in_(ids))
        .group_by(i.c.agent_id, i.c.severity)
    ):
        rows[r.agent_id]["open_issues"][r.severity] = int(r.n)
    ap = approvals
    for r in conn.execute(
        select(
            ap.c.agent_id,
            ap.c.kind,
            func.count().label("n"),
            func.min(ap.c.requested_at).label("oldest"),
        )
        .where(
            ap.c.tenant_id == scope.tenant_id,
            ap.c.state.in_(OPEN_APPROVAL_STATES),
            ap.c.agent_id.in_(ids),
        )
        .group_by(ap.c.agent_id, ap.c.kind)
    ):
        item = rows[r.agent_id]
        item["pending_approvals" if r.kind == "approval" else "open_escalations"] += int(r.n)
        wait = _age(now, r.oldest)
        if wait is not None and (item["oldest_wait_seconds"] or 0) < wait:
            item["oldest_wait_seconds"] = wait
    s = scheduled_items
    for r in conn.execute(
        select(s.c.agent_id, s.c["items"]).where(
            s.c.tenant_id == scope.tenant_id, s.c.agent_id.in_(ids)
        )
    ):
        rows[r.agent_id]["scheduled_items"] = len(r.items or [])
    for item in rows.values():
        item.pop("_hb")
    return list(rows.values())


def list_issues(
    conn: Connection,
    scope: Scope,
    *,
    states: list[str] | None,
    severities: list[str] | None,
    category: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Issues, most recently seen first; the time range applies to ``last_seen_at``."""
    i = issues
    query = where_scope(select(i), i, scope, time_column=i.c.last_seen_at, project=False)
    for cond in (
        one_of(i.c.state, states),
        one_of(i.c.severity, severities),
        i.c.category == category if category is not None else None,
    ):
        if cond is not None:
            query = query.where(cond)
    rows = conn.execute(ISSUES_BY_LAST_SEEN.page(query, cursor, limit)).all()
    page, next_cursor = ISSUES_BY_LAST_SEEN.split(rows, limit)
    return [dict(r._mapping) for r in page], next_cursor


def _approval(row: Any, now: datetime) -> dict[str, Any]:
    item = dict(row._mapping)
    if item.get("wait_ms") is None:
        # Still waiting: the wait so far, so the oldest pending request stands out.
        item["wait_ms"] = round((now - item["requested_at"]).total_seconds() * 1000)
    return item


def list_approvals(
    conn: Connection,
    scope: Scope,
    *,
    kinds: list[str] | None,
    states: list[str] | None,
    task_id: str | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], str | None]:
    """Approvals and escalations, newest request first, with their wait times."""
    ap = approvals
    query = where_scope(select(ap), ap, scope, time_column=ap.c.requested_at, project=False)
    for cond in (
        one_of(ap.c.kind, kinds),
        one_of(ap.c.state, states),
        ap.c.task_id == task_id if task_id is not None else None,
    ):
        if cond is not None:
            query = query.where(cond)
    rows = conn.execute(APPROVALS_BY_REQUEST.page(query, cursor, limit)).all()
    page, next_cursor = APPROVALS_BY_REQUEST.split(rows, limit)
    return [_approval(r, now) for r in page], next_cursor
