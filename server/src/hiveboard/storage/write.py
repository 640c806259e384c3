"""The ingest transaction: store raw events once, then apply them to derived state.

``apply_batch`` runs inside the caller's write transaction, so the raw rows and every
derived change commit together or not at all: a crash can lose an unacknowledged batch,
never half of one. Idempotency comes from the unique (tenant_id, event_id) index: only
rows the INSERT actually created are applied, so a retried batch is stored once and
applied once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from hiveboard.derive.cost import PriceOverride
from hiveboard.derive.status import StatusDecision
from hiveboard.ingest.model import Batch, Event
from hiveboard.storage import derived_agents
from hiveboard.storage.base import AgentState, IngestResult, Transition
from hiveboard.storage.dialect import insert
from hiveboard.storage.tables import agent_status_transitions, agents, events, price_overrides


def apply_batch(conn: Connection, tenant_id: str, batch: Batch, now: datetime) -> IngestResult:
    """Insert the batch's events (skipping known ids) and apply the new ones."""
    result = IngestResult()
    unique: dict[str, Event] = {}
    for ev in batch.events:
        if ev.event_id in unique:
            result.duplicates += 1  # the same id twice in one batch
        else:
            unique[ev.event_id] = ev
    if not unique:
        return result
    stmt = (
        insert(conn, events)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(events.c.event_id)
    )
    rows = [_event_row(tenant_id, ev, now) for ev in unique.values()]
    inserted = set(conn.execute(stmt, rows).scalars())
    result.duplicates += len(unique) - len(inserted)
    result.stored = [ev for ev in unique.values() if ev.event_id in inserted]

    by_agent: dict[str, list[Event]] = defaultdict(list)
    for ev in result.stored:
        by_agent[ev.agent_id].append(ev)
    prices = _LazyPrices(conn, tenant_id)
    # Sorted so that concurrent batches lock agent rows in the same order (no deadlock).
    for agent_id in sorted(by_agent):
        agent_events = sorted(by_agent[agent_id], key=lambda e: e.ts)
        transition = derived_agents.apply(conn, tenant_id, agent_id, agent_events, now, prices)
        if transition is not None:
            result.transitions.append(transition)
    return result


def _event_row(tenant_id: str, ev: Event, now: datetime) -> dict[str, Any]:
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
        quiet_since = now - timedelta(seconds=state.facts.stuck_threshold_s)
        derived_agents.mark_tasks_stuck(conn, state.tenant_id, state.agent_id, quiet_since, now)
    return transition


def _transition_row(t: Transition) -> dict[str, Any]:
    return {
        "tenant_id": t.tenant_id,
        "agent_id": t.agent_id,
        "at": t.at,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "reason": t.reason,
    }
