"""Worker for ``bench/sdk_overhead.py`` driving whichever ``hiveloop`` this python imports.

The coordinator runs it twice: with this repository's SDK (``sdk/src`` on PYTHONPATH) and
with the released ``hiveloop==0.2.0`` from a throw-away venv. Both share the public API;
they differ in ``flush``: ours blocks until delivered, 0.2.0's only wakes its sender.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import hiveloop
from common import (
    BATCH_SIZE,
    BIG_QUEUE,
    PARKED_INTERVAL,
    Driver,
    LogCounter,
    Op,
    memory_mb,
    one_shot,
    parse_args,
    serve,
)

API_KEY = "hb_bench_sdk_overhead"
OURS = hasattr(hiveloop, "DeliveryStats")  # 0.2.0 has no delivery statistics


def _init(endpoint: str, **options: Any) -> Any:
    hb = hiveloop.init(api_key=API_KEY, endpoint=endpoint, environment="bench", **options)
    return hb, hb.agent("bench-agent", heartbeat_interval=0)


def _queued(hb: Any) -> int:
    return len(hb._worker._queue) if OURS else len(hb._transport._queue)


class HiveLoopDriver(Driver):
    def __init__(self, sink: str, name: str) -> None:
        super().__init__(sink, name)
        self.hb, self.agent = _init(
            self.endpoint,
            flush_interval=PARKED_INTERVAL,
            batch_size=BATCH_SIZE,
            max_queue_size=BIG_QUEUE,
        )
        self.expected = 1  # agent_registered

    def versions(self) -> dict[str, str]:
        return {"hiveloop": hiveloop.__version__ if OURS else "0.2.0", "file": hiveloop.__file__}

    def nudge(self, timeout: float) -> None:
        if OURS:
            self.hb.flush(timeout)
        else:
            self.hb.flush()

    def burst(self, events: int) -> int:
        with self.agent.task("bench-burst") as task:
            for _ in range(events - 2):
                task.llm_call(
                    "score", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004
                )
        return events

    def ops(self) -> dict[str, tuple[Op, int]]:
        agent = self.agent
        pc = time.perf_counter_ns

        def llm_call(n: int, out: list[int]) -> int:
            with agent.task("bench-llm") as task:
                for _ in range(n):
                    t0 = pc()
                    task.llm_call(
                        "score", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004
                    )
                    out.append(pc() - t0)
            return n + 2

        def task(n: int, out: list[int]) -> int:
            for _ in range(n):
                t0 = pc()
                with agent.task("bench-task"):
                    pass
                out.append(pc() - t0)
            return 2 * n

        @agent.track("noop")
        def noop() -> None:
            return None

        def track(n: int, out: list[int]) -> int:
            with agent.task("bench-track"):
                for _ in range(n):
                    t0 = pc()
                    noop()
                    out.append(pc() - t0)
            return 2 * n + 2

        def queue_snapshot(n: int, out: list[int]) -> int:
            for _ in range(n):
                t0 = pc()
                agent.queue_snapshot(3, oldest_age_seconds=12)
                out.append(pc() - t0)
            return n

        return {
            "llm_call": (llm_call, 1),
            "task": (task, 2),
            "track": (track, 2),
            "queue_snapshot": (queue_snapshot, 1),
        }


def rss(dead: str, events: int) -> None:
    """Peak memory with ``events`` queued and the server down."""
    hb, agent = _init(
        dead, flush_interval=PARKED_INTERVAL, batch_size=BATCH_SIZE, max_queue_size=BIG_QUEUE
    )
    before = memory_mb()
    with agent.task("bench-rss") as task:
        for _ in range(events - 2):
            task.llm_call("score", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004)
    time.sleep(0.5)  # let the sender take its first batch and fail on it
    after = memory_mb()
    one_shot({"before": before["rss"], "peak": after["peak"], "queued": _queued(hb)})


def drops(dead: str, dropped: int) -> None:
    """Log lines on the ``hiveloop`` logger while ``dropped`` events fall off a full queue."""
    capacity = 100
    # batch_size above the capacity: the sender never wakes, so the queue stays full.
    hb, agent = _init(dead, flush_interval=PARKED_INTERVAL, batch_size=500, max_queue_size=capacity)
    counter = LogCounter()
    logging.getLogger("hiveloop").addHandler(counter)
    fill = capacity - _queued(hb)
    t0 = time.perf_counter()
    for _ in range(fill + dropped):
        agent.llm_call("score", "claude-sonnet-4", tokens_in=1800, tokens_out=250)
    elapsed = time.perf_counter() - t0
    counted = hb.stats().dropped.get("queue_full") if OURS else None
    one_shot(
        {
            "lines": counter.count,
            "dropped": counted if counted is not None else dropped,
            "first": counter.first,
            "us_per_call": elapsed / (fill + dropped) * 1e6,
        }
    )


def main() -> None:
    args = parse_args()
    if args.mode == "serve":
        serve(HiveLoopDriver(args.sink, args.name))
    elif args.mode == "rss":
        rss(args.dead, args.events)
    else:
        drops(args.dead, args.events)


if __name__ == "__main__":
    sys.exit(main())
