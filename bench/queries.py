"""Query latency of a real ``hiveboard serve`` on SQLite holding 1 M (or 10 M) events.

Seeds a fresh SQLite database through the storage layer (``validate_batch`` +
``SqlStorage.ingest`` with 500-event batches: the server's own write path minus HTTP, so
every derived table is filled exactly as in production), then starts ``hiveboard
serve`` on it and times, over HTTP on loopback with one keep-alive session, the
endpoints the dashboard calls most: fleet list, task list, task timeline, cost summary
and metrics. Prints p50/p95 per endpoint, the server's RSS and bytes on disk per event.

    .venv/bin/python bench/queries.py                      # 1 M events (~4-5 min)
    .venv/bin/python bench/queries.py --events 10000000    # 10 M events
    .venv/bin/python bench/queries.py --quick              # 5 k events, smoke run
    .venv/bin/python bench/queries.py --data-dir build/bench-1m   # seed once, then reuse

With ``--data-dir`` a database seeded by an earlier run is reused as it is (only
migrated to the newest schema, which backfills any new derived tables, and timed), so
one slow seeding serves every before/after comparison; a directory without a database
is seeded and kept. The time windows end a minute after the newest stored event (where
"now" was when seeding finished), so reused data does not age and a seeding cut short
by its budget is still measured over full-density hours.

Events are spread over the last 7 days for 200 agents (see eventmix.py for the mix), so
the 24 h windows of the cost summary hold about a seventh of them. Loopback only; every
loop is bounded in count and in time (``--seed-budget`` caps seeding: the run then
measures whatever was stored and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT)]

import eventmix  # noqa: E402
from hiveboard.bootstrap import bootstrap_if_empty  # noqa: E402
from hiveboard.ingest.validate import validate_batch  # noqa: E402
from hiveboard.storage.sql import SqlStorage  # noqa: E402
from hiveboard.storage.tables import events  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from tests_e2e.hbserver import HiveBoardProcess  # noqa: E402

P95_TARGET_MS = 50.0
RSS_TARGET_MB = 300.0
SEED_BATCH = 500


def seed(storage: SqlStorage, tenant_id: str, events: int, agents: int, budget: float) -> int:
    """Store ``events`` events through ``storage.ingest``; returns how many were stored."""
    per_agent = max(1, events // agents)
    end = eventmix.utcnow() - timedelta(minutes=1)
    span = timedelta(days=7)
    step = span / per_agent
    sims = eventmix.fleet(agents, 1, end - span, step)
    stored = 0
    started = time.monotonic()
    last_report = started
    for body in eventmix.batches(sims, SEED_BATCH):
        if stored >= events or time.monotonic() - started > budget:
            break
        body["events"] = body["events"][: max(1, events - stored)]
        batch = validate_batch(body, now=eventmix.utcnow())
        storage.ingest(tenant_id, batch, now=eventmix.utcnow())
        stored += len(batch.events)
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            rate = stored / (last_report - started)
            print(f"  seeded {stored:,} events ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    return stored


def _reusable(storage: SqlStorage) -> tuple[str, str] | None:
    """(tenant id, a fresh live key) of an already seeded database, else None."""
    with storage.engine.connect() as conn:
        has_events = conn.execute(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'events'")
        ).scalar_one()
        if not has_events or not conn.execute(text("SELECT 1 FROM events LIMIT 1")).first():
            return None
    tenant = storage.list_tenants()[0]
    return tenant.id, storage.create_api_key(tenant.id, "live", "bench")[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def newest_event(storage: SqlStorage, tenant_id: str) -> datetime:
    """Timestamp of the tenant's newest stored event (read from the (tenant, ts) index)."""
    with storage.engine.connect() as conn:
        newest = conn.execute(
            select(func.max(events.c.ts)).where(events.c.tenant_id == tenant_id)
        ).scalar_one()
    return newest or eventmix.utcnow()


def time_endpoints(
    server: HiveBoardProcess,
    task_ids: list[str],
    requests_each: int,
    budget: float,
    until: datetime,
) -> dict[str, list[float]]:
    """Round-robin over the endpoints (so drift hits all alike); latencies in ms.

    Windows are given explicitly and end at ``until`` ("now" for the stored data).
    """
    rng = random.Random(7)

    def last(hours: int) -> dict[str, str]:
        return {"since": (until - timedelta(hours=hours)).isoformat(), "until": until.isoformat()}

    endpoints: dict[str, Any] = {
        "fleet list  GET /v1/agents?sort=attention&limit=200": lambda: (
            "/v1/agents",
            {"sort": "attention", "limit": 200},
        ),
        "task list   GET /v1/tasks": lambda: ("/v1/tasks", {}),
        "timeline    GET /v1/tasks/{id}/timeline": lambda: (
            f"/v1/tasks/{rng.choice(task_ids)}/timeline",
            {},
        ),
        "cost        GET /v1/cost (24 h)": lambda: ("/v1/cost", last(24)),
        "metrics     GET /v1/metrics (1 h, 5m)": lambda: ("/v1/metrics", last(1)),
        "metrics     GET /v1/metrics?since=24h&interval=1h": lambda: (
            "/v1/metrics",
            {**last(24), "interval": "1h"},
        ),
    }
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {server.key}"
    samples: dict[str, list[float]] = {name: [] for name in endpoints}
    deadline = time.monotonic() + budget
    for round_no in range(requests_each + 3):  # 3 warm-up rounds, not counted
        for name, make in endpoints.items():
            path, params = make()
            t0 = time.perf_counter()
            resp = session.get(server.url + path, params=params, timeout=60)
            elapsed_ms = (time.perf_counter() - t0) * 1000
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.text[:500]}")
            if round_no >= 3:
                samples[name].append(elapsed_ms)
        if time.monotonic() > deadline:
            print("  query budget exhausted; fewer requests than asked", file=sys.stderr)
            break
    return samples


