"""Sustained ingest throughput of a real ``hiveboard serve``, on SQLite and PostgreSQL.

For each backend: a fresh ``hiveboard serve`` on loopback, then 4 client processes each
posting prebuilt 100-event bodies (unique event ids, a realistic mix: eventmix.py) on one
keep-alive ``http.client`` connection, back to back, for ``--seconds`` (30). Then, in the same run,
the floor: the same kind of rows, already validated, inserted into the same tables by one
process calling ``SqlStorage.ingest`` directly (no HTTP, no JSON, no validation), on a
fresh database of the same backend. Prints events/s, the ratio to the floor and bytes on
disk per stored event, against the targets (SQLite >= 25,000/s, PostgreSQL >= 15,000/s,
>= 1/3 of the floor).

    .venv/bin/python bench/ingest.py                 # 30 s per backend (~3 min in all)
    .venv/bin/python bench/ingest.py --seconds 10
    .venv/bin/python bench/ingest.py --backends sqlite
    .venv/bin/python bench/ingest.py --quick         # 2 s, small floor: smoke run
    .venv/bin/python bench/ingest.py --workers 1,2   # each backend with 1, then 2 processes

PostgreSQL is a throw-away server started from the Debian binaries by
server/tests/pgserver.py (as the ``postgres`` user when run as root), configured like the
test fixture: fsync, synchronous_commit and full_page_writes off, so PostgreSQL figures
are an upper bound for a durable setup. SQLite runs as shipped (WAL,
synchronous=NORMAL). Loopback only; each client stops at its deadline or when its
prebuilt bodies run out, whichever comes first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT)]

import eventmix  # noqa: E402

from tests_e2e.hbserver import (  # noqa: E402
    HiveBoardProcess,
    create_pg_database,
    pg_server_class,
)

TARGETS = {"sqlite": 25_000.0, "postgres": 15_000.0}
FLOOR_RATIO_TARGET = 1 / 3


@dataclass
class ClientResult:
    accepted: int
    requests: int
    failures: int
    elapsed: float
    latencies_ms: list[float]
    ran_out: bool
    cpu_seconds: float


def client_main(
    idx: int,
    url: str,
    key: str,
    seconds: float,
    batch_size: int,
    prebuild_events: int,
    agents: int,
    id_space: int,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """One load-generating process: prebuild bodies, wait for ``go``, post until the end.

    Posts with ``http.client`` on one keep-alive connection: ``requests`` burns about
    four times its CPU per request, which on a 2-core machine is taken from the server.
    """
    sims = eventmix.fleet(
        agents,
        id_space,
        eventmix.utcnow() - timedelta(hours=2),
        timedelta(milliseconds=1),
        first_index=idx * agents,
    )
    bodies: list[bytes] = []
    built = 0
    for body in eventmix.batches(sims, batch_size):
        if built >= prebuild_events:
            break
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
        built += len(body["events"])
    address = urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    ready.put(idx)
    go.wait(120)
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    accepted = failures = sent = 0
    latencies: list[float] = []
    for raw in bodies:
        if time.perf_counter() >= deadline:
            break
        t0 = time.perf_counter()
        status, answer = _post(conn, raw, headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        sent += 1
        if status == 200:
            accepted += json.loads(answer)["accepted"]
        else:
            failures += 1
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    conn.close()
    ran_out = sent == len(bodies) and elapsed < seconds
    out.put((idx, ClientResult(accepted, sent, failures, elapsed, latencies, ran_out, cpu)))


def _post(
    conn: http.client.HTTPConnection, raw: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """POST one body to /v1/ingest; a dropped connection counts as status 0 (a failure)."""
    try:
        conn.request("POST", "/v1/ingest", body=raw, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (http.client.HTTPException, OSError):
        conn.close()  # the next request opens a new connection
        return 0, b""


def run_clients(
    server: HiveBoardProcess, database: int | None, args: argparse.Namespace, id_base: int
) -> dict[str, Any]:
    """Start the clients, let them post for ``args.seconds``, sum up what they saw.

    ``database``: the PostgreSQL server's main process, to measure its CPU too.
    """
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per_client = int(args.prebuild_rate * args.seconds / args.clients) + 1000
    procs = [
        ctx.Process(
            target=client_main,
            args=(
                i,
                server.url,
                server.key,
                args.seconds,
                args.batch,
                per_client,
                args.agents_per_client,
                id_base + i,
                ready,
                go,
                out,
            ),
        )
        for i in range(args.clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)  # every client has built its bodies
    roots = [server.pid] + ([database] if database else [])
    cpu, machine = [tree_cpu_seconds(pid) for pid in roots], machine_ticks()
    go.set()
    results = [out.get(timeout=args.seconds + 120)[1] for _ in procs]
    cpu = [tree_cpu_seconds(pid) - then for pid, then in zip(roots, cpu, strict=True)]
    machine = [now - then for now, then in zip(machine_ticks(), machine, strict=True)]
    for p in procs:
        p.join(30)
    latencies = [x for r in results for x in r.latencies_ms]
    accepted = sum(r.accepted for r in results)
    elapsed = max(r.elapsed for r in results)
    requests = sum(r.requests for r in results)
    client_cpu = sum(r.cpu_seconds for r in results)
    return {
        "accepted": accepted,
        "rate": accepted / elapsed,
        "elapsed": elapsed,
        "requests": requests,
        # The clients share the machine with the server: what they burn is not the server's.
        "client_ms_per_request": client_cpu / max(requests, 1) * 1000,
        "client_cores": client_cpu / elapsed,
        "server_cores": cpu[0] / elapsed,
        "database_cores": cpu[1] / elapsed if database else None,
        # Idle and stolen shares of the machine's CPU during the run: ~0 idle means the
        # figure is CPU-bound on this machine, and steal is time the host gave elsewhere.
        "idle_pct": 100 * (machine[3] + machine[4]) / max(sum(machine), 1),
        "steal_pct": 100 * machine[7] / max(sum(machine), 1),
        "failures": sum(r.failures for r in results),
        "p50_ms": statistics.median(latencies) if latencies else 0.0,
        "p95_ms": sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
        "ran_out": any(r.ran_out for r in results),
    }


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) so far of process ``root`` and all its descendants."""
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid in stats:
            total += int(stats[pid][11]) + int(stats[pid][12])
    return total / os.sysconf("SC_CLK_TCK")


