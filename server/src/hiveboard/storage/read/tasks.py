"""Task runs: the filtered, sortable list and everything one run's timeline needs.

The list is keyset-paginated on ``(first_event_at, id)`` — the ``(tenant_id,
first_event_at)`` index — newest first.  Sorting by duration or cost has no index, so
those orderings are bounded by the time range (the API defaults it) instead of the
tenant's whole history.

A run's timeline is assembled from the run's own events (``events`` by ``(tenant_id,
task_id)``), plus the costs the write side settled for its LLM calls.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from hiveboard.derive.timeline import LlmCost, TimelineEvent
from hiveboard.storage.dialect import not_indexed
from hiveboard.storage.read.filters import Scope, one_of, where_scope
from hiveboard.storage.read.pagination import Keyset
from hiveboard.storage.tables import events, llm_calls, task_runs

t = task_runs

SORTS: dict[str, Keyset] = {
    "started": Keyset("tasks:started", (t.c.first_event_at, t.c.id)),
    "duration": Keyset(
        "tasks:duration",
        (func.coalesce(t.c.duration_ms, -1), t.c.id),
        keys=("sort_duration", "id"),
    ),
    "cost": Keyset("tasks:cost", (t.c.cost_usd, t.c.id)),
}
"""Orderings the task table offers (all descending: longest, dearest, newest first)."""

RUN_STATUSES = ("running", "completed", "failed", "escalated", "waiting_approval", "stuck")
"""Every status a stored run can have: what ``derive.status.task_run_status`` returns
(a test checks the two agree)."""

MAX_TIMELINE_EVENTS = 20_000
"""A run with more events than this is shown truncated (and says so)."""


def list_task_runs(
    conn: Connection,
    scope: Scope,
    *,
    statuses: list[str] | None,
    task_types: list[str] | None,
    task_id: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
    task_id_prefix: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of task runs matching the filters.

    ``task_id_prefix`` is the search box: a range on ``task_id`` (``>= p`` and ``< p`` +
    the highest code point) that the task id index serves, checked with ``substr``,
    rather than ``LIKE``: case-sensitive and without wildcards on both databases and
    under any collation.
    """
    keyset = SORTS[sort]
    query = select(t, func.coalesce(t.c.duration_ms, -1).label("sort_duration"))
    query = where_scope(query, t, scope, time_column=t.c.first_event_at)
    for cond in (
        one_of(t.c.status, statuses),
        one_of(t.c.task_type, task_types),
        t.c.task_id == task_id if task_id is not None else None,
    ):
        if cond is not None:
            query = query.where(cond)
    if task_id_prefix:
        query = query.where(
            t.c.task_id >= task_id_prefix,
            t.c.task_id < task_id_prefix + "\U0010ffff",
            # The range is exact only in code-point order; under a linguistic collation
            # (PostgreSQL's usual en-US) it also takes in "Lead-2" for "lead". Equality is
            # exact under any deterministic collation, so this keeps the index's range
            # and drops what is not a prefix.
            func.substr(t.c.task_id, 1, len(task_id_prefix)) == task_id_prefix,
        )
    rows = conn.execute(keyset.page(query, cursor, limit)).all()
    page, next_cursor = keyset.split(rows, limit)
    return [_run(r._mapping) for r in page], next_cursor


def runs_of_task(
    conn: Connection, tenant_id: str, task_id: str, agent_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The runs of one task id, newest first (the ``(tenant_id, task_id)`` index)."""
    query = select(t).where(t.c.tenant_id == tenant_id, t.c.task_id == task_id)
    if agent_id is not None:
        query = query.where(t.c.agent_id == agent_id)
    rows = conn.execute(query.order_by(t.c.first_event_at.desc(), t.c.id.desc()).limit(limit))
    return [_run(r._mapping) for r in rows]


def find_run(
    conn: Connection, tenant_id: str, task_id: str, task_run_id: str, agent_id: str | None = None
) -> dict[str, Any] | None:
    """One run by its ids (and agent, when given); the newest if several agents ran them."""
    query = select(t).where(
        t.c.tenant_id == tenant_id, t.c.task_id == task_id, t.c.task_run_id == task_run_id
    )
    if agent_id is not None:
        query = query.where(t.c.agent_id == agent_id)
    row = conn.execute(query.order_by(t.c.first_event_at.desc(), t.c.id.desc()).limit(1)).first()
    return _run(row._mapping) if row else None


def run_events(
    conn: Connection, tenant_id: str, run: dict[str, Any]
) -> tuple[list[TimelineEvent], bool]:
    """The run's events in time order (ingest order breaks ties), and whether they were cut.

    Time, not ingest order: a retried batch can store older events after newer ones, and
    a group commit does not promise the insert order of concurrent requests.
    """
    e = events
    run_id = run["task_run_id"]
    query = select(
        e.c.id,
        e.c.event_id,
        e.c.ts,
        e.c.event_type,
        e.c.severity,
        e.c.action_id,
        e.c.parent_action_id,
        e.c.status,
        e.c.duration_ms,
        e.c.parent_event_id,
        e.c.payload,
    ).where(
        e.c.tenant_id == tenant_id,
        e.c.task_id == run["task_id"],
        not_indexed(e.c.agent_id) == run["agent_id"],
        # The write side files a run without a task_run_id under "".
        e.c.task_run_id == run_id
        if run_id
        else e.c.task_run_id.is_(None) | (e.c.task_run_id == ""),
    )
    # Neither the agent nor the sort may steer SQLite away from the task index.
    order = (not_indexed(e.c.ts), e.c.id)
    rows = conn.execute(query.order_by(*order).limit(MAX_TIMELINE_EVENTS + 1)).all()
    truncated = len(rows) > MAX_TIMELINE_EVENTS
    return [
        TimelineEvent(
            event_id=r.event_id,
            timestamp=r.ts,
            event_type=r.event_type,
            severity=r.severity,
            action_id=r.action_id,
            parent_action_id=r.parent_action_id,
            status=r.status,
            duration_ms=r.duration_ms,
            parent_event_id=r.parent_event_id,
            payload=r.payload if isinstance(r.payload, dict) else None,
            seq=r.id,
        )
        for r in rows[:MAX_TIMELINE_EVENTS]
    ], truncated


def run_llm_costs(conn: Connection, tenant_id: str, run: dict[str, Any]) -> dict[str, LlmCost]:
    """Settled cost (reported, estimated or unknown) of each LLM call of the run."""
    c = llm_calls
    run_id = run["task_run_id"]
    rows = conn.execute(
        select(c.c.event_id, c.c.cost_usd, c.c.cost_source, c.c.matched_model).where(
            c.c.tenant_id == tenant_id,
            c.c.task_id == run["task_id"],
            c.c.agent_id == run["agent_id"],
            c.c.task_run_id == run_id
            if run_id
            else c.c.task_run_id.is_(None) | (c.c.task_run_id == ""),
        )
    )
    return {r.event_id: LlmCost(r.cost_usd, r.cost_source, r.matched_model) for r in rows}


def _run(row: Any) -> dict[str, Any]:
    item = dict(row)
    item.pop("sort_duration", None)
    return item
