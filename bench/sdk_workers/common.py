"""The part every SDK worker of ``bench/sdk_overhead.py`` shares.

Standard library only: the workers run in different virtual environments (this
repository's, and a throw-away one holding the released ``hiveloop==0.2.0``).

A worker is started as ``python <worker>.py serve --sink URL --name NAME`` and then
answers one JSON command per stdin line with one JSON line on stdout, or as
``python <worker>.py rss|drops ...`` for a one-shot measurement in a fresh process.
Nothing else may be printed on stdout: it is the channel to the coordinator.
"""

from __future__ import annotations

import abc
import argparse
import collections
import json
import logging
import os
import resource
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

# One op: perform n calls, append one duration (ns) per call to out, return the number
# of events (or spans) it queued for delivery.
Op = Callable[[int, list[int]], int]

OP_NAMES = ("llm_call", "task", "track", "queue_snapshot")
BATCH_SIZE = 100  # every SDK runs with its default batch size of 100
IDLE_CHUNK_EVENTS = 90  # below BATCH_SIZE: a chunk never wakes the sender by itself
BUSY_CHUNK = 250  # calls timed between two checks that the sender still has a backlog
MAX_BACKLOG = 64_000
BIG_QUEUE = 200_000
PARKED_INTERVAL = 3600.0  # flush interval long enough that the timer never fires


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def sink_count(sink: str, name: str) -> int:
    with urllib.request.urlopen(f"{sink}/count/{name}", timeout=5) as response:
        return int(response.read())


