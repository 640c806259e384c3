"""Derived state per agent: the ``agents`` row, its status and its transitions.

Every "latest" value is guarded by a timestamp comparison (newest wins, ``min`` for
first-seen), so a retry that delivers older events later never moves an agent backwards.
The agent rows of a whole group of batches are locked first, in one statement and in
(tenant, agent) order (``FOR UPDATE`` on PostgreSQL; SQLite has one writer): that
serialises concurrent batches of one agent across processes without deadlocks.

A group is applied in two passes so that rows are written once per table, not once per
agent: ``prepare`` merges each agent's events (reading only what the batch cannot know:
its existing runs, actions and open runs) and queues the rows in a ``WriteBuffer``; after
the flush (new runs have ids then) ``finish`` works out the current task and the status
from what it already holds, without reading the runs back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.sql import Select

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
from hiveboard.storage.bulk import Bulk
from hiveboard.storage.derived_tasks import TaskEffects
from hiveboard.storage.tables import agent_status_transitions, agents, issues, task_runs
from hiveboard.storage.write_buffer import WriteBuffer

SHUTDOWN_KINDS = frozenset({"agent_shutdown", "shutdown"})
"""``custom`` payload kinds that report a clean shutdown (the agent shows offline at once)."""

MAX_OPEN_RUNS_CONSIDERED = 200

AgentKey = tuple[str, str]  # (tenant_id, agent_id)
Prices = Callable[[], dict[str, PriceOverride]]

_MUTABLE = [c.name for c in agents.columns if c.name not in ("tenant_id", "agent_id")]
_SELECT_AGENTS: Select[Any] = (
    select(agents)
    .where(
        agents.c.tenant_id == bindparam("tenant_id"),
        agents.c.agent_id.in_(bindparam("agent_ids", expanding=True)),
    )
    .order_by(agents.c.agent_id)
    .with_for_update()
)
# RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT here.
_INSERT_AGENTS = Bulk(
    lambda ins: (
        ins(agents)
        .on_conflict_do_nothing(index_elements=["tenant_id", "agent_id"])
        .returning(agents.c.tenant_id, agents.c.agent_id)
    )
)
_UPDATE_AGENTS = Bulk(
    lambda ins: (
        update(agents)
        .where(
            agents.c.tenant_id == bindparam("k_tenant"), agents.c.agent_id == bindparam("k_agent")
        )
        .values({c: bindparam(f"v_{c}") for c in _MUTABLE})
    )
)
_INSERT_TRANSITIONS = Bulk(lambda ins: agent_status_transitions.insert())
_R = task_runs.c
_OPEN_RUN_COLUMNS = (_R.id, _R.task_id, _R.task_run_id, _R.started_at, _R.first_event_at,
                     _R.last_event_at, _R.pending_approvals)  # fmt: skip
_OPEN_RUNS: Select[Any] = (
    select(*_OPEN_RUN_COLUMNS)
    .where(
        _R.tenant_id == bindparam("tenant_id"),
        _R.agent_id == bindparam("agent_id"),
        _R.ended_at.is_(None),
    )
    .order_by(_R.first_event_at.desc())
    .limit(bindparam("limit"))
)
_OPEN_RUNS_SINCE: Select[Any] = _OPEN_RUNS.where(_R.last_event_at >= bindparam("since"))
_OPEN_HIGH_ISSUES: Select[Any] = (
    select(func.count())
    .select_from(issues)
    .where(
        issues.c.tenant_id == bindparam("tenant_id"),
        issues.c.agent_id == bindparam("agent_id"),
        issues.c.state == "open",
        issues.c.severity.in_(("high", "critical")),
    )
)
_MARK_STUCK = (
    update(task_runs)
    .where(
        _R.tenant_id == bindparam("k_tenant"),
        _R.agent_id == bindparam("k_agent"),
        _R.ended_at.is_(None),
        _R.status != "stuck",  # keeps when each run went stuck
        _R.last_event_at <= bindparam("k_quiet"),
    )
    .values(status="stuck", stuck_since=bindparam("v_now"))
)


@dataclass
class _Pending:
    """One agent between the passes: its locked row, the changes so far, what to finish."""

    key: AgentKey
    agent: dict[str, Any]
    old_status: str | None
    now: datetime
    changes: dict[str, Any]
    tasks: TaskEffects
    open_rows: list[Any] | None = None  # stored open runs, when the current task may change
    registered_at: datetime | None = None


def apply_all(
    conn: Connection,
    work: dict[AgentKey, list[Event]],
    now_of: Mapping[AgentKey, datetime],
    prices_of: Callable[[str], Prices],
) -> dict[AgentKey, Transition]:
    """Apply every agent's new events (each list sorted by time); return the transitions."""
    locked = lock_agents(conn, {key: (evs[0], now_of[key]) for key, evs in work.items()})
    out = WriteBuffer()
    pending = [
        prepare(conn, key, work[key], now_of[key], prices_of(key[0]), *locked[key], out)
        for key in sorted(work)
    ]
    out.flush(conn)
    transitions: dict[AgentKey, Transition] = {}
    for p in pending:
        transition = finish(conn, p, out)
        if transition is not None:
            transitions[p.key] = transition
    out.flush(conn)
    return transitions


