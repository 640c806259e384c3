"""Metrics read from the fleet and per-agent minute rollups equal the raw rows.

Four agents in two environments and two groups (three in one group) send tasks, errors
and LLM calls over two hours, alone and several to a transaction, one batch twice.
Windows start and end at whole and partial minutes; each metric, per 1- and 5-minute
bucket and in the summary, is compared with one computed here from ``events``,
``task_runs`` and ``llm_calls``, without a filter (the fleet rows) and under every
filter (the agents' rows). A minute counts when its start lies in the window; the
percentiles come from the runs that started in it.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hbtest import T0, TenantKeys, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage import migrations, write
from hiveboard.storage.read.buckets import bucket_range, bucket_start, rollup_rows
from hiveboard.storage.read.cost_series import cost_timeseries
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.read.metrics import metrics
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import ROLLUP_COUNTERS, agents, events, llm_calls, rollups, task_runs
from sqlalchemy import select

AGENTS = {
    "a1": {"environment": "production", "group": "g1"},
    "a2": {"environment": "production", "group": "g2"},
    "a3": {"environment": "staging", "group": "g1"},
    "a4": {"environment": "production", "group": "g1"},
}
NOW = T0 + timedelta(hours=3)
TASKS = 36


def agent_events(n: int, agent_id: str) -> list[dict[str, Any]]:
    """Agent ``n``'s tasks over two hours: starts, ends (some failed), calls, errors."""
    out = []
    for k in range(TASKS):
        start = k * 197.0 + n * 41.3
        run = {"task_id": f"{agent_id}-t{k}"}
        out.append(ev("task_started", start, **run))
        out.append(llm(start + 0.5, tokens_in=100 + k, tokens_out=k % 9, **run))
        if k % 3 == 0:
            out.append(llm(start + 1.5, tokens_in=7, tokens_out=3, cost=0.01 * (k % 5), **run))
        if k % 4 == n % 4:  # a model no price table knows, and no cost: unknown
            out.append(llm(start + 2.5, "my-private-model", tokens_in=11, tokens_out=2, **run))
        if k % 5 == 2:
            out.append(ev("custom", start + 2, severity="error", payload={"summary": "boom"}))
        end = start + 3 + (k * 37 + n * 11) % 290
        if k % 4 == 3:
            out.append(ev("task_failed", end, **run))
        elif k != TASKS - 1:  # the newest task stays open
            out.append(ev("task_completed", end, **run))
        out.append(ev("heartbeat", start + 60))
    return sorted(out, key=lambda e: e["timestamp"])


def ingest(storage: SqlStorage, tenant_id: str, agent_id: str, evs: list[dict[str, Any]]) -> Any:
    b = body(*evs, agent_id=agent_id, **AGENTS[agent_id])
    return storage.ingest(tenant_id, validate_batch(b, now=NOW), now=NOW)


def seed(storage: SqlStorage, tenant_id: str) -> None:
    """Every agent's events in batches of 25: the first batch of each agent alone, the
    rest with every agent's batch of the same rank in one transaction; one batch twice."""
    parts = {
        agent_id: [evs[i : i + 25] for i in range(0, len(evs), 25)]
        for n, agent_id in enumerate(AGENTS)
        for evs in [agent_events(n, agent_id)]
    }
    for agent_id, batches in parts.items():
        ingest(storage, tenant_id, agent_id, batches[0])
    for rank in itertools.count(1):
        group = [
            (tenant_id, validate_batch(body(*b[rank], agent_id=a, **AGENTS[a]), now=NOW), NOW)
            for a, b in parts.items()
            if rank < len(b)
        ]
        if not group:
            break
        with storage.write_tx() as conn:
            write.apply_batches(conn, group)
    retried = ingest(storage, tenant_id, "a2", parts["a2"][1])
    assert not retried.stored and retried.duplicates == len(parts["a2"][1])


def minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def nearest_rank(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(1, -(-q * len(ordered) // 100)) - 1])


def expected(
    storage: SqlStorage, scope: Scope, since: datetime, until: datetime, interval: int
) -> dict[str, Any]:
    """Series and summary summed from the raw rows in ``scope``."""
    wanted = {"agent_id": scope.agent_id, "environment": scope.environment}
    wanted["group_name"] = scope.group

    def matching(query: Any) -> list[Any]:
        with storage.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(query)]
        return [r for r in rows if all(v is None or r[k] == v for k, v in wanted.items())]

    tid = scope.tenant_id
    e, t, c, a = events, task_runs, llm_calls, agents
    evs = matching(select(e).where(e.c.tenant_id == tid))
    runs = matching(select(t).where(t.c.tenant_id == tid))
    calls = matching(
        select(c, a.c.environment, a.c.group_name)
        .join(a, (a.c.tenant_id == c.c.tenant_id) & (a.c.agent_id == c.c.agent_id))
        .where(c.c.tenant_id == tid)
    )
    cells: dict[datetime, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    durations: dict[datetime, list[int]] = defaultdict(list)

    def cell(ts: datetime) -> dict[str, Any] | None:
        m = minute(ts)
        return cells[bucket_start(m, interval)] if since <= m < until else None

    for r in evs:
        if (acc := cell(r["ts"])) is not None:
            acc["events"] += 1
            acc["errors"] += r["severity"] == "error"
            acc["tasks_started"] += r["event_type"] == "task_started"
    for r in runs:
        if r["ended_at"] is not None and (acc := cell(r["ended_at"])) is not None:
            acc["tasks_completed" if r["status"] == "completed" else "tasks_failed"] += 1
            acc["duration_sum"] += r["duration_ms"]
            acc["duration_count"] += 1
        if r["duration_ms"] is not None and since <= r["first_event_at"] < until:
            durations[bucket_start(r["first_event_at"], interval)].append(r["duration_ms"])
    for r in calls:
        if (acc := cell(r["ts"])) is not None:
            acc["llm_calls"] += 1
            acc["tokens_in"] += r["tokens_in"]
            acc["tokens_out"] += r["tokens_out"]
            acc["cost_usd"] += r["cost_usd"] or 0.0
            acc["cost_unknown_calls"] += r["cost_source"] == "unknown"

    def finish(acc: dict[str, Any], runs_started: list[int]) -> dict[str, Any]:
        done = acc["tasks_completed"] + acc["tasks_failed"]
        out = {k: acc[k] for k in ("events", "errors", "tasks_started", "tasks_completed")}
        out |= {k: acc[k] for k in ("tasks_failed", "llm_calls", "tokens_in", "tokens_out")}
        out["cost_unknown_calls"] = acc["cost_unknown_calls"]
        return out | {
            "success_rate": acc["tasks_completed"] / done if done else None,
            "duration_p50_ms": nearest_rank(runs_started, 50),
            "duration_p95_ms": nearest_rank(runs_started, 95),
            "avg_duration_ms": (
                pytest.approx(acc["duration_sum"] / acc["duration_count"])
                if acc["duration_count"]
                else None
            ),
            "cost_usd": pytest.approx(acc["cost_usd"], abs=1e-9),
        }

    total: dict[str, Any] = defaultdict(int)
    for acc in cells.values():
        for k, v in acc.items():
            total[k] += v
    starts = bucket_range(since, until, interval)
    return {
        "series": [{"bucket": s, **finish(cells[s], durations[s])} for s in starts],
        "summary": finish(total, [d for ds in durations.values() for d in ds]),
    }


def actual(
    storage: SqlStorage, scope: Scope, since: datetime, until: datetime, interval: int
) -> dict[str, Any]:
    with storage.engine.connect() as conn:
        got = metrics(conn, scope, since, until, interval)
    assert got["since"] == since
    got["summary"].pop("agents_by_status")
    for values in (*got["series"], got["summary"]):  # PostgreSQL sums bigints as numeric
        if isinstance(values["avg_duration_ms"], Decimal):
            values["avg_duration_ms"] = float(values["avg_duration_ms"])
    return {"series": got["series"], "summary": got["summary"]}


WINDOWS = [
    (T0, T0 + timedelta(hours=1)),  # whole minutes
    (T0 + timedelta(minutes=5, seconds=30), T0 + timedelta(hours=1, minutes=7, seconds=15)),
    (T0 + timedelta(minutes=59, seconds=59), T0 + timedelta(hours=2, minutes=1)),
    (T0 - timedelta(minutes=30), T0 + timedelta(minutes=20, seconds=1)),  # before the data
    (T0 + timedelta(minutes=10, seconds=5), T0 + timedelta(minutes=10, seconds=50)),  # no start
    (T0 + timedelta(minutes=95), T0 + timedelta(hours=3)),  # the end of the data, then none
]
FILTERS: list[dict[str, str]] = [
    {},
    {"agent_id": "a3"},
    {"environment": "production"},
    {"group": "g1"},
    {"environment": "production", "group": "g1"},
]


@pytest.mark.parametrize(("window", "where"), list(itertools.product(WINDOWS, FILTERS)))
def test_metrics_equal_the_raw_rows(
    storage: SqlStorage, tenant: TenantKeys, window: tuple[datetime, datetime], where: dict
) -> None:
    seed(storage, tenant.tenant_id)
    scope = replace(Scope(tenant.tenant_id), **where)
    for interval in (60, 300):
        got = actual(storage, scope, *window, interval)
        assert got == expected(storage, scope, *window, interval), (interval, where)
    if not where:  # the data is really there, every kind of cost among it
        summary = actual(storage, scope, T0, NOW, 300)["summary"]
        assert summary["events"] > 4 * TASKS * 3
        assert summary["llm_calls"] > summary["cost_unknown_calls"] >= 4 * TASKS // 4


def rollup_table(
    storage: SqlStorage, counters: tuple[str, ...] = ROLLUP_COUNTERS
) -> tuple[dict[Any, dict[str, Any]], dict[Any, Any]]:
    """The fleet rows by (tenant, minute), and the sums of the agents' rows by the same
    (``counters`` only: an older revision lacks the newer ones)."""
    fleet: dict[Any, dict[str, Any]] = {}
    summed: dict[Any, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(counters, 0))
    r = rollups
    query = select(r.c.tenant_id, r.c.agent_id, r.c.bucket, *(r.c[c] for c in counters))
    with storage.engine.connect() as conn:
        for r in conn.execute(query).mappings():
            key = (r["tenant_id"], r["bucket"])
            if r["agent_id"] == "":
                assert key not in fleet
                fleet[key] = {c: r[c] for c in counters}
                continue
            for c in counters:
                summed[key][c] += r[c]
    for rows in (fleet, summed):
        for counters in rows.values():
            counters["cost_usd"] = pytest.approx(counters["cost_usd"], abs=1e-9)
    return fleet, dict(summed)


def test_fleet_rows_are_the_sums_of_the_agents_rows(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    seed(storage, tenant.tenant_id)
    other = storage.create_tenant("other")
    ingest(storage, other.id, "a1", agent_events(0, "a1")[:40])
    fleet, summed = rollup_table(storage)
    assert fleet == summed
    assert {t for t, _ in fleet} == {tenant.tenant_id, other.id}
    scope = Scope(tenant.tenant_id)
    since, until = T0 - timedelta(minutes=1), NOW
    with storage.engine.connect() as conn:
        from_fleet = [dict(r) for r in rollup_rows(conn, scope, since, until, by_agent=False)]
        per_agent = list(rollup_rows(conn, scope, since, until, by_agent=True))
    assert len(per_agent) > len(from_fleet) > 100
    assert {r["agent_id"] for r in per_agent} == set(AGENTS)  # never the fleet rows
    by_minute: dict[datetime, Any] = defaultdict(lambda: defaultdict(int))
    for r in per_agent:
        for k, v in r.items():
            if k not in ("bucket", "agent_id"):
                by_minute[r["bucket"]][k] += v
    for r in from_fleet:
        r["cost_usd"] = pytest.approx(r["cost_usd"], abs=1e-9)
    assert {r.pop("bucket"): r for r in from_fleet} == by_minute


def test_a_retried_batch_is_counted_once(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    first = [ev("heartbeat", 1), ev("task_started", 2, task_id="t"), llm(3, tokens_in=5)]
    ingest(storage, tid, "a1", first)
    again = ingest(storage, tid, "a1", first)  # the SDK retrying a lost answer
    overlap = ingest(storage, tid, "a1", [*first[1:], ev("heartbeat", 4)])  # half new
    ingest(storage, tid, "a3", [ev("heartbeat", 5)])
    assert (len(again.stored), len(overlap.stored)) == (0, 1)
    fleet, summed = rollup_table(storage)
    assert fleet == summed
    assert fleet[(tid, T0)] | {"cost_usd": 0} == dict.fromkeys(ROLLUP_COUNTERS, 0) | {
        "events": 5,
        "tasks_started": 1,
        "llm_calls": 1,
        "tokens_in": 5,
    }


def test_concurrent_ingest_keeps_the_fleet_rows_whole(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """Requests of many agents at once (grouped and ordered by the writers however
    they come): each fleet minute still sums every agent exactly once."""
    tid = tenant.tenant_id
    names = [f"agent-{i}" for i in range(8)]
    work = [
        (name, [ev("heartbeat", 20 * j + i + 0.5 * k) for k in range(5)])
        for j in range(6)
        for i, name in enumerate(names)
    ]
    results: list[Any] = [None] * len(work)

    def send(i: int) -> None:
        name, evs = work[i]
        b = body(*evs, agent_id=name, group=f"g{i % 3}")
        results[i] = storage.ingest(tid, validate_batch(b, now=NOW), now=NOW)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(work))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert [len(r.stored) for r in results] == [5] * len(work)
    fleet, summed = rollup_table(storage)
    assert fleet == summed
    assert sum(r["events"] for r in fleet.values()) == 5 * len(work)


def test_migration_backfills_the_fleet_rows_ingest_keeps(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    seed(storage, tenant.tenant_id)
    kept = rollup_table(storage)
    migrations.downgrade(storage.engine, "0003")
    older = tuple(c for c in ROLLUP_COUNTERS if c != "cost_unknown_calls")
    fleet, summed = rollup_table(storage, older)
    assert fleet == {} and summed == {k: {c: v[c] for c in older} for k, v in kept[1].items()}
    migrations.upgrade(storage.engine)
    assert rollup_table(storage) == kept


def test_migration_backfills_the_unknown_cost_calls_ingest_counts(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """Revision 0005 counts each minute's unknown-cost calls from ``llm_calls``, in the
    agents' rows and the fleet rows, exactly as ingest does."""
    seed(storage, tenant.tenant_id)
    other = storage.create_tenant("other")
    ingest(storage, other.id, "a1", agent_events(0, "a1")[:40])
    with storage.engine.connect() as conn:
        kept = {tuple(r) for r in conn.execute(select(rollups))}
    assert sum(r["cost_unknown_calls"] for r in rollup_table(storage)[0].values()) > 0
    migrations.downgrade(storage.engine, "0004")
    migrations.upgrade(storage.engine)
    with storage.engine.connect() as conn:
        assert {tuple(r) for r in conn.execute(select(rollups))} == kept


def test_runs_are_bucketed_by_their_start_to_the_microsecond(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """A run that starts a microsecond before a bucket boundary counts in the bucket
    before it (its start is read as whole seconds since the epoch, floored)."""
    tid = tenant.tenant_id
    edge = 300 - 0.000001  # T0 + 4:59.999999
    evs = [
        ev("task_started", edge, task_id="late"),
        ev("task_completed", edge + 1, task_id="late", duration_ms=1000),
        ev("task_started", 300, task_id="on-time"),
        ev("task_completed", 302, task_id="on-time", duration_ms=2000),
    ]
    ingest(storage, tid, "a1", evs)
    got = actual(storage, Scope(tid), T0, T0 + timedelta(minutes=10), 300)
    first, second = got["series"]
    assert (first["duration_p50_ms"], second["duration_p50_ms"]) == (1000.0, 2000.0)
    assert got["summary"]["duration_p95_ms"] == 2000.0


@pytest.mark.parametrize("where", [{}, {"group": "g1"}])
@pytest.mark.parametrize("group_by", [None, "agent"])
def test_cost_series_by_minutes_equal_the_raw_calls(
    storage: SqlStorage, tenant: TenantKeys, where: dict, group_by: str | None
) -> None:
    """The cost series under an hour per bucket reads the same minute rows: the fleet
    rows for the whole fleet, the agents' rows when split by agent or filtered."""
    seed(storage, tenant.tenant_id)
    since, until = T0 + timedelta(minutes=7, seconds=30), T0 + timedelta(hours=1, minutes=2)
    scope = replace(Scope(tenant.tenant_id), **where)
    with storage.engine.connect() as conn:
        got = cost_timeseries(conn, scope, since, until, 300, group_by)
        calls = conn.execute(
            select(llm_calls.c.ts, llm_calls.c.agent_id, llm_calls.c.tokens_in).where(
                llm_calls.c.tenant_id == tenant.tenant_id
            )
        ).all()
    want: dict[tuple[datetime, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for ts, agent_id, tokens_in in calls:
        in_scope = AGENTS[agent_id]["group"] == where.get("group", AGENTS[agent_id]["group"])
        if in_scope and since <= minute(ts) < until:
            acc = want[(bucket_start(ts, 300), agent_id if group_by else None)]
            acc[0] += 1
            acc[1] += tokens_in
    have = {(p["bucket"], p["key"]): [p["llm_calls"], p["tokens_in"]] for p in got}
    assert {k: v for k, v in have.items() if v != [0, 0]} == dict(want)


def test_percentiles_use_the_newest_runs_beyond_the_sample_cap(
    storage: SqlStorage, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hiveboard.storage.read.metrics.MAX_DURATION_SAMPLES", 2)
    tid = tenant.tenant_id
    evs = []
    for k, duration in enumerate((9000, 100, 200)):  # the oldest run is the longest
        evs.append(ev("task_started", 60 * k, task_id=f"t{k}"))
        evs.append(ev("task_completed", 60 * k + 1, task_id=f"t{k}", duration_ms=duration))
    ingest(storage, tid, "a1", evs)
    got = actual(storage, Scope(tid), T0, T0 + timedelta(minutes=10), 300)
    assert got["summary"]["duration_p95_ms"] == 200.0
    assert got["series"][0]["duration_p50_ms"] == 100.0
