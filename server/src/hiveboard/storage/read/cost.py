"""Cost: the summary, from hourly cost rollups plus the window's edges (the time series
reads the same rollups: cost_series.py).

A window's whole hours are summed from ``cost_rollups``, the agents' share from
``agent_cost_rollups``, and time series without a model from ``hourly_rollups``. Without
an agent, environment or group filter the fleet rows are read (agent ``ALL_AGENTS``: a
few hundred rows an hour however many agents); with one, the per-agent rows. Hours are
matched with ``hour IN (…)``, not a range, so each hour is one contiguous run of the key
(hour, agent, …) even when the agent column is fixed.

The partial hours at the window's two ends come from ``llm_calls``: either the calls of
the part inside the window, or the whole hour's rollups minus the calls of the part
outside it, whichever has fewer calls (the shorter part counted on the ``(tenant_id,
ts)`` index, the whole hour read from its fleet hourly row). For a window ending now the
part outside is the future: nearly nothing to read. Totals are therefore exact, and the
work grows with the hours and the variety of calls, not with their number.

The summary runs three statements, each built once per shape of request (which filters,
whether there are whole hours, which ranges of calls are added or subtracted) and given
its values at execution: one counts the edges' calls, one nets the rollups and the calls
per (source, model, task type, project), one per agent (each a ``UNION ALL`` of grouped
parts, the subtracted ones negated, summed per key in SQL). Python folds the ~160 net
rows of the second into the four breakdowns. Measured at 10 M events on SQLite (a day's
window): 21 -> 15 ms per summary; what remains is SQLite grouping the ~4,000 fleet cost
rows, ~5,000 agent-hour rows and the edge's calls, read through the indexes checked in
``tests/storage/test_query_plans.py``.

Rollups store absent models, task types and projects as ""; they are read back as None,
so a group has the same key whichever source it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    bindparam,
    func,
    select,
    union_all,
)

from hiveboard.storage.derived_hourly import ALL_AGENTS
from hiveboard.storage.read.filters import Scope, fleet_wide, where_scope
from hiveboard.storage.tables import (
    ALL_PROJECTS,
    agent_cost_rollups,
    cost_rollups,
    hourly_rollups,
    llm_calls,
)

HOUR = timedelta(hours=1)
MAX_HOURS_LISTED = 2_000
"""Longer windows match their hours with a range (correct, just not one run per hour)."""

COST_DIMENSIONS = {
    "by_source": "cost_source",
    "by_model": "model",
    "by_agent": "agent_id",
    "by_task_type": "task_type",
    "by_project": "project_id",
}
NULLABLE_KEYS = frozenset({"model", "task_type", "project_id"})
SUMS = ("llm_calls", "priced_calls", "tokens_in", "tokens_out", "cost_usd")

Hours = list[datetime]
"""Whole hours (their starts), in order."""


def floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def split_window(
    since: datetime, until: datetime
) -> tuple[tuple[datetime, datetime] | None, list[tuple[datetime, datetime]]]:
    """The window's whole hours ``[first, last)`` (None if none) and its partial edges."""
    first = floor_hour(since)
    if first < since:
        first += HOUR
    last = floor_hour(until)
    if first >= last:
        return None, [(since, until)]
    edges = [(a, b) for a, b in ((since, first), (last, until)) if a < b]
    return (first, last), edges


def hour_list(first: datetime, last: datetime) -> Hours:
    """The starts of the whole hours of ``[first, last)``."""
    out = []
    while first < last:
        out.append(first)
        first += HOUR
    return out


class BoundHours(NamedTuple):
    """Hours given at execution: the list ``hours`` (``listed``), else the range
    ``first_hour`` … ``last_hour`` (see :func:`hour_values`)."""

    listed: bool


def hour_values(hours: Hours) -> dict[str, Any]:
    """The values of :class:`BoundHours` for ``hours`` (listed unless too many)."""
    if len(hours) > MAX_HOURS_LISTED:
        return {"first_hour": hours[0], "last_hour": hours[-1]}
    return {"hours": hours}


def _in_hours(
    query: Select[Any], column: ColumnElement[Any], hours: Hours | BoundHours
) -> Select[Any]:
    """Restrict ``query`` to ``hours``: one index probe per hour, or a range when many."""
    if isinstance(hours, BoundHours):
        if hours.listed:
            return query.where(column.in_(bindparam("hours", expanding=True)))
        return query.where(column >= bindparam("first_hour"), column <= bindparam("last_hour"))
    if len(hours) > MAX_HOURS_LISTED:
        return query.where(column >= hours[0], column <= hours[-1])
    return query.where(column.in_(hours))