def lock_agents(
    conn: Connection, first: Mapping[AgentKey, tuple[Event, datetime]]
) -> dict[AgentKey, tuple[dict[str, Any], bool]]:
    """Lock (creating where missing) every agent row of ``first``; (row, is_new) per key.

    One ``SELECT … FOR UPDATE`` per tenant takes the existing rows in agent order; the
    missing ones are inserted (also in order) and built in Python rather than read back.
    An insert that lost a race with another process is locked by a second select.
    """
    out: dict[AgentKey, tuple[dict[str, Any], bool]] = {}
    for tenant_id in sorted({t for t, _ in first}):
        ids = sorted(a for t, a in first if t == tenant_id)
        out.update(_select_locked(conn, tenant_id, ids))
        missing = [a for a in ids if (tenant_id, a) not in out]
        if not missing:
            continue
        rows = [_new_agent_row(tenant_id, a, *first[(tenant_id, a)]) for a in missing]
        created = {a for _, a in _INSERT_AGENTS.execute(conn, rows)}
        for row in rows:
            if row["agent_id"] in created:
                out[(tenant_id, row["agent_id"])] = (row, True)
        lost = [a for a in missing if a not in created]
        if lost:
            out.update(_select_locked(conn, tenant_id, lost))
    return out


def lock_existing(conn: Connection, keys: set[AgentKey]) -> None:
    """Lock the stored rows among ``keys`` in (tenant, agent) order (no inserts)."""
    for tenant_id in sorted({t for t, _ in keys}):
        _select_locked(conn, tenant_id, sorted(a for t, a in keys if t == tenant_id))


def _select_locked(
    conn: Connection, tenant_id: str, agent_ids: list[str]
) -> dict[AgentKey, tuple[dict[str, Any], bool]]:
    rows = conn.execute(_SELECT_AGENTS, {"tenant_id": tenant_id, "agent_ids": agent_ids})
    return {(tenant_id, r["agent_id"]): (dict(r), False) for r in rows.mappings()}


def _new_agent_row(tenant_id: str, agent_id: str, first: Event, now: datetime) -> dict[str, Any]:
    """The row an insert creates, with the server defaults spelled out (no read-back)."""
    env = first.envelope
    return dict.fromkeys(_MUTABLE) | {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "agent_type": first.agent_type,
        "agent_version": env.agent_version,
        "framework": env.framework,
        "runtime": env.runtime,
        "sdk_version": env.sdk_version,
        "environment": env.environment,
        "group_name": env.group,
        "heartbeat_interval_s": DEFAULT_HEARTBEAT_INTERVAL_S,
        "stuck_threshold_s": DEFAULT_STUCK_THRESHOLD_S,
        "first_seen_at": first.ts,
        "last_seen_at": first.ts,
        "status": "idle",
        "status_since": now,
        "status_reason": "",
        "current_task_pending_approvals": 0,
        "open_high_issues": 0,
        "updated_at": now,
    }


def prepare(
    conn: Connection,
    key: AgentKey,
    evs: list[Event],
    now: datetime,
    prices: Prices,
    agent: dict[str, Any],
    is_new: bool,
    out: WriteBuffer,
) -> _Pending:
    """First pass for one agent: merge its events, queue derived rows in ``out``."""
    tenant_id, agent_id = key
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

    seen_before = None if is_new else agent["last_seen_at"]
    tasks = derived_tasks.apply(conn, tenant_id, agent_id, evs, prices, out, seen_before)
    pipeline = derived_pipeline.apply(conn, tenant_id, agent_id, evs, tasks, out)

    for ended_at, outcome, started_at in tasks.ended:
        current = changes.get("last_task_ended_at", agent["last_task_ended_at"])
        if current is None or ended_at >= current:
            changes.update(
                last_task_ended_at=ended_at,
                last_task_outcome=outcome,
                last_task_started_at=started_at,
            )
    if pipeline.issues_touched:
        changes["open_high_issues"] = int(
            conn.execute(
                _OPEN_HIGH_ISSUES, {"tenant_id": tenant_id, "agent_id": agent_id}
            ).scalar_one()
        )
    p = _Pending(key, agent, None if is_new else agent["status"], now, changes, tasks)
    if tasks.touched or registered:
        p.registered_at = changes.get("registered_at", agent["registered_at"])
        p.open_rows = _stored_open_runs(conn, key, p.registered_at, len(tasks.runs))
    return p


