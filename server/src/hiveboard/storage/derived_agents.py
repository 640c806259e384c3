"""Derived state per agent: the ``agents`` row, its status and its transitions.

Every "latest" value is guarded by a timestamp comparison (newest wins, ``min`` for
first-seen), so a retry that delivers older events later never moves an agent backwards.
The agent row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), which
serialises concurrent batches of one agent across processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, and_, func, select, update

from hiveboard.derive.cost import PriceOverride
from hiveboard.derive.status import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_STUCK_THRESHOLD_S,
    AgentFacts,
    agent_status,
)
from hiveboard.ingest.model import Event
from hiveboard.storage import derived_pipeline, derived_tasks
from hiveboard.storage.base import Transition
from hiveboard.storage.dialect import insert
from hiveboard.storage.tables import agent_status_transitions, agents, issues, task_runs

SHUTDOWN_KINDS = frozenset({"agent_shutdown", "shutdown"})
"""``custom`` payload kinds that report a clean shutdown (the agent shows offline at once)."""


class Prices(Protocol):
    def get(self) -> dict[str, PriceOverride]: ...


def apply(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    evs: list[Event],
    now: datetime,
    prices: Prices,
) -> Transition | None:
    """Apply one agent's new events (sorted by time); return the status transition, if any."""
    agent, is_new = _lock_agent(conn, tenant_id, agent_id, evs[0], now)
    old_status = None if is_new else agent["status"]
    changes: dict[str, Any] = {}

    def latest(column: str, value: Any) -> None:
        current = changes.get(column, agent[column])
        if value is not None and (current is None or value > current):
            changes[column] = value

    newest = evs[-1]
    if newest.ts >= agent["last_seen_at"]:
        env = newest.envelope
        changes.update(
            agent_type=newest.agent_type,
            agent_version=env.agent_version or agent["agent_version"],
            framework=env.framework or agent["framework"],
            runtime=env.runtime or agent["runtime"],
            sdk_version=env.sdk_version or agent["sdk_version"],
            environment=env.environment,
            group_name=env.group,
        )
    if evs[0].ts < agent["first_seen_at"]:
        changes["first_seen_at"] = evs[0].ts
    latest("last_seen_at", newest.ts)
    registered = False
    for ev in evs:
        if ev.event_type == "heartbeat":
            latest("last_heartbeat_at", ev.ts)
        elif ev.event_type == "agent_registered":
            current = changes.get("registered_at", agent["registered_at"])
            if current is None or ev.ts >= current:
                changes.update(_registration(ev))
                registered = True
        elif ev.event_type == "custom" and ev.payload_kind in SHUTDOWN_KINDS:
            latest("shutdown_at", ev.ts)

    tasks = derived_tasks.apply(conn, tenant_id, agent_id, evs, prices.get)
    pipeline = derived_pipeline.apply(conn, tenant_id, agent_id, evs, tasks)

    for ended_at, outcome, started_at in tasks.ended:
        current = changes.get("last_task_ended_at", agent["last_task_ended_at"])
        if current is None or ended_at >= current:
            changes.update(
                last_task_ended_at=ended_at,
                last_task_outcome=outcome,
                last_task_started_at=started_at,
            )
    if tasks.touched or registered:
        registered_at = changes.get("registered_at", agent["registered_at"])
        changes.update(_current_task(conn, tenant_id, agent_id, registered_at))
    if pipeline.issues_touched:
        changes["open_high_issues"] = _open_high_issues(conn, tenant_id, agent_id)

    merged = {**agent, **changes}
    facts = facts_from_row(merged)
    decision = agent_status(facts, now)
    transition = None
    if decision.status != old_status:
        changes.update(status=decision.status, status_since=now)
        if decision.status == "stuck":
            quiet_since = now - timedelta(seconds=facts.stuck_threshold_s)
            mark_tasks_stuck(conn, tenant_id, agent_id, quiet_since, now)
        transition = Transition(
            tenant_id=tenant_id,
            agent_id=agent_id,
            at=now,
            from_status=old_status,
            to_status=decision.status,
            reason=decision.reason[:512],
            environment=merged["environment"],
            group=merged["group_name"],
        )
        conn.execute(
            agent_status_transitions.insert().values(
                tenant_id=tenant_id,
                agent_id=agent_id,
                at=now,
                from_status=old_status,
                to_status=decision.status,
                reason=transition.reason,
            )
        )
    changes.update(status_reason=decision.reason[:512], updated_at=now)
    conn.execute(
        update(agents)
        .where(agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id)
        .values(**changes)
    )
    return transition