def postmaster_pid(pg: Any) -> int:
    """The PostgreSQL server's main process (its backends are its children)."""
    return int((pg.base / "data" / "postmaster.pid").read_text().split()[0])


def machine_ticks() -> list[int]:
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq,
    steal) from /proc/stat, in clock ticks since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    return [int(x) for x in first[1:9]]


def floor_rate(url: str, events_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One process, no HTTP: prevalidated batches straight into ``SqlStorage.ingest``.

    Then the same batches on a second fresh database, raw event rows only (the events
    table and its indexes, through the same bulk insert, no derived table): the part of
    the floor no change to the derived state can remove.
    """
    from hiveboard.ingest.validate import validate_batch

    sims = eventmix.fleet(
        args.agents_per_client * args.clients, 999, eventmix.utcnow() - timedelta(hours=2),
        timedelta(milliseconds=1),
    )  # fmt: skip
    now = eventmix.utcnow()
    batches, built = [], 0
    for body in eventmix.batches(sims, args.batch):
        if built >= args.floor_events:
            break
        batch = validate_batch(body, now=now)
        batches.append(batch)
        built += len(batch.events)
    full = _timed_ingest(url, batches, now, args.seconds, events_only=False)
    return full | {"events_only": _timed_ingest(events_url, batches, now, args.seconds, True)}


def _timed_ingest(
    url: str, batches: list[Any], now: Any, seconds: float, events_only: bool
) -> dict[str, Any]:
    """Events/s of ``batches`` into a fresh database, one transaction per batch."""
    from hiveboard.storage import write
    from hiveboard.storage.sql import SqlStorage

    storage = SqlStorage(url)
    storage.migrate()
    tenant = storage.create_tenant("floor")
    started = time.perf_counter()
    stored = 0
    for batch in batches:
        if time.perf_counter() - started > seconds:
            break
        if events_only:
            with storage.write_tx() as conn:
                rows = [write.event_row(tenant.id, ev, now) for ev in batch.events]
                write.INSERT_EVENTS.execute(conn, rows)
        else:
            storage.ingest(tenant.id, batch, now=now)
        stored += len(batch.events)
    elapsed = time.perf_counter() - started
    storage.close()
    return {"stored": stored, "rate": stored / elapsed, "elapsed": elapsed}


def count_and_size(url: str, backend: str, data_dir: Path) -> tuple[int, int]:
    """Stored events and bytes on disk (SQLite: the db and WAL files; PG: the database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        if backend == "postgres":
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        else:
            size = sum(p.stat().st_size for p in data_dir.glob("hiveboard.db*"))
    engine.dispose()
    return int(count), int(size)


def bench_http(
    backend: str, workers: int | None, pg: Any, workdir: Path, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    """One fresh server with ``workers`` processes (None: its default) under the clients."""
    from hiveboard.config import load_settings

    name = f"{backend}-http-{n}"
    data_dir = workdir / name
    if backend == "postgres":
        url = create_pg_database(pg.url("postgres"), name.replace("-", "_"))
    else:
        url = f"sqlite:///{data_dir / 'hiveboard.db'}"
    workers = workers or load_settings().workers
    env = {"HIVEBOARD_RATE_LIMIT_PER_KEY": "0"}
    server = HiveBoardProcess.start(
        data_dir, database_url=url if backend == "postgres" else None, env=env, workers=workers
    )
    try:
        print(
            f"{backend}, {workers} worker(s): {args.clients} clients for {args.seconds:g} s ...",
            file=sys.stderr,
        )
        database = postmaster_pid(pg) if backend == "postgres" else None
        http = run_clients(server, database, args, id_base=n * 100)
        rss = server.rss_bytes("VmHWM")
    finally:
        server.stop()
    stored, size = count_and_size(url, backend, data_dir)
    return {"http": http, "workers": workers, "stored": stored, "size": size, "rss": rss}


def bench_floor(backend: str, pg: Any, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The storage floor of ``backend``: one process, no HTTP (``floor_rate``)."""
    urls = []
    for name in ("floor", "events_only"):
        if backend == "postgres":
            urls.append(create_pg_database(pg.url("postgres"), f"bench_{name}"))
        else:
            urls.append(f"sqlite:///{workdir / f'{backend}-{name}' / 'hiveboard.db'}")
    print(f"{backend}: floor ...", file=sys.stderr)
    return floor_rate(urls[0], urls[1], args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--prebuild-rate", type=float, default=30_000.0,
        help="events/s the prebuilt bodies can sustain (above the target)",
    )  # fmt: skip
    parser.add_argument("--floor-events", type=int, default=200_000)
    parser.add_argument("--agents-per-client", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2 s per backend: smoke run")
    parser.add_argument(
        "--workers", default="",
        help="server processes, comma-separated to compare (1,2); default: the server's",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.floor_events, args.prebuild_rate = 2.0, 3_000, 10_000.0
        args.agents_per_client = 5
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    counts: list[int | None] = [int(w) for w in args.workers.split(",") if w.strip()] or [None]

    workdir = Path(tempfile.mkdtemp(prefix="hiveboard-bench-ingest-"))
    pg = pg_server_class().start() if "postgres" in backends else None
    runs: list[tuple[str, dict[str, Any]]] = []
    floors: dict[str, dict[str, Any]] = {}
    try:
        for backend in backends:
            for workers in counts:
                run = bench_http(backend, workers, pg, workdir, args, len(runs))
                runs.append((backend, run))
            floors[backend] = bench_floor(backend, pg, workdir, args)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(runs, floors, args)


def print_table(
    runs: list[tuple[str, dict[str, Any]]],
    floors: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> None:
    """The Markdown table of every run, with the targets and the machine's load."""
    print()
    print(
        f"## bench/ingest.py — {args.clients} clients x {args.batch}-event batches, "
        f"{args.seconds:g} s per backend"
    )
    print()
    print(
        "| backend | workers | events/s | target | floor events/s | events-only rows/s "
        "| ratio to floor | stored | "
        "bytes/event on disk | request p50 / p95 ms | non-200 | server peak RSS MB | "
        "server / database CPU cores | client CPU ms/request (cores) | machine idle / steal % |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for backend, r in runs:
        http, floor = r["http"], floors[backend]
        ratio = http["rate"] / floor["rate"] if floor["rate"] else 0.0
        target = TARGETS[backend]
        verdict = "MET" if http["rate"] >= target else "MISSED"
        ratio_verdict = "MET" if ratio >= FLOOR_RATIO_TARGET else "MISSED"
        database_cores = "-" if http["database_cores"] is None else f"{http['database_cores']:.2f}"
        print(
            f"| {backend} | {r['workers']} | {http['rate']:,.0f} | {target:,.0f} {verdict} "
            f"| {floor['rate']:,.0f} | {floor['events_only']['rate']:,.0f} "
            f"| {ratio:.2f} (>= 0.33 {ratio_verdict}) "
            f"| {r['stored']:,} | {r['size'] / max(r['stored'], 1):,.0f} "
            f"| {http['p50_ms']:.0f} / {http['p95_ms']:.0f} | {http['failures']} "
            f"| {r['rss'] / 2**20:.0f} | {http['server_cores']:.2f} / {database_cores} "
            f"| {http['client_ms_per_request']:.2f} ({http['client_cores']:.2f}) "
            f"| {http['idle_pct']:.0f} / {http['steal_pct']:.0f} |"
        )
        if http["ran_out"]:
            print(f"  ({backend}: a client ran out of prebuilt bodies; raise --prebuild-rate)")
        if r["stored"] != http["accepted"]:
            print(f"  ({backend}: {http['accepted']:,} acknowledged but {r['stored']:,} stored!)")
    # Other work on this 2-core machine skews every figure: say how busy it was.
    print(f"load average (1/5/15 min) at the end: {os.getloadavg()}")
    summary = {f"{b}/{r['workers']}": round(r["http"]["rate"]) for b, r in runs}
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
