"""Raw events: the filtered listing and the tail that feeds the live stream.

The listing is keyset-paginated on ``(ts, id)``, newest first, using the
``(tenant_id, ts)`` family of indexes.  The tail reads ``id > cursor`` in ``id`` order:
the autoincrement id is the only order that every process agrees on, so a stream
served by one process sees events that another process ingested.

PostgreSQL hands out sequence values at insert time, not commit time, so a slow
transaction can commit id 100 after id 101 is already visible.  :class:`Tail` keeps the
ids it skipped over for a short grace period and looks for them again, instead of
losing them.  (Gaps are also normal without any race: a duplicate ``event_id`` that
ingest ignores still consumes a sequence value; those gaps simply expire.)  A stream
that resumes hands the ids still missing when the client left (carried in its SSE id,
see ``live.position``) back to a new ``Tail``, which watches them for a new grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, or_, select

from hiveboard.storage.dialect import not_indexed
from hiveboard.storage.read.filters import Scope, one_of, where_scope
from hiveboard.storage.read.pagination import Keyset
from hiveboard.storage.tables import agent_status_transitions, agents, events

e = events

BY_TIME = Keyset("events:ts", (e.c.ts, e.c.id))
# The same order for one task's events, which are few: SQLite must find them through the
# (tenant, task) index and sort them, not walk the time index until it meets them (9 s
# per page at 10 M events). Same scope: a cursor from either pages the other.
BY_TIME_IN_TASK = Keyset("events:ts", (not_indexed(e.c.ts), e.c.id), keys=("ts", "id"))

EVENT_COLUMNS = (
    e.c.id,
    e.c.event_id,
    e.c.ts,
    e.c.received_at,
    e.c.event_type,
    e.c.severity,
    e.c.agent_id,
    e.c.agent_type,
    e.c.environment,
    e.c.group_name,
    e.c.project_id,
    e.c.task_id,
    e.c.task_type,
    e.c.task_run_id,
    e.c.correlation_id,
    e.c.action_id,
    e.c.parent_action_id,
    e.c.status,
    e.c.duration_ms,
    e.c.parent_event_id,
    e.c.payload_kind,
    e.c.summary,
    e.c.payload,
)


@dataclass(frozen=True)
class EventFilter:
    """Event-specific filters on top of the shared :class:`Scope`."""

    event_types: list[str] | None = None
    severities: list[str] | None = None
    payload_kinds: list[str] | None = None
    task_id: str | None = None
    task_run_id: str | None = None


def _apply(query: Any, scope: Scope, flt: EventFilter, *, timed: bool = True) -> Any:
    # Within one task, the time range must not steer SQLite to the time index either.
    ts = e.c.ts if flt.task_id is None else not_indexed(e.c.ts)
    query = where_scope(query, e, scope, time_column=ts if timed else None)
    for cond in (
        one_of(e.c.event_type, flt.event_types),
        one_of(e.c.severity, flt.severities),
        one_of(e.c.payload_kind, flt.payload_kinds),
        e.c.task_id == flt.task_id if flt.task_id is not None else None,
        e.c.task_run_id == flt.task_run_id if flt.task_run_id is not None else None,
    ):
        if cond is not None:
            query = query.where(cond)
    return query


def list_events(
    conn: Connection, scope: Scope, flt: EventFilter, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of raw events, newest first."""
    query = _apply(select(*EVENT_COLUMNS), scope, flt)
    keyset = BY_TIME if flt.task_id is None else BY_TIME_IN_TASK
    rows = conn.execute(keyset.page(query, cursor, limit)).all()
    page, next_cursor = keyset.split(rows, limit)
    return [dict(r._mapping) for r in page], next_cursor


def max_event_id(conn: Connection) -> int:
    """The newest event id of any tenant: where a fresh stream starts.

    The stream's position is global (see :class:`Tail`), so the global maximum is the
    right start, and ``max(id)`` is one primary-key lookup on both databases, whereas the
    newest id of one quiet tenant could mean walking back past everyone else's events.
    """
    return int(conn.execute(select(func.max(e.c.id))).scalar() or 0)


def max_transition_id(conn: Connection) -> int:
    """The newest status transition id of any tenant."""
    t = agent_status_transitions
    return int(conn.execute(select(func.max(t.c.id))).scalar() or 0)