def wait_for_count(sink: str, name: str, expected: int, timeout: float, poll: float) -> bool:
    """Poll the sink until it has received ``expected`` events from this worker."""
    deadline = time.monotonic() + timeout
    while sink_count(sink, name) < expected:
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def summarize(samples: list[int]) -> dict[str, int]:
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "median": ordered[n // 2],
        "p99": ordered[min(n - 1, (99 * n + 99) // 100 - 1)],
        "n": n,
    }


def memory_mb() -> dict[str, float]:
    """Current and peak resident set size of this process, in MB."""
    found: dict[str, float] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    if "VmHWM" not in found:  # no procfs: ru_maxrss is in kB on Linux
        found["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        found.setdefault("VmRSS", found["VmHWM"])
    return {"rss": found["VmRSS"], "peak": found["VmHWM"]}


def baseline(n: int, out: list[int]) -> int:
    """The floor: build a small dict and append it to a deque."""
    pc = time.perf_counter_ns
    queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
    for _ in range(n):
        t0 = pc()
        queue.append({"name": "score", "model": "claude-sonnet-4", "tokens_in": 1800})
        out.append(pc() - t0)
    return 0


class Driver(abc.ABC):
    """One SDK, set up against the sink: its ops, a burst, a flush. Subclasses fill in."""

    name = ""
    throughput_poll = 0.01  # seconds between sink polls when the SDK cannot wait by itself

    def __init__(self, sink: str, name: str) -> None:
        self.sink = sink
        self.sink_name = name
        self.endpoint = f"{sink}/{name}"
        self.expected = 0  # events this worker queued so far (the sink should see all)
        self.backlog = 0  # busy mode: events kept waiting for delivery (grows if too few)

    # -- provided by each SDK ---------------------------------------------------------

    @abc.abstractmethod
    def ops(self) -> dict[str, tuple[Op, int]]:
        """op name -> (op, events queued per call)."""
        ...

    @abc.abstractmethod
    def burst(self, events: int) -> int:
        """Queue about ``events`` events without timing them; return how many were queued."""
        ...

    @abc.abstractmethod
    def nudge(self, timeout: float) -> None:
        """Ask the sender to deliver what is queued (blocking if the SDK can)."""
        ...

    def versions(self) -> dict[str, str]:
        return {}

    # -- shared measurements --------------------------------------------------------

    def drain(self, timeout: float = 60.0, poll: float = 0.001) -> None:
        self.nudge(timeout)
        if not wait_for_count(self.sink, self.sink_name, self.expected, timeout, poll):
            got = sink_count(self.sink, self.sink_name)
            raise RuntimeError(f"sink has {got} of {self.expected} events after {timeout}s")

    def idle(self, calls: int) -> dict[str, Any]:
        """Per-call times with the sender asleep: chunks below the batch size, drained between."""
        results = {}
        self.drain()
        for op_name, (op, per_call) in self.ops().items():
            samples: list[int] = []
            chunk = max(1, (IDLE_CHUNK_EVENTS - 2) // per_call)
            while len(samples) < calls:
                time.sleep(0.001)  # let the sender finish its last loop and park
                self.expected += op(min(chunk, calls - len(samples)), samples)
                self.drain()
            results[op_name] = summarize(samples)
        return results

    def busy(self, calls: int, backlog: int) -> dict[str, Any]:
        """Per-call times while the sender delivers: before each chunk of calls the queue is
        topped up so that at least ``backlog`` events (more if that ran dry) wait for delivery."""
        self.backlog = max(self.backlog, backlog)
        results = {}
        for op_name, (op, _) in self.ops().items():
            self.drain()
            samples: list[int] = []
            chunks = busy_chunks = 0
            while len(samples) < calls:
                behind = self.expected - sink_count(self.sink, self.sink_name)
                if behind < self.backlog:
                    self.expected += self.burst(max(self.backlog - behind, 100))
                before = self.expected
                self.expected += op(min(BUSY_CHUNK, calls - len(samples)), samples)
                chunks += 1
                # The sender was delivering the whole time if the backlog is not all out yet;
                # if it ran dry, keep a bigger backlog from now on.
                if sink_count(self.sink, self.sink_name) < before:
                    busy_chunks += 1
                else:
                    self.backlog = min(2 * self.backlog, MAX_BACKLOG)
            results[op_name] = {
                **summarize(samples),
                "busy": busy_chunks,
                "chunks": chunks,
                "backlog": self.backlog,
            }
        self.drain()
        return results

    def throughput(self, events: int, timeout: float) -> dict[str, Any]:
        """Events/s from the first enqueue to the sink holding the last event."""
        self.drain()
        start_count = self.expected
        t0 = time.perf_counter()
        self.expected += self.burst(events)
        queued = time.perf_counter()
        self.nudge(timeout)
        ok = wait_for_count(self.sink, self.sink_name, self.expected, timeout, self.throughput_poll)
        t1 = time.perf_counter()
        if not ok:
            raise RuntimeError(f"{events} events not delivered within {timeout}s")
        delivered = self.expected - start_count
        return {
            "events_per_s": delivered / (t1 - t0),
            "enqueue_s": queued - t0,
            "total_s": t1 - t0,
        }

    def round(self, command: dict[str, Any]) -> dict[str, Any]:
        base: list[int] = []
        baseline(command["calls"], base)
        return {
            "baseline": summarize(base),
            "idle": self.idle(command["calls"]),
            "busy": self.busy(command["calls"], command["backlog"]),
            "throughput": (
                self.throughput(command["events"], command["timeout"])
                if command["throughput"]
                else None
            ),
        }


def serve(driver: Driver) -> None:
    """Answer commands from stdin until ``quit`` or end of input."""
    emit({"ready": True, "versions": driver.versions(), "pid": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        try:
            if command["cmd"] != "round":
                raise ValueError(f"unknown command {command['cmd']!r}")
            emit({"ok": True, "result": driver.round(command)})
        except Exception:
            emit({"ok": False, "error": traceback.format_exc()})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "rss", "drops"])
    parser.add_argument("--sink", help="base URL of the loopback sink")
    parser.add_argument("--name", default="sdk", help="path prefix identifying this worker")
    parser.add_argument("--dead", help="a loopback URL that refuses connections")
    parser.add_argument("--events", type=int, default=100_000)
    return parser.parse_args(argv)


def one_shot(result: dict[str, Any]) -> None:
    """Print the result and leave at once: no shutdown delivering to a dead endpoint."""
    emit(result)
    os._exit(0)


class LogCounter(logging.Handler):
    """A logging handler that only counts records (and keeps the first message)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()[:200]
