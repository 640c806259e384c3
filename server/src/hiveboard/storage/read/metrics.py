"""Fleet metrics: time series and a summary over a bounded time window.

Three sources, picked so the work grows with the window, never with the events:

* buckets of an hour or more: ``hourly_rollups`` (one row per agent, project and hour),
  whose duration histogram gives p50/p95 to within a bucket; the window starts on the
  hour (reported back as ``since``) because an hourly row cannot be split;
* shorter buckets: the minute ``rollups``, with exact percentiles from the durations of
  the task runs that started in the window (an hour by default). Without an agent,
  environment or group filter the fleet rows are read (agent "": one row per minute,
  60 for the default hour however many agents) and the durations come from the
  ``(tenant_id, first_event_at, duration_ms)`` index alone; with one, the agents' rows.
  A minute counts when its start lies in the window. At 10 M events on SQLite the
  default hour went from ~60 ms to ~11 ms in process: the per-agent rows (12,000) took
  ~11 ms, the durations ~25 ms, most of it building a row and parsing a timestamp per
  run in Python (see ``_durations``);
* shorter buckets with a project filter: the window's raw events and LLM calls, since
  minute rollups are kept per agent, not per project (the slow path, bounded by the
  window).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from hiveboard.storage.dialect import epoch_seconds as sql_epoch_seconds
from hiveboard.storage.dialect import joined_ints
from hiveboard.storage.read.buckets import (
    COUNTERS,
    bucket_range,
    epoch_seconds,
    percentile,
    rollup_rows,
)
from hiveboard.storage.read.buckets import bucket_start as bucket_start  # web/data.py uses it
from hiveboard.storage.read.cost import floor_hour, hour_list, rollup_query
from hiveboard.storage.read.filters import Scope, fleet_wide, where_scope
from hiveboard.storage.tables import (
    ALL_PROJECTS,
    DURATION_BUCKET_UPPER_MS,
    DURATION_BUCKETS,
    HOURLY_COUNTERS,
    agents,
    events,
    hourly_rollups,
    llm_calls,
    task_runs,
)

MAX_DURATION_SAMPLES = 200_000
"""Task durations read for percentiles; beyond this the newest runs are used."""


def _empty() -> dict[str, Any]:
    return {name: 0 for name in COUNTERS} | {
        "cost_usd": 0.0,
        "duration_sum": 0,
        "duration_count": 0,
        "hist": [0] * len(DURATION_BUCKETS),
    }


def _add(into: dict[str, Any], row: Any) -> None:
    for name in (*COUNTERS, "duration_sum", "duration_count"):
        into[name] += row[name] or 0


def hist_percentile(hist: list[int], q: float) -> float | None:
    """Nearest-rank percentile from the duration histogram, interpolated in its bucket."""
    total = sum(hist)
    if not total:
        return None
    rank = max(1, -(-q * total // 100))
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            low = DURATION_BUCKET_UPPER_MS[i - 1] if i else 0
            high = DURATION_BUCKET_UPPER_MS[i] if i < len(DURATION_BUCKET_UPPER_MS) else low * 2
            return float(low + (high - low) * (rank - seen) / n)
        seen += n
    return None  # not reached: rank <= total


def _finish(values: dict[str, Any], durations: list[int] | None) -> dict[str, Any]:
    """The API's values; percentiles from exact ``durations`` or else the histogram."""
    done = values["tasks_completed"] + values["tasks_failed"]
    if durations is not None:
        durations.sort()
        p50, p95 = percentile(durations, 50), percentile(durations, 95)
    else:
        p50, p95 = hist_percentile(values["hist"], 50), hist_percentile(values["hist"], 95)
    return {
        "events": int(values["events"]),
        "errors": int(values["errors"]),
        "tasks_started": int(values["tasks_started"]),
        "tasks_completed": int(values["tasks_completed"]),
        "tasks_failed": int(values["tasks_failed"]),
        "success_rate": values["tasks_completed"] / done if done else None,
        "duration_p50_ms": p50,
        "duration_p95_ms": p95,
        "avg_duration_ms": (
            values["duration_sum"] / values["duration_count"] if values["duration_count"] else None
        ),
        "llm_calls": int(values["llm_calls"]),
        "tokens_in": int(values["tokens_in"]),
        "tokens_out": int(values["tokens_out"]),
        "cost_usd": round(float(values["cost_usd"]), 10),
        "cost_unknown_calls": int(values["cost_unknown_calls"]),
    }


