"""Cost: the summary and the time series, from hourly cost rollups plus the window's edges.

A window's whole hours are summed from ``cost_rollups``, the agents' share from
``agent_cost_rollups``, and time series without a model from ``hourly_rollups``. Without
an agent, environment or group filter the fleet rows are read (agent ``ALL_AGENTS``: a
few hundred rows an hour however many agents); with one, the per-agent rows. Hours are
matched with ``hour IN (…)``, not a range, so each hour is one contiguous run of the key
(hour, agent, …) even when the agent column is fixed.

The partial hours at the window's two ends come from ``llm_calls``: either the calls of
the part inside the window, or the whole hour's rollups minus the calls of the part
outside it, whichever has fewer calls (counted on the ``(tenant_id, ts)`` index). For a
window ending now the part outside is the future: nearly nothing to read. Totals are
therefore exact, and the work grows with the hours and the variety of calls, not with
their number.

Rollups store absent models, task types and projects as ""; they are read back as None,
so a group has the same key whichever source it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, func, select

from hiveboard.storage.derived_hourly import ALL_AGENTS
from hiveboard.storage.read.buckets import bucket_range, bucket_start, rollup_rows
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


def _in_hours(query: Select[Any], column: ColumnElement[Any], hours: Hours) -> Select[Any]:
    """Restrict ``query`` to ``hours``: one index probe per hour, or a range when many."""
    if len(hours) > MAX_HOURS_LISTED:
        return query.where(column >= hours[0], column <= hours[-1])
    return query.where(column.in_(hours))


def rollup_query(
    table: Table, scope: Scope, hours: Hours, keys: list[str], sums: Iterable[str], fleet: bool
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


def _dicts(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    """The rows of ``query`` as plain dicts (built in one pass, not row by row through
    SQLAlchemy's row mappings: a summary reads hundreds of grouped rows)."""
    result = conn.execute(query)
    names = list(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result.all()]


def _from_rollups(
    conn: Connection, scope: Scope, hours: Hours, keys: list[str]
) -> Iterator[dict[str, Any]]:
    """Sums per ``keys`` over whole hours of ``cost_rollups``."""
    fleet = fleet_wide(scope) and "agent_id" not in keys
    for out in _dicts(conn, rollup_query(cost_rollups, scope, hours, keys, SUMS, fleet)):
        for k in NULLABLE_KEYS.intersection(keys):
            out[k] = out[k] or None
        yield out


def _from_hourly(
    conn: Connection, scope: Scope, hours: Hours, keys: list[str]
) -> Iterator[dict[str, Any]]:
    """Cost sums per ``keys`` (hour, agent) over whole hours of ``hourly_rollups``.

    Cheaper than ``cost_rollups`` when no model, source or task type is asked for: one
    row per agent and hour (the every-project row unless a project is filtered on), or
    one per hour for the fleet.
    """
    h = hourly_rollups
    fleet = fleet_wide(scope) and scope.project_id is None and "agent_id" not in keys
    query = rollup_query(h, scope, hours, keys, SUMS, fleet)
    if scope.project_id is None:
        query = query.where(h.c.project_id == ALL_PROJECTS)
    yield from _dicts(conn, query)


def _by_agent(conn: Connection, scope: Scope, hours: Hours) -> Iterator[dict[str, Any]]:
    """Cost sums per agent over whole hours: ``agent_cost_rollups`` (one narrow row per
    agent and hour), or with a project filter the agents' hourly rows of that project."""
    if scope.project_id is not None:
        yield from _from_hourly(conn, scope, hours, ["agent_id"])
        return
    query = rollup_query(agent_cost_rollups, scope, hours, ["agent_id"], SUMS, fleet=False)
    yield from _dicts(conn, query)


def _from_calls(
    conn: Connection, scope: Scope, since: datetime, until: datetime, keys: list[str]
) -> Iterator[dict[str, Any]]:
    """Sums per ``keys`` over the LLM calls of ``[since, until)`` (``ts`` allowed as key)."""
    c = llm_calls
    cols = [c.c[k] for k in keys]
    query: Select[Any] = select(
        *cols,
        func.count().label("llm_calls"),
        func.count(c.c.cost_usd).label("priced_calls"),
        func.sum(c.c.tokens_in).label("tokens_in"),
        func.sum(c.c.tokens_out).label("tokens_out"),
        func.sum(c.c.cost_usd).label("cost_usd"),
    )
    bounded = replace(scope, since=since, until=until)
    query = where_scope(query, c, bounded, time_column=c.c.ts).group_by(*cols)
    yield from _dicts(conn, query)


def _count_calls(conn: Connection, tenant_id: str, since: datetime, until: datetime) -> int:
    """Every call of the tenant in ``[since, until)``: read from the index alone."""
    c = llm_calls
    query = select(func.count()).where(c.c.tenant_id == tenant_id, c.c.ts >= since, c.c.ts < until)
    return int(conn.execute(query).scalar_one())


def plan_edges(
    conn: Connection, scope: Scope, edges: list[tuple[datetime, datetime]]
) -> tuple[Hours, list[tuple[datetime, datetime, int]]]:
    """How to read the partial hours: hours to add from rollups, and call ranges to add
    (sign 1) or subtract (sign -1), picking per edge whichever reads fewer calls."""
    hours: Hours = []
    ranges: list[tuple[datetime, datetime, int]] = []
    for a, b in edges:
        start = floor_hour(a)
        if b > start + HOUR:  # a window shorter than two hours across one boundary
            ranges.append((a, b, 1))
            continue
        inside = _count_calls(conn, scope.tenant_id, a, b)
        whole = _count_calls(conn, scope.tenant_id, start, start + HOUR)
        if inside <= whole - inside:
            ranges.append((a, b, 1))
            continue
        hours.append(start)
        ranges += [(x, y, -1) for x, y in ((start, a), (b, start + HOUR)) if x < y]
    return hours, ranges


def cost_summary(conn: Connection, scope: Scope, top: int = 50) -> dict[str, Any]:
    """Totals and breakdowns by source, model, agent, task type and project.

    Whole hours: one grouped pass over ``cost_rollups`` for every dimension but the
    agent, and one over ``agent_cost_rollups`` for the agents. Edges: the same two
    groupings per range of calls, added or subtracted (see :func:`plan_edges`). The
    breakdowns are folded from those rows here; a group whose calls all cancel out is
    dropped.
    """
    assert scope.since is not None and scope.until is not None
    empty = {"llm_calls": 0, "cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0, "priced_calls": 0}
    total = dict(empty)
    folds: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in COST_DIMENSIONS}

    def fold(rows: Iterable[dict[str, Any]], names: list[str], with_total: bool, sign: int) -> None:
        for m in rows:
            accs = [
                folds[n].setdefault(m[COST_DIMENSIONS[n]], {**empty, "key": m[COST_DIMENSIONS[n]]})
                for n in names
            ]
            for acc in ([total] if with_total else []) + accs:
                _add(acc, m, sign)

    but_agent = [n for n in COST_DIMENSIONS if n != "by_agent"]
    keys = [COST_DIMENSIONS[n] for n in but_agent]
    whole, edges = split_window(scope.since, scope.until)
    hours, ranges = plan_edges(conn, scope, edges)
    if whole is not None:
        hours += hour_list(*whole)
    for a, b, sign in ranges:  # two passes: grouped by agent too, calls hardly fold at all
        fold(_from_calls(conn, scope, a, b, keys), but_agent, True, sign)
        fold(_from_calls(conn, scope, a, b, ["agent_id"]), ["by_agent"], False, sign)
    if hours:
        fold(_from_rollups(conn, scope, sorted(hours), keys), but_agent, True, 1)
        fold(_by_agent(conn, scope, sorted(hours)), ["by_agent"], False, 1)

    def finish(acc: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in acc.items() if k != "priced_calls"}
        out["cost_usd"] = round(acc["cost_usd"], 10) + 0.0  # + 0.0: no "-0.0" after subtracting
        out["unknown_cost_calls"] = acc["llm_calls"] - acc["priced_calls"]
        return out

    result: dict[str, Any] = {"total": finish(total)}
    for name, groups in folds.items():
        kept = [g for g in groups.values() if g["llm_calls"]]
        ranked = sorted(kept, key=lambda g: (-g["cost_usd"], -g["llm_calls"]))
        result[name] = [finish(g) for g in ranked[:top]]
    return result


def _add(acc: dict[str, Any], m: Any, sign: int = 1) -> None:
    acc["llm_calls"] += sign * int(m["llm_calls"] or 0)
    acc["cost_usd"] += sign * float(m["cost_usd"] or 0.0)
    acc["tokens_in"] += sign * int(m["tokens_in"] or 0)
    acc["tokens_out"] += sign * int(m["tokens_out"] or 0)
    if "priced_calls" in acc:
        acc["priced_calls"] += sign * int(m["priced_calls"] or 0)


SPLIT_COLUMNS = {"agent": "agent_id", "model": "model"}


def cost_timeseries(
    conn: Connection,
    scope: Scope,
    since: datetime,
    until: datetime,
    interval_s: int,
    group_by: str | None,
) -> list[dict[str, Any]]:
    """Cost per bucket, optionally split per agent or per model.

    Buckets of an hour or more: hourly rollups for whole hours, LLM calls for the
    edges. Shorter buckets: per-agent minute rollups, or the LLM calls themselves when
    splitting by model or filtering by project (minute rollups have neither).
    """
    starts = bucket_range(since, until, interval_s)
    cells: dict[tuple[datetime, str | None], dict[str, float]] = {}
    split = SPLIT_COLUMNS.get(group_by or "")

    def add(ts: datetime, key: str | None, m: Any) -> None:
        acc = cells.setdefault(
            (bucket_start(ts, interval_s), key),
            {"cost_usd": 0.0, "llm_calls": 0, "tokens_in": 0, "tokens_out": 0},
        )
        _add(acc, m)

    if interval_s >= 3600 and interval_s % 3600 == 0:
        hours, edges = split_window(since, until)
        for a, b in edges:
            for m in _from_calls(conn, scope, a, b, ["ts", *([split] if split else [])]):
                add(m["ts"], m.get(split) if split else None, m)
        if hours is not None:
            source = _from_rollups if group_by == "model" else _from_hourly
            by_hour = ["hour", *([split] if split else [])]
            for m in source(conn, scope, hour_list(*hours), by_hour):
                add(m["hour"], m.get(split) if split else None, m)
    elif group_by == "model" or scope.project_id is not None:
        for m in _from_calls(conn, scope, since, until, ["ts", *([split] if split else [])]):
            add(m["ts"], m.get(split) if split else None, m)
    else:
        for m in rollup_rows(conn, scope, since, until, by_agent=group_by == "agent"):
            add(m["bucket"], m.get("agent_id"), m)
    keys = sorted({k for _, k in cells if k is not None}) if group_by else [None]
    out = []
    for start in starts:
        for key in keys:
            values = cells.get(
                (start, key), {"cost_usd": 0.0, "llm_calls": 0, "tokens_in": 0, "tokens_out": 0}
            )
            out.append(
                {
                    "bucket": start,
                    "key": key,
                    "cost_usd": round(float(values["cost_usd"]), 10),
                    "llm_calls": int(values["llm_calls"]),
                    "tokens_in": int(values["tokens_in"]),
                    "tokens_out": int(values["tokens_out"]),
                }
            )
    return out