def sample_task_ids(storage: SqlStorage, n: int = 500) -> list[str]:
    """Task ids spread over the stored range (for timeline requests)."""
    with storage.engine.connect() as conn:
        max_pk = conn.execute(text("SELECT max(rowid) FROM task_runs")).scalar() or 0
        picks = sorted(random.Random(3).sample(range(1, max_pk + 1), min(n, max_pk)))
        rows = conn.execute(
            text(f"SELECT task_id FROM task_runs WHERE rowid IN ({','.join(map(str, picks))})")
        ).all()
    return [r[0] for r in rows]


def disk_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("hiveboard.db*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per endpoint")
    parser.add_argument("--seed-budget", type=float, default=3600.0, help="seconds, at most")
    parser.add_argument(
        "--quick", action="store_true", help="5 k events, 20 agents, 10 requests each"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="reuse the database in this directory (seed it first when it has none); kept",
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.requests = min(args.events, 5_000), 10
        args.agents = min(args.agents, 20)

    if args.data_dir is not None:
        args.keep = True
        args.data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="hiveboard-bench-queries-"))
    server = None
    try:
        storage = SqlStorage(f"sqlite:///{data_dir / 'hiveboard.db'}")
        reused = _reusable(storage)
        t0 = time.monotonic()
        storage.migrate()
        if reused is not None:
            tenant_id, key = reused
            print(
                f"reusing {data_dir} (migrated in {time.monotonic() - t0:.1f} s)", file=sys.stderr
            )
            with storage.engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            args.events, seed_s = stored, 0.0
        else:
            created = bootstrap_if_empty(storage)
            assert created is not None
            tenant_id, key = created.tenant_id, created.ingest_key
            print(f"seeding {args.events:,} events for {args.agents} agents ...", file=sys.stderr)
            t0 = time.monotonic()
            stored = seed(storage, tenant_id, args.events, args.agents, args.seed_budget)
            seed_s = time.monotonic() - t0
        task_ids = sample_task_ids(storage)
        until = newest_event(storage, tenant_id) + timedelta(minutes=1)
        with storage.engine.connect() as conn:
            counted = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            runs = conn.execute(text("SELECT count(*) FROM task_runs")).scalar_one()
        storage.close()
        on_disk = disk_bytes(data_dir)

        server = HiveBoardProcess.start(data_dir, key=key)
        rss_start = server.rss_bytes()
        samples = time_endpoints(server, task_ids, args.requests, budget=600, until=until)
        rss_end, rss_peak = server.rss_bytes(), server.rss_bytes("VmHWM")

        print()
        print(f"## bench/queries.py — SQLite, {counted:,} stored events, {runs:,} task runs")
        if reused is not None:
            print(f"reused {data_dir} ({stored:,} events seeded by an earlier run)")
        else:
            print(
                f"seeded {stored:,} events through SqlStorage.ingest in {seed_s:.0f} s "
                f"({stored / seed_s:,.0f} events/s)"
                + ("" if stored >= args.events else f"  [budget hit: asked {args.events:,}]")
            )
        print(f"time windows end at {until:%Y-%m-%d %H:%M:%S} UTC (newest stored event + 1 min)")
        print()
        print(f"| endpoint | n | p50 ms | p95 ms | max ms | p95 < {P95_TARGET_MS:.0f} ms |")
        print("|---|---:|---:|---:|---:|---|")
        for name, values in samples.items():
            p95 = percentile(values, 0.95)
            verdict = "MET" if p95 < P95_TARGET_MS else "MISSED"
            print(
                f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p95:.1f} "
                f"| {max(values):.1f} | {verdict} |"
            )
        mb = 1024 * 1024
        print()
        rss_verdict = "MET" if rss_peak / mb < RSS_TARGET_MB else "MISSED"
        print(
            f"server RSS: {rss_start / mb:.0f} MB after start, {rss_end / mb:.0f} MB after "
            f"the queries, peak {rss_peak / mb:.0f} MB (target < {RSS_TARGET_MB:.0f} MB: "
            f"{rss_verdict})"
        )
        print(
            f"on disk: {on_disk / mb:,.0f} MB, {on_disk / max(counted, 1):,.0f} bytes per "
            "stored event (events + derived tables + indexes)"
        )
        # Other work on this 2-core machine skews every figure: say how busy it was.
        print(f"load average (1/5/15 min) at the end: {os.getloadavg()}")
        print(json.dumps({"events": counted, "quick": args.quick}), file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"data kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