def metrics(
    conn: Connection, scope: Scope, since: datetime, until: datetime, interval_s: int
) -> dict[str, Any]:
    """Time series (one point per bucket, empty ones included), summary, effective since."""
    hourly = interval_s >= 3600 and interval_s % 3600 == 0
    if hourly:
        since = floor_hour(since)
    starts = bucket_range(since, until, interval_s)
    buckets = {start: _empty() for start in starts}
    total = _empty()
    rows: Iterable[Any]
    if hourly:
        rows = _hourly_rows(conn, scope, since, until)
    elif scope.project_id is not None:
        rows = _raw_rows(conn, scope, since, until)
    else:
        rows = rollup_rows(conn, scope, since, until, by_agent=False)
    for m in rows:
        key = bucket_start(m["bucket"], interval_s)
        for acc in (buckets.get(key), total):
            if acc is None:
                continue
            _add(acc, m)
            if hourly:
                acc["hist"] = [
                    a + (m[b] or 0) for a, b in zip(acc["hist"], DURATION_BUCKETS, strict=True)
                ]
    if hourly:
        series = [{"bucket": s, **_finish(buckets[s], None)} for s in starts]
        summary = _finish(total, None)
    else:
        by_second = _durations(conn, scope, since, until, interval_s)
        all_durations = [d for durations in by_second.values() for d in durations]
        per_bucket = {s: by_second.get(epoch_seconds(s), []) for s in starts}
        if scope.project_id is not None:  # raw path: averages from the same runs
            for start, values in buckets.items():
                values["duration_sum"] = sum(per_bucket[start])
                values["duration_count"] = len(per_bucket[start])
            total["duration_sum"], total["duration_count"] = sum(all_durations), len(all_durations)
        series = [{"bucket": s, **_finish(buckets[s], per_bucket[s])} for s in starts]
        summary = _finish(total, all_durations)
    summary["agents_by_status"] = agents_by_status(conn, scope)
    return {"since": since, "series": series, "summary": summary}


def _hourly_rows(
    conn: Connection, scope: Scope, since: datetime, until: datetime
) -> Iterator[dict[str, Any]]:
    """Sums per hour of ``hourly_rollups`` (all filters apply, project included).

    Without a filter, one fleet row per hour; else the agents' rows.
    """
    h = hourly_rollups
    fleet = fleet_wide(scope) and scope.project_id is None
    hours = hour_list(floor_hour(since), until)
    query = rollup_query(h, scope, hours, ["hour"], HOURLY_COUNTERS, fleet)
    if scope.project_id is None:
        query = query.where(h.c.project_id == ALL_PROJECTS)
    for row in conn.execute(query):
        out = dict(row._mapping)
        out["bucket"] = out.pop("hour")
        out["duration_sum"] = out.pop("task_duration_ms_sum")
        out["duration_count"] = out.pop("task_duration_count")
        out["cost_unknown_calls"] = (out["llm_calls"] or 0) - (out["priced_calls"] or 0)
        yield out


def _raw_rows(
    conn: Connection, scope: Scope, since: datetime, until: datetime
) -> Iterator[dict[str, Any]]:
    """Counter increments per event and LLM call of the window (project filter path)."""
    bounded = replace(scope, since=since, until=until)
    e = events
    query: Select[Any] = select(e.c.ts, e.c.severity, e.c.event_type)
    zero = {name: 0 for name in COUNTERS} | {"duration_sum": 0, "duration_count": 0}
    for ts, severity, event_type in conn.execute(
        where_scope(query, e, bounded, time_column=e.c.ts)
    ):
        yield zero | {
            "bucket": ts,
            "events": 1,
            "errors": severity == "error",
            "tasks_started": event_type == "task_started",
            "tasks_completed": event_type == "task_completed",
            "tasks_failed": event_type == "task_failed",
        }
    c = llm_calls
    calls: Select[Any] = select(c.c.ts, c.c.tokens_in, c.c.tokens_out, c.c.cost_usd)
    for row in conn.execute(where_scope(calls, c, bounded, time_column=c.c.ts)):
        yield (
            zero
            | {"bucket": row.ts, "llm_calls": 1, "cost_usd": row.cost_usd}
            | {"cost_unknown_calls": row.cost_usd is None}
            | {
                "tokens_in": row.tokens_in,
                "tokens_out": row.tokens_out,
            }
        )


def _durations(
    conn: Connection, scope: Scope, since: datetime, until: datetime, interval_s: int
) -> dict[int, list[int]]:
    """Durations (ms) of the finished runs that started in the window, by the start of
    their ``interval_s`` bucket in whole seconds since the epoch.

    The database buckets the runs and joins each bucket's durations into one text, so
    Python parses no timestamp and builds no row per run: at 10 M events both were most
    of the read's time (5,000 runs an hour), and the row objects brought the garbage
    collector's full passes (60 ms and more each) every dozen requests. On SQLite the
    runs come from the ``(tenant_id, first_event_at, duration_ms)`` index alone.
    """
    t = task_runs
    runs: Select[Any] = select(
        sql_epoch_seconds(t.c.first_event_at).label("started"), t.c.duration_ms
    ).where(t.c.duration_ms.is_not(None))
    bounded = replace(scope, since=since, until=until)
    runs = where_scope(runs, t, bounded, time_column=t.c.first_event_at)
    newest = runs.order_by(t.c.first_event_at.desc()).limit(MAX_DURATION_SAMPLES).subquery()
    bucket = (newest.c.started - newest.c.started % interval_s).label("bucket")
    query = select(bucket, joined_ints(newest.c.duration_ms)).group_by(bucket)
    return {int(b): [int(d) for d in text.split(",")] for b, text in conn.execute(query)}


def agents_by_status(conn: Connection, scope: Scope) -> dict[str, int]:
    """How many agents are in each status right now."""
    query = select(agents.c.status, func.count().label("n"))
    unbounded = replace(scope, since=None, until=None, project_id=None)
    query = where_scope(query, agents, unbounded, project=False).group_by(agents.c.status)
    return {row.status: int(row.n) for row in conn.execute(query)}
