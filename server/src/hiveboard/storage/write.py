"""The ingest transaction: store raw events once, then apply them to derived state.

``apply_batches`` runs inside the caller's write transaction, so the raw rows and every
derived change commit together or not at all: a crash can lose an unacknowledged batch,
never half of one. Idempotency comes from the unique (tenant_id, event_id) index: only
rows the INSERT actually created are applied, so a retried batch is stored once and
applied once. Several concurrent requests may be applied as one group (``GroupWriter``):
one statement per table for all of them is what makes ingest fast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from hiveboard.derive.cost import PriceOverride
from hiveboard.derive.status import StatusDecision
from hiveboard.ingest.model import Batch, Event
from hiveboard.storage import derived_agents
from hiveboard.storage.base import AgentState, IngestResult, Transition
from hiveboard.storage.bulk import Bulk
from hiveboard.storage.derived_agents import AgentKey
from hiveboard.storage.tables import agent_status_transitions, agents, events, price_overrides


def apply_batch(conn: Connection, tenant_id: str, batch: Batch, now: datetime) -> IngestResult:
    """Insert the batch's events (skipping known ids) and apply the new ones."""
    return apply_batches(conn, [(tenant_id, batch, now)])[0]


def apply_batches(
    conn: Connection, items: Sequence[tuple[str, Batch, datetime]]
) -> list[IngestResult]:
    """Apply several batches (tenant, batch, now) in the caller's transaction, as one.

    One INSERT stores every raw event of the group; only rows it created are applied.
    An id seen earlier in the group counts as a duplicate of that earlier request. The
    derived tables are then written once per table per round (see ``_rounds``).
    """
    results = [IngestResult() for _ in items]
    seen: set[tuple[str, str]] = set()
    rows: list[dict[str, Any]] = []
    candidates: list[tuple[int, Event]] = []
    for i, (tenant_id, batch, now) in enumerate(items):
        for ev in batch.events:
            key = (tenant_id, ev.event_id)
            if key in seen:
                results[i].duplicates += 1  # the same id twice in one batch (or group)
                continue
            seen.add(key)
            rows.append(event_row(tenant_id, ev, now))
            candidates.append((i, ev))
    if not rows:
        return results
    if conn.dialect.name == "postgresql":
        # Concurrent transactions wait on each other's uncommitted ids, so every writer
        # inserts in one order: by time, which also keeps ids (the stream's and the event
        # list's cursor) in time order. The sort is stable: same-time events keep their
        # batch order, which a retried batch repeats.
        rows.sort(key=lambda r: (r["tenant_id"], r["ts"]))
    inserted = {(t, e) for t, e in INSERT_EVENTS.execute(conn, rows)}

    stored: list[dict[AgentKey, list[Event]]] = [defaultdict(list) for _ in items]
    for i, ev in candidates:
        tenant_id = items[i][0]
        if (tenant_id, ev.event_id) in inserted:
            results[i].stored.append(ev)
            stored[i][(tenant_id, ev.agent_id)].append(ev)
        else:
            results[i].duplicates += 1
    prices: dict[str, _LazyPrices] = {}

    def prices_of(tenant_id: str) -> Callable[[], dict[str, PriceOverride]]:
        if tenant_id not in prices:
            prices[tenant_id] = _LazyPrices(conn, tenant_id)
        return prices[tenant_id].get

    rounds = _rounds(stored)
    if len(rounds) > 1 and conn.dialect.name == "postgresql":
        # Each round locks its agents in order; across rounds that order could cross
        # another transaction's, so the existing rows are locked up front, all in order.
        derived_agents.lock_existing(conn, {k for by_agent in stored for k in by_agent})
    for round_items in rounds:
        work: dict[AgentKey, list[Event]] = {}
        now_of: dict[AgentKey, datetime] = {}
        owner: dict[AgentKey, int] = {}
        for i in round_items:
            for agent_key, evs in stored[i].items():
                work[agent_key] = sorted(evs, key=_ts)
                now_of[agent_key] = items[i][2]
                owner[agent_key] = i
        transitions = derived_agents.apply_all(conn, work, now_of, prices_of)
        for agent_key, transition in transitions.items():
            results[owner[agent_key]].transitions.append(transition)
    return results


