"""Does a real ``hiveboard serve`` keep its memory flat under steady load?

A fresh server (SQLite by default, or PostgreSQL) gets a paced stream of realistic
100-event batches (``eventmix.py``: 200 agents, tasks, actions, LLM calls, heartbeats) at
``--rate`` events/s for ``--seconds`` from ``--clients`` processes, while the resident
memory of the server's whole process tree is sampled every few seconds. Prints the
achieved rate, RSS per minute, the largest drift after a warm-up (the first tenth of the
run, at most a minute) from the median of the same length that follows it (target: within
+/-20 %), and bytes on disk per stored event.

    .venv/bin/python bench/soak.py                     # 10 min at 5,000 events/s (SQLite)
    .venv/bin/python bench/soak.py --backend postgres
    .venv/bin/python bench/soak.py --quick             # 20 s at 1,000 events/s: smoke run

Loopback only; every loop ends at its deadline.
"""

from __future__ import annotations

import argparse
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

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT)]

import eventmix  # noqa: E402
from ingest import count_and_size  # noqa: E402

from tests_e2e.hbserver import HiveBoardProcess, create_pg_database, pg_server_class  # noqa: E402

DRIFT_TARGET = 0.20
AGENTS = 200


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (server workers included)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@dataclass(frozen=True)
class Load:
    """What every client process is told: where to post, and how much for how long."""

    url: str
    key: str
    rate: float  # events/s, all clients together
    seconds: float
    clients: int


def client_main(idx: int, load: Load, out: Any) -> None:
    """Post batches paced to this client's share of the rate until the deadline."""
    import requests

    per_client = AGENTS // load.clients
    rate, seconds, url, key = load.rate / load.clients, load.seconds, load.url, load.key
    # Simulated time advances like wall time: each agent emits load.rate/AGENTS events/s.
    step = timedelta(seconds=AGENTS / load.rate)
    sims = eventmix.fleet(per_client, 5000 + idx, eventmix.utcnow(), step, idx * per_client)
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.monotonic()
    deadline = started + seconds
    sent_events = accepted = failures = 0
    for body in eventmix.batches(sims, 100):
        now = time.monotonic()
        if now >= deadline:
            break
        due = started + sent_events / rate
        if due > now:
            time.sleep(min(due - now, deadline - now))
        raw = json.dumps(body, separators=(",", ":")).encode()
        resp = session.post(f"{url}/v1/ingest", data=raw, headers=headers, timeout=60)
        sent_events += len(body["events"])
        if resp.status_code == 200:
            accepted += resp.json()["accepted"]
        else:
            failures += 1
    out.put((accepted, failures, time.monotonic() - started))


def sample(server: HiveBoardProcess, seconds: float, every: float) -> list[tuple[float, int]]:
    """(seconds since start, process-tree RSS) until ``seconds`` have passed."""
    started = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - started) < seconds:
        samples.append((elapsed, tree_rss_bytes(server.pid)))
        time.sleep(min(every, max(0.0, seconds - elapsed)))
    return samples


def per_minute(samples: list[tuple[float, int]]) -> list[float]:
    """Median RSS (MB) of each minute of samples."""
    minutes: dict[int, list[int]] = {}
    for t, rss in samples:
        minutes.setdefault(int(t // 60), []).append(rss)
    return [statistics.median(v) / 2**20 for _, v in sorted(minutes.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s in all")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="20 s at 1,000 events/s")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rate, args.sample_every = 20.0, 1000.0, 1.0

    workdir = Path(tempfile.mkdtemp(prefix="hiveboard-bench-soak-"))
    data_dir = workdir / "data"
    pg = pg_server_class().start() if args.backend == "postgres" else None
    try:
        url = (
            create_pg_database(pg.url("postgres"), "bench_soak")
            if pg is not None
            else f"sqlite:///{data_dir / 'hiveboard.db'}"
        )
        server = HiveBoardProcess.start(
            data_dir,
            database_url=url if pg is not None else None,
            env={"HIVEBOARD_RATE_LIMIT_PER_KEY": "0"},
        )
        try:
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            load = Load(server.url, server.key, args.rate, args.seconds, args.clients)
            procs = [
                ctx.Process(target=client_main, args=(i, load, out)) for i in range(args.clients)
            ]
            for p in procs:
                p.start()
            samples = sample(server, args.seconds, args.sample_every)
            results = [out.get(timeout=120) for _ in procs]
            for p in procs:
                p.join(30)
            peak = server.rss_bytes("VmHWM")
        finally:
            server.stop()
        stored, size = count_and_size(url, args.backend, data_dir)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, samples, results, stored, size, peak)


def report(
    args: argparse.Namespace,
    samples: list[tuple[float, int]],
    results: list[tuple[int, int, float]],
    stored: int,
    size: int,
    peak: int,
) -> None:
    accepted = sum(r[0] for r in results)
    failures = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    minutes = per_minute(samples)
    # Start-up fills caches and pools: judge the steady state, after a warm-up, against
    # the median of the stretch of the same length that follows it.
    warmup = min(60.0, args.seconds / 10)
    steady = [(t, rss / 2**20) for t, rss in samples if t >= warmup]
    baseline = statistics.median(mb for t, mb in steady if t < 2 * warmup)
    drift = max(abs(mb - baseline) / baseline for _, mb in steady)
    verdict = "MET" if drift <= DRIFT_TARGET else "MISSED"
    print()
    print(f"## bench/soak.py — {args.backend}, {args.rate:,.0f} events/s for {args.seconds:g} s")
    print()
    print("| measurement | value |")
    print("|---|---:|")
    print(f"| achieved events/s (accepted) | {accepted / elapsed:,.0f} |")
    print(f"| non-200 answers | {failures} |")
    print(f"| stored events | {stored:,} |")
    print(f"| bytes on disk per stored event | {size / max(stored, 1):,.0f} |")
    print(
        f"| RSS after a {warmup:g} s warm-up, median of the next {warmup:g} s (MB) "
        f"| {baseline:,.1f} |"
    )
    print(
        f"| RSS after the warm-up, min / max (MB) | "
        f"{min(mb for _, mb in steady):,.1f} / {max(mb for _, mb in steady):,.1f} |"
    )
    print(f"| largest drift from that median | {drift:.1%} (<= 20 % {verdict}) |")
    print(f"| server process peak RSS, VmHWM (MB) | {peak / 2**20:,.1f} |")
    print()
    print("RSS per minute (MB, median of samples): " + ", ".join(f"{m:.1f}" for m in minutes))
    if accepted != stored:
        print(f"({accepted:,} acknowledged but {stored:,} stored!)")
    print(f"load average (1/5/15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
