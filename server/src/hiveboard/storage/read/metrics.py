"""Fleet metrics and cost: time series and summaries over a bounded time window.

Counters (throughput, errors, task outcomes, tokens, cost) come from the per-agent minute
``rollups``, summed in SQL per minute and re-bucketed here to the requested interval, so
the work grows with the window, not with the events.  Duration percentiles cannot be
summed, so they come from the durations of the task runs that started in the window.
Cost breakdowns (by model, agent, task type, project, source) group the window's
``llm_calls`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, select

from hiveboard.storage.read.filters import Scope, where_scope
from hiveboard.storage.tables import agents, llm_calls, rollups, task_runs

COUNTERS = (
    "events",
    "errors",
    "tasks_started",
    "tasks_completed",
    "tasks_failed",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)
MAX_DURATION_SAMPLES = 200_000
"""Task durations read for percentiles; beyond this the newest runs are used."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(ts: datetime, interval_s: int) -> datetime:
    """Start of the ``interval_s`` bucket holding ``ts`` (aligned to the epoch, UTC)."""
    seconds = int((ts - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % interval_s)


def bucket_range(since: datetime, until: datetime, interval_s: int) -> list[datetime]:
    """Every bucket start from ``since``'s bucket up to (not including) ``until``."""
    out = []
    cur = bucket_start(since, interval_s)
    step = timedelta(seconds=interval_s)
    while cur < until:
        out.append(cur)
        cur += step
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already-sorted values (None for no values)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _rollup_rows(
    conn: Connection, scope: Scope, since: datetime, until: datetime, by_agent: bool
) -> Iterable[Any]:
    r = rollups
    keys = [r.c.bucket, r.c.agent_id] if by_agent else [r.c.bucket]
    query = select(
        *keys,
        *(func.sum(r.c[name]).label(name) for name in COUNTERS),
        func.sum(r.c.task_duration_ms_sum).label("duration_sum"),
        func.sum(r.c.task_duration_count).label("duration_count"),
    )
    bounded = replace(scope, since=since, until=until, project_id=None)
    query = where_scope(query, r, bounded, time_column=r.c.bucket, project=False)
    return conn.execute(query.group_by(*keys))


def _empty() -> dict[str, Any]:
    return {name: 0 for name in COUNTERS} | {
        "cost_usd": 0.0,
        "duration_sum": 0,
        "duration_count": 0,
    }


def _add(into: dict[str, Any], row: Any) -> None:
    for name in (*COUNTERS, "duration_sum", "duration_count"):
        into[name] += row[name] or 0


def _durations(
    conn: Connection, scope: Scope, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    t = task_runs
    query: Select[Any] = select(t.c.first_event_at, t.c.duration_ms)
    query = query.where(t.c.duration_ms.is_not(None))
    bounded = replace(scope, since=since, until=until)
    query = where_scope(query, t, bounded, time_column=t.c.first_event_at)
    query = query.order_by(t.c.first_event_at.desc()).limit(MAX_DURATION_SAMPLES)
    return [(r.first_event_at, int(r.duration_ms)) for r in conn.execute(query)]


def _finish(values: dict[str, Any], durations: list[int]) -> dict[str, Any]:
    done = values["tasks_completed"] + values["tasks_failed"]
    durations.sort()
    return {
        "events": int(values["events"]),
        "errors": int(values["errors"]),
        "tasks_started": int(values["tasks_started"]),
        "tasks_completed": int(values["tasks_completed"]),
        "tasks_failed": int(values["tasks_failed"]),
        "success_rate": values["tasks_completed"] / done if done else None,
        "duration_p50_ms": percentile(durations, 50),
        "duration_p95_ms": percentile(durations, 95),
        "avg_duration_ms": (
            values["duration_sum"] / values["duration_count"] if values["duration_count"] else None
        ),
        "llm_calls": int(values["llm_calls"]),
        "tokens_in": int(values["tokens_in"]),
        "tokens_out": int(values["tokens_out"]),
        "cost_usd": round(float(values["cost_usd"]), 10),
    }


def metrics(
    conn: Connection, scope: Scope, since: datetime, until: datetime, interval_s: int
) -> dict[str, Any]:
    """Time series (one point per bucket, empty buckets included) and a window summary."""
    starts = bucket_range(since, until, interval_s)
    buckets = {start: _empty() for start in starts}
    total = _empty()
    for row in _rollup_rows(conn, scope, since, until, by_agent=False):
        m = row._mapping
        key = bucket_start(m["bucket"], interval_s)
        if key in buckets:
            _add(buckets[key], m)
        _add(total, m)
    per_bucket: dict[datetime, list[int]] = {start: [] for start in starts}
    all_durations: list[int] = []
    for started, duration in _durations(conn, scope, since, until):
        all_durations.append(duration)
        per_bucket.setdefault(bucket_start(started, interval_s), []).append(duration)
    series = [
        {"bucket": start, **_finish(buckets[start], per_bucket.get(start, []))} for start in starts
    ]
    summary = _finish(total, all_durations)
    summary["agents_by_status"] = agents_by_status(conn, scope)
    return {"series": series, "summary": summary}


def agents_by_status(conn: Connection, scope: Scope) -> dict[str, int]:
    """How many agents are in each status right now."""
    query = select(agents.c.status, func.count().label("n"))
    unbounded = replace(scope, since=None, until=None, project_id=None)
    query = where_scope(query, agents, unbounded, project=False).group_by(agents.c.status)
    return {row.status: int(row.n) for row in conn.execute(query)}


def cost_timeseries(
    conn: Connection,
    scope: Scope,
    since: datetime,
    until: datetime,
    interval_s: int,
    group_by: str | None,
) -> list[dict[str, Any]]:
    """Cost per bucket, optionally split per agent (rollups) or per model (LLM calls)."""
    starts = bucket_range(since, until, interval_s)
    cells: dict[tuple[datetime, str | None], dict[str, float]] = {}

    def cell(start: datetime, key: str | None) -> dict[str, float]:
        return cells.setdefault(
            (start, key), {"cost_usd": 0.0, "llm_calls": 0, "tokens_in": 0, "tokens_out": 0}
        )

    if group_by == "model":
        c = llm_calls
        query = select(c.c.ts, c.c.model, c.c.cost_usd, c.c.tokens_in, c.c.tokens_out)
        query = where_scope(query, c, replace(scope, since=since, until=until), time_column=c.c.ts)
        for row in conn.execute(query):
            acc = cell(bucket_start(row.ts, interval_s), row.model)
            acc["cost_usd"] += row.cost_usd or 0.0
            acc["llm_calls"] += 1
            acc["tokens_in"] += row.tokens_in or 0
            acc["tokens_out"] += row.tokens_out or 0
    else:
        for row in _rollup_rows(conn, scope, since, until, by_agent=group_by == "agent"):
            m = row._mapping
            acc = cell(bucket_start(m["bucket"], interval_s), m.get("agent_id"))
            for name in ("cost_usd", "llm_calls", "tokens_in", "tokens_out"):
                acc[name] += m[name] or 0
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


COST_DIMENSIONS = {
    "by_source": "cost_source",
    "by_model": "model",
    "by_agent": "agent_id",
    "by_task_type": "task_type",
    "by_project": "project_id",
}


def cost_summary(conn: Connection, scope: Scope, top: int = 50) -> dict[str, Any]:
    """Totals and breakdowns of the window's LLM calls: source, model, agent, task type.

    One grouped pass over the window's calls (by every dimension at once) and the
    breakdowns folded from its rows here: the combinations are few, and one index range
    scan costs a sixth of one per breakdown.
    """
    c = llm_calls
    dims = [c.c[name] for name in COST_DIMENSIONS.values()]
    query: Select[Any] = select(
        *dims,
        func.count().label("llm_calls"),
        func.sum(c.c.cost_usd).label("cost_usd"),
        func.sum(c.c.tokens_in).label("tokens_in"),
        func.sum(c.c.tokens_out).label("tokens_out"),
        func.count(c.c.cost_usd).label("priced_calls"),
    )
    query = where_scope(query, c, scope, time_column=c.c.ts).group_by(*dims)
    empty = {"llm_calls": 0, "cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0, "priced_calls": 0}
    total = dict(empty)
    folds: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in COST_DIMENSIONS}
    for row in conn.execute(query):
        m = row._mapping
        for acc in (
            total,
            *(
                folds[name].setdefault(m[column], {**empty, "key": m[column]})
                for name, column in COST_DIMENSIONS.items()
            ),
        ):
            acc["llm_calls"] += int(m["llm_calls"])
            acc["cost_usd"] += float(m["cost_usd"] or 0.0)
            acc["tokens_in"] += int(m["tokens_in"] or 0)
            acc["tokens_out"] += int(m["tokens_out"] or 0)
            acc["priced_calls"] += int(m["priced_calls"])

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