def _lock_agent(
    conn: Connection, tenant_id: str, agent_id: str, first: Event, now: datetime
) -> tuple[dict[str, Any], bool]:
    env = first.envelope
    created = conn.execute(
        insert(conn, agents)
        .values(
            tenant_id=tenant_id,
            agent_id=agent_id,
            agent_type=first.agent_type,
            agent_version=env.agent_version,
            framework=env.framework,
            runtime=env.runtime,
            sdk_version=env.sdk_version,
            environment=env.environment,
            group_name=env.group,
            first_seen_at=first.ts,
            last_seen_at=first.ts,
            status="idle",
            status_since=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "agent_id"])
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT here.
        .returning(agents.c.agent_id)
    ).first()
    row = (
        conn.execute(
            select(agents)
            .where(agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id)
            .with_for_update()
        )
        .mappings()
        .one()
    )
    return dict(row), created is not None


def _registration(ev: Event) -> dict[str, Any]:
    data = ev.data
    out: dict[str, Any] = {"registered_at": ev.ts}
    for key, column in (("type", "agent_type"), ("version", "agent_version")):
        if isinstance(data.get(key), str) and data[key]:
            out[column] = data[key][:256]
    if isinstance(data.get("framework"), str) and data["framework"]:
        out["framework"] = data["framework"][:256]
    out["stuck_threshold_s"] = _positive(data.get("stuck_threshold"), DEFAULT_STUCK_THRESHOLD_S)
    out["heartbeat_interval_s"] = _positive(
        data.get("heartbeat_interval"), DEFAULT_HEARTBEAT_INTERVAL_S
    )
    return out


def _positive(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


MAX_OPEN_RUNS_CONSIDERED = 200


def _current_task(
    conn: Connection, tenant_id: str, agent_id: str, registered_at: datetime | None
) -> dict[str, Any]:
    """What the status rules need from the agent's open runs since it last registered.

    An agent may run several tasks at once: the newest open run is its "current task",
    any open run waiting for approval makes it wait, and the open run that has gone
    longest without an event decides whether it is stuck. Runs left open by an earlier
    process (it died mid-task, then restarted and registered again) no longer count.
    """
    cond = [
        task_runs.c.tenant_id == tenant_id,
        task_runs.c.agent_id == agent_id,
        task_runs.c.ended_at.is_(None),
    ]
    if registered_at is not None:
        cond.append(task_runs.c.last_event_at >= registered_at)
    rows = conn.execute(
        select(
            task_runs.c.id,
            task_runs.c.task_id,
            task_runs.c.started_at,
            task_runs.c.first_event_at,
            task_runs.c.last_event_at,
            task_runs.c.pending_approvals,
        )
        .where(and_(*cond))
        .order_by(task_runs.c.first_event_at.desc())
        .limit(MAX_OPEN_RUNS_CONSIDERED)
    ).all()
    if not rows:
        return {
            "current_task_run_pk": None,
            "current_task_id": None,
            "current_task_started_at": None,
            "current_task_last_event_at": None,
            "current_task_pending_approvals": 0,
        }
    newest = rows[0]
    return {
        "current_task_run_pk": newest.id,
        "current_task_id": newest.task_id,
        "current_task_started_at": newest.started_at or newest.first_event_at,
        "current_task_last_event_at": min(r.last_event_at for r in rows),
        "current_task_pending_approvals": sum(r.pending_approvals or 0 for r in rows),
    }


def _open_high_issues(conn: Connection, tenant_id: str, agent_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(issues)
            .where(
                issues.c.tenant_id == tenant_id,
                issues.c.agent_id == agent_id,
                issues.c.state == "open",
                issues.c.severity.in_(("high", "critical")),
            )
        ).scalar_one()
    )


def facts_from_row(row: Mapping[str, Any]) -> AgentFacts:
    """The status inputs stored on an ``agents`` row."""
    return AgentFacts(
        last_seen_at=row["last_seen_at"],
        stuck_threshold_s=row["stuck_threshold_s"],
        shutdown_at=row["shutdown_at"],
        open_task_id=row["current_task_id"],
        open_task_started_at=row["current_task_started_at"],
        open_task_last_event_at=row["current_task_last_event_at"],
        open_task_pending_approvals=row["current_task_pending_approvals"] or 0,
        last_task_outcome=row["last_task_outcome"],
        last_task_ended_at=row["last_task_ended_at"],
        open_high_issues=row["open_high_issues"] or 0,
    )


def mark_tasks_stuck(
    conn: Connection, tenant_id: str, agent_id: str, quiet_since: datetime, now: datetime
) -> None:
    """The detector found the agent stuck: show its open runs that went quiet as stuck too."""
    conn.execute(
        update(task_runs)
        .where(
            task_runs.c.tenant_id == tenant_id,
            task_runs.c.agent_id == agent_id,
            task_runs.c.ended_at.is_(None),
            task_runs.c.last_event_at <= quiet_since,
        )
        .values(status="stuck", stuck_since=now)
    )