def _stored_open_runs(
    conn: Connection, key: AgentKey, since: datetime | None, touched: int
) -> list[Any]:
    """The agent's open runs as stored before this batch; the batch's own runs replace
    theirs in ``finish``, so ``touched`` more are read to still have enough after that."""
    params: dict[str, Any] = {"tenant_id": key[0], "agent_id": key[1]}
    params["limit"] = MAX_OPEN_RUNS_CONSIDERED + touched
    if since is None:
        return list(conn.execute(_OPEN_RUNS, params))
    return list(conn.execute(_OPEN_RUNS_SINCE, params | {"since": since}))


def finish(conn: Connection, p: _Pending, out: WriteBuffer) -> Transition | None:
    """Second pass, after the flush: current task, status, transition; rows to ``out``."""
    tenant_id, agent_id = p.key
    changes, now = p.changes, p.now
    if p.open_rows is not None:
        changes.update(_current_task(p.open_rows, p.tasks.runs, p.registered_at))
    merged = {**p.agent, **changes}
    facts = facts_from_row(merged)
    decision = agent_status(facts, now)
    transition = None
    reason = decision.reason[:512]
    if decision.status != p.old_status:
        changes.update(status=decision.status, status_since=now)
        if decision.status == "stuck":
            quiet_since = now - timedelta(seconds=facts.stuck_threshold_s)
            mark_tasks_stuck(conn, tenant_id, agent_id, quiet_since, now)
        transition = Transition(
            tenant_id=tenant_id,
            agent_id=agent_id,
            at=now,
            from_status=p.old_status,
            to_status=decision.status,
            reason=reason,
            environment=merged["environment"],
            group=merged["group_name"],
        )
        out.add(
            _INSERT_TRANSITIONS,
            {"tenant_id": tenant_id, "agent_id": agent_id, "at": now,
             "from_status": p.old_status, "to_status": decision.status, "reason": reason},
        )  # fmt: skip
    changes.update(status_reason=reason, updated_at=now)
    row = {**p.agent, **changes}
    out.add(
        _UPDATE_AGENTS,
        {"k_tenant": tenant_id, "k_agent": agent_id} | {f"v_{c}": row[c] for c in _MUTABLE},
    )
    return transition


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


def _current_task(
    stored: list[Any], runs: dict[tuple[str, str], dict[str, Any]], since: datetime | None
) -> dict[str, Any]:
    """What the status rules need from the agent's open runs since it last registered.

    An agent may run several tasks at once: the newest open run is its "current task",
    any open run waiting for approval makes it wait, and the open run that has gone
    longest without an event decides whether it is stuck. Runs left open by an earlier
    process (it died mid-task, then restarted and registered again) no longer count.

    ``stored`` are the open runs read before the batch was written; ``runs`` are the
    runs the batch loaded or created, as written (a run it ended is no longer open).
    """
    candidates = [r._mapping for r in stored if (r.task_id, r.task_run_id) not in runs]
    candidates += [
        r for r in runs.values()
        if r["ended_at"] is None and (since is None or r["last_event_at"] >= since)
    ]  # fmt: skip
    if not candidates:
        return {
            "current_task_run_pk": None,
            "current_task_id": None,
            "current_task_started_at": None,
            "current_task_last_event_at": None,
            "current_task_pending_approvals": 0,
        }
    candidates.sort(key=lambda r: r["first_event_at"], reverse=True)
    rows = candidates[:MAX_OPEN_RUNS_CONSIDERED]
    newest = rows[0]
    return {
        "current_task_run_pk": newest["id"],
        "current_task_id": newest["task_id"],
        "current_task_started_at": newest["started_at"] or newest["first_event_at"],
        "current_task_last_event_at": min(r["last_event_at"] for r in rows),
        "current_task_pending_approvals": sum(r["pending_approvals"] or 0 for r in rows),
    }


def facts_from_row(row: Mapping[Any, Any]) -> AgentFacts:
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
    """The agent is stuck: show its open runs that went quiet as stuck too."""
    conn.execute(
        _MARK_STUCK,
        {"k_tenant": tenant_id, "k_agent": agent_id, "k_quiet": quiet_since, "v_now": now},
    )