def _transition_query(scope: Scope) -> Any:
    t = agent_status_transitions
    a = agents
    query = (
        select(
            t.c.id,
            t.c.agent_id,
            t.c.at,
            t.c.from_status,
            t.c.to_status,
            t.c.reason,
            a.c.environment,
            a.c.group_name,
        )
        .join(a, (a.c.tenant_id == t.c.tenant_id) & (a.c.agent_id == t.c.agent_id))
        .where(t.c.tenant_id == scope.tenant_id)
    )
    if scope.agent_id is not None:
        query = query.where(t.c.agent_id == scope.agent_id)
    if scope.environment is not None:
        query = query.where(a.c.environment == scope.environment)
    if scope.group is not None:
        query = query.where(a.c.group_name == scope.group)
    return query


@dataclass
class _Cursor:
    """Position in one id-ordered table, plus ids skipped that may still commit.

    The position advances over the table's *global* id sequence (an index-only scan of
    the primary key), not over the rows this stream wants: then the ids missing from
    the sequence are exactly the in-flight (or discarded) inserts, a handful, rather
    than every other tenant's and agent's rows.
    """

    table: Table
    last: int
    gaps: dict[int, float] = field(default_factory=dict)
    saturated: bool = False
    """The last step saw a full window: more is waiting right now."""

    def step(self, conn: Connection, now: float, grace: float, window: int) -> Any:
        """Advance over committed ids; return the condition selecting the new ones."""
        ids_col = self.table.c.id
        seen_where = ids_col > self.last
        if self.gaps:
            seen_where = or_(seen_where, ids_col.in_(sorted(self.gaps)))
        seen = [
            int(r[0])
            for r in conn.execute(select(ids_col).where(seen_where).order_by(ids_col).limit(window))
        ]
        self.saturated = len(seen) >= window
        late = [rid for rid in seen if rid in self.gaps]
        fresh = [rid for rid in seen if rid > self.last]
        for rid in late:
            del self.gaps[rid]
        for gap, expires in list(self.gaps.items()):
            if expires <= now:
                del self.gaps[gap]
        previous = self.last
        if fresh:
            present = set(fresh)
            for missing in range(previous + 1, fresh[-1]):
                if missing not in present and len(self.gaps) < 10_000:
                    self.gaps[missing] = now + grace
            self.last = fresh[-1]
        conds: list[ColumnElement[bool]] = []
        if fresh:
            conds.append((ids_col > previous) & (ids_col <= self.last))
        if late:
            conds.append(ids_col.in_(late))
        return or_(*conds) if conds else None


class Tail:
    """Reads what is new since the last call: events and status transitions.

    ``Tail`` instances belong to one stream connection; they are not shared.  The
    position (``event_id``, ``transition_id``) is what ``Last-Event-ID`` carries.
    """

    def __init__(
        self,
        scope: Scope,
        flt: EventFilter,
        *,
        event_after: int,
        transition_after: int,
        want_events: bool = True,
        want_transitions: bool = True,
        grace_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        event_gaps: Iterable[int] = (),
        transition_gaps: Iterable[int] = (),
    ) -> None:
        """``event_gaps``/``transition_gaps``: ids below the start not read yet (a resumed
        stream's), watched like the gaps this tail finds itself."""
        self.scope = scope
        self.filter = flt
        expires = clock() + grace_seconds
        self.events = _Cursor(
            e, event_after, {g: expires for g in event_gaps if 0 < g < event_after}
        )
        self.transitions = _Cursor(
            agent_status_transitions,
            transition_after,
            {g: expires for g in transition_gaps if 0 < g < transition_after},
        )
        self.want_events = want_events
        self.want_transitions = want_transitions
        self.grace = grace_seconds
        self.clock = clock

    @property
    def position(self) -> tuple[int, int]:
        return self.events.last, self.transitions.last

    @property
    def saturated(self) -> bool:
        """More rows were waiting than one poll reads: poll again without waiting."""
        return self.events.saturated or self.transitions.saturated

    def poll(self, conn: Connection, limit: int = 2000) -> list[tuple[str, dict[str, Any]]]:
        """New events and transitions, each list in id order (events first).

        Returns ``("event", row)`` and ``("transition", row)`` pairs.  When more than
        ``limit`` are waiting, the rest come on the next call.
        """
        now = self.clock()
        out: list[tuple[str, dict[str, Any]]] = []
        if self.want_events:
            cond = self.events.step(conn, now, self.grace, limit)
            if cond is not None:
                query = _apply(select(*EVENT_COLUMNS), self.scope, self.filter, timed=False)
                rows = conn.execute(query.where(cond).order_by(e.c.id)).all()
                out.extend(("event", dict(r._mapping)) for r in rows)
        if self.want_transitions:
            cond = self.transitions.step(conn, now, self.grace, limit)
            if cond is not None:
                t = agent_status_transitions
                rows = conn.execute(
                    _transition_query(self.scope).where(cond).order_by(t.c.id)
                ).all()
                out.extend(("transition", dict(r._mapping)) for r in rows)
        return out
