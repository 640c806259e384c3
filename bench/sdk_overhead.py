#!/usr/bin/env python3
"""What the SDK costs the agent: this repository's hiveloop vs hiveloop 0.2.0 vs OpenTelemetry.

    .venv/bin/python bench/sdk_overhead.py            # full run, about 3-4 minutes on 2 cores
    .venv/bin/python bench/sdk_overhead.py --quick    # smoke run, fewer rounds and calls
    .venv/bin/python bench/sdk_overhead.py --only ours --rounds 3

Each SDK runs in its own worker subprocess (0.2.0 has the same import name as ours, so it
lives in a throw-away venv under build/bench-venvs/). This coordinator runs a loopback
HTTP sink that accepts every POST, and interleaves the workers round by round (round 1:
ours, 0.2.0, otel; round 2: ...). Figures are medians over rounds. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKERS = Path(__file__).resolve().parent / "sdk_workers"
RELEASED = "hiveloop==0.2.0"
RELEASED_VENV = REPO / "build" / "bench-venvs" / "hiveloop-0.2.0"
SDKS = ("ours", "0.2.0", "otel")
OPS = ("llm_call", "task", "track", "queue_snapshot")
OP_LABELS = {
    "llm_call": "task.llm_call",
    "task": "agent.task enter+exit",
    "track": "@agent.track no-op call",
    "queue_snapshot": "agent.queue_snapshot",
}
# Targets for ours.
MEDIAN_RATIO = 0.10  # every per-call median <= 1/10 of 0.2.0's
BUSY_P99_NS = 100_000  # p99 < 100 us while the sender is busy
THROUGHPUT_RATIO = 3.0  # delivered events/s >= 3x 0.2.0's
RSS_LIMIT_MB = 60.0  # 100,000 queued events
DROP_LINES_LIMIT = 10  # log lines for 10,000 dropped events
ROUND_TIMEOUT = 300.0
ONE_SHOT_TIMEOUT = 180.0


@dataclass(frozen=True)
class Settings:
    rounds: int
    calls: int  # timed calls per op per round (idle and busy each)
    backlog: int  # events kept waiting for delivery while busy-mode calls are timed
    events: int  # throughput burst
    throughput_rounds: int  # the throughput burst runs in the first this-many rounds
    rss_events: int = 100_000
    dropped: int = 10_000


FULL = Settings(rounds=7, calls=2000, backlog=3_000, events=100_000, throughput_rounds=3)
QUICK = Settings(rounds=2, calls=300, backlog=1_000, events=10_000, throughput_rounds=1)


# -- the loopback sink ----------------------------------------------------------------


class Sink:
    """POST anything: 200 ``{"accepted": n}``. ``GET /count/<name>`` -> events received.

    Events are counted without parsing: hiveloop events carry ``"event_id"``, OTLP spans
    ``"spanId"``. The first path segment names the worker that sent them.
    """

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                accepted = body.count(b'"event_id"') + body.count(b'"spanId"')
                with lock:
                    counts[self.path.split("/")[1]] += accepted
                self._reply(b'{"accepted":%d}' % accepted)

            def do_GET(self) -> None:
                parts = self.path.split("/")
                with lock:
                    value = counts[parts[2]] if len(parts) == 3 and parts[1] == "count" else -1
                self._reply(str(value).encode())

            def _reply(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def dead_endpoint() -> Iterator[str]:
    """A loopback URL that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


# -- the SDKs' pythons ----------------------------------------------------------------


