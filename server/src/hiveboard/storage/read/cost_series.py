"""Cost over time: ``cost_timeseries``, per bucket and optionally per agent or model.

Buckets of an hour or more read the hourly rollups for whole hours and the LLM calls for
the window's edges (``cost.split_window``); shorter buckets read the minute rollups, or
the calls themselves where those lack a dimension. Every point counts the calls that had
no price, so a bucket of unpriced calls never reads as a silent $0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from hiveboard.storage.read.buckets import bucket_range, bucket_start, rollup_rows
from hiveboard.storage.read.cost import (
    NULLABLE_KEYS,
    SUMS,
    Hours,
    hour_list,
    rollup_query,
    split_window,
)
from hiveboard.storage.read.filters import Scope, fleet_wide, where_scope
from hiveboard.storage.tables import ALL_PROJECTS, cost_rollups, hourly_rollups, llm_calls


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


def _add(acc: dict[str, Any], m: Any, sign: int = 1) -> None:
    acc["llm_calls"] += sign * int(m["llm_calls"] or 0)
    acc["cost_usd"] += sign * float(m["cost_usd"] or 0.0)
    acc["tokens_in"] += sign * int(m["tokens_in"] or 0)
    acc["tokens_out"] += sign * int(m["tokens_out"] or 0)
    if "priced_calls" in acc:
        acc["priced_calls"] += sign * int(m["priced_calls"] or 0)


SPLIT_COLUMNS = {"agent": "agent_id", "model": "model"}
EMPTY_POINT: dict[str, float] = {
    "cost_usd": 0.0,
    "llm_calls": 0,
    "tokens_in": 0,
    "tokens_out": 0,
    "unknown_cost_calls": 0,
}


def _unknown_calls(m: Any) -> int:
    """Calls of a source row that had no price: counted by the minute rollups, else its
    calls less its priced ones (``count(cost_usd)``: ingest stores no cost exactly when
    its source is unknown). A bucket of unpriced calls must not read as a silent $0."""
    if "cost_unknown_calls" in m:
        return int(m["cost_unknown_calls"] or 0)
    return int(m["llm_calls"] or 0) - int(m["priced_calls"] or 0)


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
        acc = cells.setdefault((bucket_start(ts, interval_s), key), dict(EMPTY_POINT))
        _add(acc, m)
        acc["unknown_cost_calls"] += _unknown_calls(m)

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
            values = cells.get((start, key), EMPTY_POINT)
            out.append(
                {
                    "bucket": start,
                    "key": key,
                    "cost_usd": round(float(values["cost_usd"]), 10),
                    "llm_calls": int(values["llm_calls"]),
                    "tokens_in": int(values["tokens_in"]),
                    "tokens_out": int(values["tokens_out"]),
                    "unknown_cost_calls": int(values["unknown_cost_calls"]),
                }
            )
    return out