def _rounds(stored: list[dict[AgentKey, list[Event]]]) -> list[list[int]]:
    """Split a group into rounds in which no agent appears twice, keeping request order.

    Each request's events are applied exactly as if it had its own transaction: a later
    request for the same agent goes to a later round and sees the earlier one's writes.
    """
    last_round: dict[AgentKey, int] = {}
    rounds: list[list[int]] = []
    for i, by_agent in enumerate(stored):
        if not by_agent:
            continue
        r = max((last_round[k] + 1 for k in by_agent if k in last_round), default=0)
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(i)
        for k in by_agent:
            last_round[k] = r
    return rounds


def _ts(ev: Event) -> datetime:
    return ev.ts


# Public for bench/ingest.py, which times the raw rows alone ("events only").
INSERT_EVENTS = Bulk(
    lambda ins: (
        ins(events)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(events.c.tenant_id, events.c.event_id)
    )
)


def event_row(tenant_id: str, ev: Event, now: datetime) -> dict[str, Any]:
    env = ev.envelope
    return {
        "tenant_id": tenant_id,
        "event_id": ev.event_id,
        "ts": ev.ts,
        "received_at": now,
        "event_type": ev.event_type,
        "severity": ev.severity,
        "agent_id": ev.agent_id,
        "agent_type": ev.agent_type,
        "agent_version": env.agent_version,
        "framework": env.framework,
        "runtime": env.runtime,
        "sdk_version": env.sdk_version,
        "environment": env.environment,
        "group_name": env.group,
        "project_id": ev.project_id,
        "task_id": ev.task_id,
        "task_type": ev.task_type,
        "task_run_id": ev.task_run_id,
        "correlation_id": ev.correlation_id,
        "action_id": ev.action_id,
        "parent_action_id": ev.parent_action_id,
        "status": ev.status,
        "duration_ms": ev.duration_ms,
        "parent_event_id": ev.parent_event_id,
        "payload_kind": ev.payload_kind,
        "summary": ev.summary,
        "payload": ev.payload,
    }


class _LazyPrices:
    """The tenant's price overrides, loaded only when a batch needs to price a call."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._loaded: dict[str, PriceOverride] | None = None

    def get(self) -> dict[str, PriceOverride]:
        if self._loaded is None:
            self._loaded = load_price_overrides(self._conn, self._tenant_id)
        return self._loaded


def load_price_overrides(conn: Connection, tenant_id: str) -> dict[str, PriceOverride]:
    rows = conn.execute(
        select(price_overrides).where(price_overrides.c.tenant_id == tenant_id)
    ).all()
    return {r.model: PriceOverride(r.input_per_mtok, r.output_per_mtok) for r in rows}


# -- detector support --------------------------------------------------------------------


def load_agent_states(conn: Connection) -> list[AgentState]:
    rows = conn.execute(select(agents)).all()
    return [
        AgentState(
            tenant_id=r.tenant_id,
            agent_id=r.agent_id,
            status=r.status,
            facts=derived_agents.facts_from_row(r._mapping),
            environment=r.environment,
            group=r.group_name,
            current_task_run_pk=r.current_task_run_pk,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def apply_status(
    conn: Connection, state: AgentState, decision: StatusDecision, now: datetime
) -> Transition | None:
    """Conditional status change: act only if the agent still has the status we read."""
    result = conn.execute(
        update(agents)
        .where(
            agents.c.tenant_id == state.tenant_id,
            agents.c.agent_id == state.agent_id,
            agents.c.status == state.status,
            agents.c.updated_at == state.updated_at,
        )
        .values(
            status=decision.status,
            status_since=now,
            status_reason=decision.reason[:512],
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        return None  # another process (or an ingest) got there first
    transition = Transition(
        tenant_id=state.tenant_id,
        agent_id=state.agent_id,
        at=now,
        from_status=state.status,
        to_status=decision.status,
        reason=decision.reason[:512],
        environment=state.environment,
        group=state.group,
    )
    conn.execute(agent_status_transitions.insert().values(**_transition_row(transition)))
    if decision.status == "stuck":
        mark_quiet_runs_stuck(conn, [state], now)
    return transition


def mark_quiet_runs_stuck(conn: Connection, states: Sequence[AgentState], now: datetime) -> None:
    """Mark the stuck agents' open runs that have had no event for their threshold."""
    for state in states:
        quiet_since = now - timedelta(seconds=state.facts.stuck_threshold_s)
        derived_agents.mark_tasks_stuck(conn, state.tenant_id, state.agent_id, quiet_since, now)


def _transition_row(t: Transition) -> dict[str, Any]:
    return {
        "tenant_id": t.tenant_id,
        "agent_id": t.agent_id,
        "at": t.at,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "reason": t.reason,
    }