def _released_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('hiveloop'))"
    result = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def released_python() -> Path:
    """build/bench-venvs/hiveloop-0.2.0/bin/python, creating the venv on first use."""
    python = RELEASED_VENV / "bin" / "python"
    wanted = RELEASED.split("==")[1]
    if _released_version(python) == wanted:
        return python
    print(f"creating {RELEASED_VENV.relative_to(REPO)} for {RELEASED} ...", file=sys.stderr)
    shutil.rmtree(RELEASED_VENV, ignore_errors=True)
    RELEASED_VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = (
        [sys.executable, "-m", "venv", str(RELEASED_VENV)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", RELEASED],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=400, check=False)
        if done.returncode != 0:
            sys.exit(
                f"`{' '.join(step)}` failed (use --only ours,otel to skip 0.2.0):\n"
                f"{done.stderr[-2000:]}"
            )
    if _released_version(python) != wanted:
        sys.exit(f"{RELEASED} did not install into {RELEASED_VENV}")
    return python


def worker_command(sdk: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HIVELOOP_"))}
    env.pop("OTEL_SDK_DISABLED", None)
    if sdk == "ours":
        env["PYTHONPATH"] = str(REPO / "sdk" / "src")
        return [sys.executable, str(WORKERS / "hiveloop_worker.py")], env
    if sdk == "0.2.0":
        return [str(released_python()), str(WORKERS / "hiveloop_worker.py")], env
    return [sys.executable, str(WORKERS / "otel_worker.py")], env


# -- workers --------------------------------------------------------------------------


class Worker:
    """A ``serve`` worker: one JSON command per stdin line, one JSON answer per stdout line."""

    def __init__(self, sdk: str, sink: Sink, cwd: str) -> None:
        self.sdk = sdk
        command, env = worker_command(sdk)
        name = {"ours": "ours", "0.2.0": "v020", "otel": "otel"}[sdk]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        self._proc = subprocess.Popen(
            [*command, "serve", "--sink", sink.url, "--name", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            cwd=cwd,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.versions: dict[str, str] = self._answer(60.0)["versions"]

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise RuntimeError(f"{self.sdk} worker gave no answer within {timeout}s") from None
        if line is None:
            raise RuntimeError(f"{self.sdk} worker died:\n{self.stderr_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def round(self, settings: Settings, throughput: bool) -> dict[str, Any]:
        command = {
            "cmd": "round",
            "calls": settings.calls,
            "backlog": settings.backlog,
            "events": settings.events,
            "throughput": throughput,
            "timeout": 120.0,
        }
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        answer = self._answer(ROUND_TIMEOUT)
        if not answer.get("ok"):
            raise RuntimeError(f"{self.sdk} worker failed:\n{answer.get('error')}")
        result: dict[str, Any] = answer["result"]
        return result

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write('{"cmd": "quit"}\n')
                self._proc.stdin.close()
                self._proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(5)
        self._stderr.close()


def one_shot(sdk: str, mode: str, dead: str, events: int, cwd: str) -> dict[str, Any]:
    """Run ``mode`` (rss or drops) in a fresh worker process."""
    command, env = worker_command(sdk)
    done = subprocess.run(
        [*command, mode, "--dead", dead, "--events", str(events)],
        capture_output=True,
        text=True,
        timeout=ONE_SHOT_TIMEOUT,
        env=env,
        cwd=cwd,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{sdk} {mode} worker failed (rc={done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- running and reporting ------------------------------------------------------------


def run(settings: Settings, sdks: list[str]) -> dict[str, Any]:
    """Every measurement for every SDK: {sdk: {"rounds": [...], "rss": ..., "drops": ...}}."""
    results: dict[str, Any] = {sdk: {"rounds": []} for sdk in sdks}
    if "0.2.0" in sdks:
        released_python()  # create the venv before any timing starts
    with tempfile.TemporaryDirectory() as cwd, Sink() as sink, dead_endpoint() as dead:
        workers = {}
        try:
            for sdk in sdks:
                workers[sdk] = Worker(sdk, sink, cwd)
                results[sdk]["versions"] = workers[sdk].versions
            for number in range(1, settings.rounds + 1):
                for sdk in sdks:
                    started = time.monotonic()
                    throughput = number <= settings.throughput_rounds
                    results[sdk]["rounds"].append(workers[sdk].round(settings, throughput))
                    print(
                        f"round {number}/{settings.rounds} {sdk}: "
                        f"{time.monotonic() - started:.1f}s",
                        file=sys.stderr,
                    )
        finally:
            for worker in workers.values():
                worker.close()
        for mode, events in (("rss", settings.rss_events), ("drops", settings.dropped)):
            for sdk in sdks:
                results[sdk][mode] = one_shot(sdk, mode, dead, events, cwd)
                print(f"{mode} {sdk}: done", file=sys.stderr)
    return results


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Row:
    label: str
    values: dict[str, float | None]  # per SDK
    unit: str = "ns"
    target: str = ""
    met: bool | None = None  # None: no target, or not checkable in this run
    ratio: float | None = None
    text: dict[str, str] | None = None  # shown instead of the number


def build_rows(results: dict[str, Any], settings: Settings) -> list[Row]:
    sdks = list(results)

    def per_sdk(pick: Any, key: str = "idle") -> dict[str, float | None]:
        return {
            sdk: _median([pick(r) for r in results[sdk]["rounds"] if r[key] is not None])
            for sdk in sdks
        }

    def ratio(values: dict[str, float | None]) -> float | None:
        ours, old = values.get("ours"), values.get("0.2.0")
        return ours / old if ours is not None and old else None

    rows = [
        Row("baseline: dict + deque.append, median", per_sdk(lambda r: r["baseline"]["median"]))
    ]
    for mode in ("idle", "busy"):
        for op in OPS:
            label = f"{OP_LABELS[op]} ({mode})"
            median = per_sdk(lambda r, m=mode, o=op: r[m][o]["median"])
            row = Row(f"{label}, median", median, ratio=ratio(median))
            row.target = f"<= {MEDIAN_RATIO:.2f}x 0.2.0"
            row.met = None if row.ratio is None else row.ratio <= MEDIAN_RATIO
            rows.append(row)
            p99 = per_sdk(lambda r, m=mode, o=op: r[m][o]["p99"])
            row = Row(f"{label}, p99", p99, ratio=ratio(p99))
            if mode == "busy":
                row.target = f"< {BUSY_P99_NS // 1000} us"
                row.met = p99["ours"] < BUSY_P99_NS if "ours" in p99 else None
            rows.append(row)
    busy_text = {}
    for sdk in sdks:
        busy = sum(r["busy"][op]["busy"] for r in results[sdk]["rounds"] for op in OPS)
        chunks = sum(r["busy"][op]["chunks"] for r in results[sdk]["rounds"] for op in OPS)
        busy_text[sdk] = f"{100 * busy / chunks:.0f}"
    rows.append(Row("(busy) timed chunks with the sender busy", {}, "%", text=busy_text))
    events = per_sdk(lambda r: r["throughput"]["events_per_s"], "throughput")
    row = Row(f"delivered events/s, {settings.events:,} burst", events, "ev/s", ratio=ratio(events))
    row.target = f">= {THROUGHPUT_RATIO:.0f}x 0.2.0"
    row.met = None if row.ratio is None else row.ratio >= THROUGHPUT_RATIO
    rows.append(row)
    before = {sdk: results[sdk]["rss"]["before"] for sdk in sdks}
    rows.append(Row("RSS before enqueueing", before, "MB", ratio=ratio(before)))
    peak = {sdk: results[sdk]["rss"]["peak"] for sdk in sdks}
    row = Row(
        f"peak RSS, {settings.rss_events:,} queued, server down", peak, "MB", ratio=ratio(peak)
    )
    row.target = f"< {RSS_LIMIT_MB:.0f} MB"
    row.met = peak["ours"] < RSS_LIMIT_MB if "ours" in peak else None
    rows.append(row)
    lines = {sdk: float(results[sdk]["drops"]["lines"]) for sdk in sdks}
    row = Row(f"log lines for {settings.dropped:,} dropped events", lines, "lines")
    row.target = f"<= {DROP_LINES_LIMIT} (bounded)"
    row.met = lines["ours"] <= DROP_LINES_LIMIT if "ours" in lines else None
    row.ratio = ratio(lines)
    rows.append(row)
    return rows


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "MB":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def render(rows: list[Row], sdks: list[str]) -> str:
    header = ["measurement", "unit", *sdks, "ours/0.2.0", "target (ours)", "met"]
    table = [header]
    for row in rows:
        cells = [row.label, row.unit]
        for sdk in sdks:
            if row.text is not None:
                cells.append(row.text.get(sdk, "n/a"))
            else:
                cells.append(_number(row.values.get(sdk), row.unit))
        cells.append("" if row.ratio is None else f"{row.ratio:.3f}")
        cells.append(row.target)
        cells.append({True: "MET", False: "MISSED", None: "" if not row.target else "n/a"}[row.met])
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for index, line in enumerate(table):
        padded = [
            cell.ljust(widths[i]) if i == 0 or i >= len(line) - 2 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(padded).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def describe(results: dict[str, Any], settings: Settings, elapsed: float) -> str:
    notes = [
        f"rounds={settings.rounds}, {settings.calls:,} timed calls per op per round and mode, "
        f"busy backlog {settings.backlog:,} events, throughput in {settings.throughput_rounds} "
        f"rounds, batch_size 100 for every SDK; "
        f"run took {elapsed:.0f}s",
    ]
    for sdk, result in results.items():
        versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items() if k != "file")
        enqueue = _median(
            [r["throughput"]["enqueue_s"] for r in result["rounds"] if r["throughput"]]
        )
        drops = result["drops"]
        notes.append(
            f"{sdk}: {versions}; throughput burst enqueued in {enqueue:.2f}s; "
            f"{result['rss']['queued']:,} still queued at peak RSS; "
            f"dropping calls took {drops['us_per_call']:.1f} us each, "
            f"first log line: {drops['first']!r}"
        )
    return "\n".join(notes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per SDK (default 7, quick 2)")
    parser.add_argument(
        "--only",
        default=",".join(SDKS),
        help="comma-separated SDKs to run, from: ours,0.2.0,otel (default all three)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw per-round results here")
    args = parser.parse_args(argv)
    args.sdks = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sdks) - set(SDKS)
    if unknown or not args.sdks:
        parser.error(f"--only takes names from {','.join(SDKS)} (got {args.only!r})")
    args.sdks = [sdk for sdk in SDKS if sdk in args.sdks]
    if args.rounds is not None and not 1 <= args.rounds <= 50:
        parser.error("--rounds must be between 1 and 50")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.rounds is not None:
        settings = dataclasses.replace(
            settings,
            rounds=args.rounds,
            throughput_rounds=min(args.rounds, settings.throughput_rounds),
        )
    started = time.monotonic()
    results = run(settings, args.sdks)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    rows = build_rows(results, settings)
    print(render(rows, args.sdks))
    print()
    print(describe(results, settings, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