def rollup_query(
    table: Table,
    scope: Scope,
    hours: Hours | BoundHours,
    keys: list[str],
    sums: Iterable[str],
    fleet: bool,
) -> Select[Any]:
    """Sums of ``sums`` per ``keys`` over ``hours`` of a rollup table, from its fleet
    rows or its per-agent rows (``fleet``)."""
    t = table
    query: Select[Any] = select(
        *(t.c[k] for k in keys), *(func.sum(t.c[name]).label(name) for name in sums)
    )
    unbounded = replace(scope, since=None, until=None)
    query = _in_hours(where_scope(query, t, unbounded), t.c.hour, hours)
    query = query.where(t.c.agent_id == ALL_AGENTS if fleet else t.c.agent_id != ALL_AGENTS)
    return query.group_by(*(t.c[k] for k in keys))


def _calls_in(since: str, until: str) -> ColumnElement[Any]:
    """The tenant's calls from bind parameter ``since`` to ``until``, read from the
    (tenant, ts) index alone (a scalar subquery)."""
    c = llm_calls
    in_range = (
        (c.c.tenant_id == bindparam("tenant_id"))
        & (c.c.ts >= bindparam(since))
        & (c.c.ts < bindparam(until))
    )
    return select(func.count()).where(in_range).scalar_subquery()


def _calls_of_hour(hour: str) -> ColumnElement[Any]:
    """The tenant's calls in the hour starting at bind parameter ``hour``, as its fleet
    hourly rollup row counts them (a scalar subquery, 0 for an hour without events)."""
    h = hourly_rollups
    fleet_row = (
        (h.c.tenant_id == bindparam("tenant_id"))
        & (h.c.hour == bindparam(hour))
        & (h.c.agent_id == ALL_AGENTS)
        & (h.c.environment == ALL_AGENTS)
        & (h.c.group_name == ALL_AGENTS)
        & (h.c.project_id == ALL_PROJECTS)
    )
    return func.coalesce(select(h.c.llm_calls).where(fleet_row).scalar_subquery(), 0)


@lru_cache(maxsize=64)
def _count_statement(parts: tuple[int, ...]) -> Select[Any]:
    """Per edge ``i`` with ``parts[i]`` ranges counted (bound as ``since_i_j``,
    ``until_i_j``): the calls in those ranges, and in its hour (``hour_i``)."""
    counts: list[ColumnElement[Any]] = []
    for i, n in enumerate(parts):
        ranges = [_calls_in(f"since_{i}_{j}", f"until_{i}_{j}") for j in range(n)]
        counts.append(ranges[0] if n == 1 else ranges[0] + ranges[1])
        counts.append(_calls_of_hour(f"hour_{i}"))
    return select(*counts)


def plan_edges(
    conn: Connection, scope: Scope, edges: list[tuple[datetime, datetime]]
) -> tuple[Hours, list[tuple[datetime, datetime, int]]]:
    """How to read the partial hours: hours to add from rollups, and call ranges to add
    (sign 1) or subtract (sign -1), picking per edge whichever reads fewer calls.

    One statement counts, per edge, the tenant's calls in the shorter of its two parts
    (inside the window, or the rest of its hour) on the index, and reads the hour's
    calls from its fleet hourly row: the other part has the difference. (Only the
    choice depends on these counts, never the sums.)
    """
    hours: Hours = []
    ranges: list[tuple[datetime, datetime, int]] = []
    planned: list[tuple[datetime, datetime, datetime, bool]] = []
    counted: list[list[tuple[datetime, datetime]]] = []
    for a, b in edges:
        start = floor_hour(a)
        if b > start + HOUR:  # a window shorter than two hours across one boundary
            ranges.append((a, b, 1))
            continue
        inside_shorter = 2 * (b - a) <= HOUR
        counted.append([(a, b)] if inside_shorter else _outside(a, b, start))
        planned.append((a, b, start, inside_shorter))
    if not planned:
        return hours, ranges
    values: dict[str, Any] = {"tenant_id": scope.tenant_id}
    for i, (parts, (_, _, start, _)) in enumerate(zip(counted, planned, strict=True)):
        values[f"hour_{i}"] = start
        for j, (x, y) in enumerate(parts):
            values[f"since_{i}_{j}"], values[f"until_{i}_{j}"] = x, y
    statement = _count_statement(tuple(len(parts) for parts in counted))
    numbers = [int(n) for n in conn.execute(statement, values).one()]
    for i, (a, b, start, inside_shorter) in enumerate(planned):
        part, whole = numbers[2 * i], numbers[2 * i + 1]
        inside = part if inside_shorter else whole - part
        if inside <= whole - inside:
            ranges.append((a, b, 1))
            continue
        hours.append(start)
        ranges += [(x, y, -1) for x, y in _outside(a, b, start)]
    return hours, ranges


