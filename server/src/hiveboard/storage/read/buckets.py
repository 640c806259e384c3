"""Time buckets shared by the metrics and cost readers, and the minute-rollup reader.

Buckets are aligned to the epoch in UTC, so a bucket of an hour or more starts on a
whole hour and an hourly rollup row always falls inside exactly one bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, select

from hiveboard.storage.derived_hourly import ALL_AGENTS
from hiveboard.storage.read.filters import Scope, fleet_wide, where_scope
from hiveboard.storage.tables import rollups

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
    "cost_unknown_calls",  # how many calls cost_usd lacks: unpriced is never a silent $0.00
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(ts: datetime) -> int:
    """Whole seconds from the epoch to ``ts``."""
    return int((ts - EPOCH).total_seconds())


def bucket_start(ts: datetime, interval_s: int) -> datetime:
    """Start of the ``interval_s`` bucket holding ``ts`` (aligned to the epoch, UTC)."""
    seconds = epoch_seconds(ts)
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


def rollup_rows(
    conn: Connection, scope: Scope, since: datetime, until: datetime, by_agent: bool
) -> Iterable[Any]:
    """Minute-rollup sums per minute (and agent): they have no project, so none applies.

    Without an agent, environment or group filter and not per agent, the fleet rows
    (one per minute, on the ``(tenant_id, agent_id, bucket)`` key); else the agents'
    rows, never the fleet rows among them.
    """
    r = rollups
    keys = [r.c.bucket, r.c.agent_id] if by_agent else [r.c.bucket]
    query: Select[Any] = select(
        *keys,
        *(func.sum(r.c[name]).label(name) for name in COUNTERS),
        func.sum(r.c.task_duration_ms_sum).label("duration_sum"),
        func.sum(r.c.task_duration_count).label("duration_count"),
    )
    bounded = replace(scope, since=since, until=until, project_id=None)
    query = where_scope(query, r, bounded, time_column=r.c.bucket, project=False)
    fleet = fleet_wide(scope) and not by_agent
    query = query.where(r.c.agent_id == ALL_AGENTS if fleet else r.c.agent_id != ALL_AGENTS)
    return (row._mapping for row in conn.execute(query.group_by(*keys)))
