"""Cost: the summary and the time series, from hourly cost rollups plus the window's edges.

A window's whole hours are summed from ``cost_rollups`` (a row per agent, hour, model,
source, task type and project, however many calls it holds) or, when only agents or
totals are asked for, from ``hourly_rollups``; only the partial hours at the window's
two ends are read from ``llm_calls``. The totals are therefore exact, and the work
grows with the hours and the variety of calls, not with their number.

Rollups store absent models, task types and projects as ""; they are read back as None,
so a group has the same key whichever source it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, select

from hiveboard.storage.read.buckets import bucket_range, bucket_start, rollup_rows
from hiveboard.storage.read.filters import Scope, where_scope
from hiveboard.storage.tables import ALL_PROJECTS, cost_rollups, hourly_rollups, llm_calls

HOUR = timedelta(hours=1)

COST_DIMENSIONS = {
    "by_source": "cost_source",
    "by_model": "model",
    "by_agent": "agent_id",
    "by_task_type": "task_type",
    "by_project": "project_id",
}
NULLABLE_KEYS = frozenset({"model", "task_type", "project_id"})
SUMS = ("llm_calls", "priced_calls", "tokens_in", "tokens_out", "cost_usd")


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


def _from_rollups(
    conn: Connection, scope: Scope, hours: tuple[datetime, datetime], keys: list[str]
) -> Iterator[dict[str, Any]]:
    """Sums per ``keys`` over whole hours of ``cost_rollups``."""
    c = cost_rollups
    query: Select[Any] = select(
        *(c.c[k] for k in keys), *(func.sum(c.c[name]).label(name) for name in SUMS)
    )
    bounded = replace(scope, since=hours[0], until=hours[1])
    query = where_scope(query, c, bounded, time_column=c.c.hour).group_by(*(c.c[k] for k in keys))
    for row in conn.execute(query):
        out = dict(row._mapping)
        for k in NULLABLE_KEYS.intersection(keys):
            out[k] = out[k] or None
        yield out


def _from_hourly(
    conn: Connection, scope: Scope, hours: tuple[datetime, datetime], keys: list[str]
) -> Iterator[dict[str, Any]]:
    """Cost sums per ``keys`` (hour, agent) over whole hours of ``hourly_rollups``.

    Cheaper than ``cost_rollups`` when no model, source or task type is asked for: one
    row per agent and hour (the every-project row unless a project is filtered on).
    """
    h = hourly_rollups
    query: Select[Any] = select(
        *(h.c[k] for k in keys), *(func.sum(h.c[name]).label(name) for name in SUMS)
    )
    bounded = replace(scope, since=hours[0], until=hours[1])
    query = where_scope(query, h, bounded, time_column=h.c.hour)
    if scope.project_id is None:
        query = query.where(h.c.project_id == ALL_PROJECTS)
    for row in conn.execute(query.group_by(*(h.c[k] for k in keys))):
        yield dict(row._mapping)


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
    for row in conn.execute(query):
        yield dict(row._mapping)


def cost_summary(conn: Connection, scope: Scope, top: int = 50) -> dict[str, Any]:
    """Totals and breakdowns by source, model, agent, task type and project.

    Whole hours: one grouped pass over ``cost_rollups`` for every dimension but the
    agent (a few hundred groups, not one per agent and combination) and the agents from
    ``hourly_rollups``. Edges: one grouped pass over their calls. The breakdowns are
    folded from those rows here.
    """
    assert scope.since is not None and scope.until is not None
    empty = {"llm_calls": 0, "cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0, "priced_calls": 0}
    total = dict(empty)
    folds: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in COST_DIMENSIONS}

    def fold(rows: Iterable[dict[str, Any]], names: list[str], with_total: bool) -> None:
        for m in rows:
            accs = [
                folds[n].setdefault(m[COST_DIMENSIONS[n]], {**empty, "key": m[COST_DIMENSIONS[n]]})
                for n in names
            ]
            for acc in ([total] if with_total else []) + accs:
                _add(acc, m)

    everything = list(COST_DIMENSIONS)
    hours, edges = split_window(scope.since, scope.until)
    for a, b in edges:
        fold(_from_calls(conn, scope, a, b, list(COST_DIMENSIONS.values())), everything, True)
    if hours is not None:
        but_agent = [n for n in everything if n != "by_agent"]
        keys = [COST_DIMENSIONS[n] for n in but_agent]
        fold(_from_rollups(conn, scope, hours, keys), but_agent, True)
        fold(_from_hourly(conn, scope, hours, ["agent_id"]), ["by_agent"], False)

    def finish(acc: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in acc.items() if k != "priced_calls"}
        out["cost_usd"] = round(acc["cost_usd"], 10)
        out["unknown_cost_calls"] = acc["llm_calls"] - acc["priced_calls"]
        return out

    result: dict[str, Any] = {"total": finish(total)}
    for name, groups in folds.items():
        ranked = sorted(groups.values(), key=lambda g: (-g["cost_usd"], -g["llm_calls"]))
        result[name] = [finish(g) for g in ranked[:top]]
    return result


def _add(acc: dict[str, Any], m: Any) -> None:
    acc["llm_calls"] += int(m["llm_calls"] or 0)
    acc["cost_usd"] += float(m["cost_usd"] or 0.0)
    acc["tokens_in"] += int(m["tokens_in"] or 0)
    acc["tokens_out"] += int(m["tokens_out"] or 0)
    if "priced_calls" in acc:
        acc["priced_calls"] += int(m["priced_calls"] or 0)


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
            for m in source(conn, scope, hours, ["hour", *([split] if split else [])]):
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