def _outside(a: datetime, b: datetime, start: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of the hour from ``start`` outside ``[a, b)``."""
    return [(x, y) for x, y in ((start, a), (b, start + HOUR)) if x < y]


BREAKDOWN_KEYS = ("cost_source", "model", "task_type", "project_id")
"""The keys of the one grouping every breakdown but the agents' is folded from."""


def _calls_part(scope: Scope, keys: tuple[str, ...], i: int, sign: int) -> Select[Any]:
    """The calls from bind parameter ``since_i`` to ``until_i`` summed per ``keys``,
    negated when ``sign`` is -1 (absent models, task types and projects stay NULL)."""
    c = llm_calls

    def signed(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return -value if sign < 0 else value

    cols = [c.c[k] for k in keys]
    query: Select[Any] = select(
        *cols,
        signed(func.count()).label("llm_calls"),
        signed(func.count(c.c.cost_usd)).label("priced_calls"),
        signed(func.sum(c.c.tokens_in)).label("tokens_in"),
        signed(func.sum(c.c.tokens_out)).label("tokens_out"),
        signed(func.sum(c.c.cost_usd)).label("cost_usd"),
    )
    bounded = replace(scope, since=_bound(f"since_{i}"), until=_bound(f"until_{i}"))
    return where_scope(query, c, bounded, time_column=c.c.ts).group_by(*cols)


def _net_query(parts: list[Select[Any]], keys: tuple[str, ...]) -> Select[Any]:
    """The sums per ``keys`` over the rows of every part (each already summed per key)."""
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("parts")
    return select(
        *(rows.c[k] for k in keys), *(func.sum(rows.c[name]).label(name) for name in SUMS)
    ).group_by(*(rows.c[k] for k in keys))


class Shape(NamedTuple):
    """What the summary's statements depend on; the values are bound at execution."""

    agent: bool
    environment: bool
    group: bool
    project: bool
    hours: BoundHours | None  # None: no whole hours
    signs: tuple[int, ...]  # one per range of calls, added (1) or subtracted (-1)


def _bound(name: str) -> Any:
    """A bind parameter standing in a :class:`Scope` field (typed ``Any`` so that it may:
    the statement is built once and ``where_scope`` treats it like the value)."""
    return bindparam(name)


@lru_cache(maxsize=256)
def summary_statements(shape: Shape) -> tuple[Select[Any], Select[Any]]:
    """The net sums of the rollups' whole hours and the signed ranges of calls, per
    (source, model, task type, project) and per agent; built once per shape (they are
    the same from one request to the next but for the values, and building them each
    time cost 2-3 ms of a 15-20 ms summary)."""
    scope = Scope(
        tenant_id=_bound("tenant_id"),
        agent_id=_bound("agent_id") if shape.agent else None,
        environment=_bound("environment") if shape.environment else None,
        group=_bound("group") if shape.group else None,
        project_id=_bound("project_id") if shape.project else None,
    )
    keys, by_agent = BREAKDOWN_KEYS, ("agent_id",)
    breakdown = [_calls_part(scope, keys, i, sign) for i, sign in enumerate(shape.signs)]
    agents = [_calls_part(scope, by_agent, i, sign) for i, sign in enumerate(shape.signs)]
    if shape.hours is not None:
        fleet = fleet_wide(scope)
        rollups = rollup_query(cost_rollups, scope, shape.hours, list(keys), SUMS, fleet)
        # The agents' narrow rows, or with a project filter their rows of that project.
        table = agent_cost_rollups if scope.project_id is None else hourly_rollups
        breakdown.insert(0, rollups)
        agents.insert(0, rollup_query(table, scope, shape.hours, list(by_agent), SUMS, False))
    return _net_query(breakdown, keys), _net_query(agents, by_agent)


def summary_values(
    scope: Scope, hours: Hours, ranges: list[tuple[datetime, datetime, int]]
) -> tuple[Shape, dict[str, Any]]:
    """The shape of the summary's statements for ``scope``, and the values to bind."""
    shape = Shape(
        agent=scope.agent_id is not None,
        environment=scope.environment is not None,
        group=scope.group is not None,
        project=scope.project_id is not None,
        hours=BoundHours(listed=len(hours) <= MAX_HOURS_LISTED) if hours else None,
        signs=tuple(sign for _, _, sign in ranges),
    )
    filters = {
        "agent_id": scope.agent_id,
        "environment": scope.environment,
        "group": scope.group,
        "project_id": scope.project_id,
    }
    values: dict[str, Any] = {"tenant_id": scope.tenant_id}
    values |= {k: v for k, v in filters.items() if v is not None}
    values |= hour_values(hours) if hours else {}
    for i, (a, b, _) in enumerate(ranges):
        values[f"since_{i}"], values[f"until_{i}"] = a, b
    return shape, values


Acc = list[Any]
"""Sums being folded: llm_calls, priced_calls, tokens_in, tokens_out, cost_usd."""


def _sums(row: Any) -> Acc:
    """The sums of a row whose last five columns are :data:`SUMS` (NULL when no rows)."""
    calls, priced, tokens_in, tokens_out, cost = row[-5:]
    return [
        int(calls or 0),
        int(priced or 0),
        int(tokens_in or 0),
        int(tokens_out or 0),
        float(cost or 0.0),
    ]


def _fold(into: dict[Any, Acc], key: Any, sums: Acc) -> None:
    """Add ``sums`` to ``into[key]``."""
    acc = into.get(key)
    if acc is None:
        into[key] = list(sums)
    else:
        _accumulate(acc, sums)


def _accumulate(acc: Acc, sums: Acc) -> None:
    for i, value in enumerate(sums):
        acc[i] += value


def _group(key: Any, acc: Acc) -> dict[str, Any]:
    calls, priced, tokens_in, tokens_out, cost = acc
    return {
        "key": key,
        "llm_calls": calls,
        "cost_usd": round(cost, 10) + 0.0,  # + 0.0: no "-0.0" after subtracting
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "unknown_cost_calls": calls - priced,
    }


def _ranked(groups: dict[Any, Acc], top: int) -> list[dict[str, Any]]:
    """Groups with calls left, dearest first (then most calls, then by key), at most ``top``."""
    kept = [(key, acc) for key, acc in groups.items() if acc[0]]
    kept.sort(key=lambda g: (-g[1][4], -g[1][0], g[0] is None, g[0] or ""))
    return [_group(key, acc) for key, acc in kept[:top]]


def cost_summary(conn: Connection, scope: Scope, top: int = 50) -> dict[str, Any]:
    """Totals and breakdowns by source, model, agent, task type and project.

    Whole hours come from the rollups and the edges from the calls, added or subtracted
    (see :func:`plan_edges`), netted in SQL (:func:`summary_statements`); the breakdowns
    but the agents' are folded here from the net rows per (source, model, task type,
    project). A group whose calls all cancel out is dropped.
    """
    assert scope.since is not None and scope.until is not None
    whole, edges = split_window(scope.since, scope.until)
    hours, ranges = plan_edges(conn, scope, edges)
    if whole is not None:
        hours += hour_list(*whole)
    shape, values = summary_values(scope, sorted(hours), ranges)
    breakdown, per_agent = summary_statements(shape)
    total: Acc = [0, 0, 0, 0, 0.0]
    dims: list[tuple[str, int, dict[Any, Acc]]] = [
        (name, BREAKDOWN_KEYS.index(COST_DIMENSIONS[name]), {})
        for name in COST_DIMENSIONS
        if name != "by_agent"
    ]
    for row in conn.execute(breakdown, values).all():
        sums = _sums(row)
        _accumulate(total, sums)
        for _, i, groups in dims:
            _fold(groups, row[i] or None, sums)  # "" (none) as None; no source is ""
    agents: dict[Any, Acc] = {}
    for row in conn.execute(per_agent, values).all():
        _fold(agents, row[0], _sums(row))
    result: dict[str, Any] = {"total": _group(None, total)}
    del result["total"]["key"]
    ranked = {name: _ranked(groups, top) for name, _, groups in dims}
    for name in COST_DIMENSIONS:
        result[name] = _ranked(agents, top) if name == "by_agent" else ranked[name]
    return result
