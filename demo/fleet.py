"""A simulated fleet of eight agents reporting to HiveBoard through the public ``hiveloop`` API.

    python -m demo.fleet --endpoint http://127.0.0.1:8080 --api-key hb_live_... [--speed 5]

Threaded agents (CRM sync, scheduler, data enricher, an invoice worker pool) and
asyncio agents (lead qualifier, support triage, research writer) run side by
side in this process; ``email-outreach`` runs in a child process that crashes
and is restarted. ``--speed`` multiplies simulated time; ``--duration`` stops
after that many real seconds. SIGINT/SIGTERM stop everything cleanly: sleeps
wake at once, the child is terminated, queued events are flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``demo`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hiveloop

from demo import async_agents, threaded_agents
from demo.clock import Clock, DemoStopped
from demo.world import World

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
AGENTS = (
    "lead-qualifier",
    "support-triage",
    "research-writer",
    "crm-sync",
    "ops-scheduler",
    "data-enricher",
    "invoice-processor",
    "email-outreach",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo.fleet", description="Run the simulated HiveLoop fleet."
    )
    parser.add_argument("--endpoint", help=f"HiveBoard URL (HIVELOOP_ENDPOINT, {DEFAULT_ENDPOINT})")
    parser.add_argument("--api-key", help="ingest key, hb_live_… (or HIVELOOP_API_KEY)")
    parser.add_argument("--environment", help="environment label (HIVELOOP_ENVIRONMENT)")
    parser.add_argument("--speed", type=float, default=1.0, help="time multiplier (default 1)")
    parser.add_argument("--duration", type=float, help="stop after this many real seconds")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    args.api_key = args.api_key or os.environ.get("HIVELOOP_API_KEY")
    args.endpoint = args.endpoint or os.environ.get("HIVELOOP_ENDPOINT") or DEFAULT_ENDPOINT
    args.environment = args.environment or os.environ.get("HIVELOOP_ENVIRONMENT") or "production"
    if not args.api_key:
        parser.error("an ingest key is required: --api-key or HIVELOOP_API_KEY")
    if args.speed <= 0:
        parser.error("--speed must be greater than 0")
    return args


# -- running agents without letting one bug end the demo ---------------------------------


def _guard_thread(world: World, name: str, body: Callable[[], None]) -> threading.Thread:
    """A daemon thread running ``body``; a simulation bug is printed and the agent restarted."""

    def run() -> None:
        while not world.clock.stopping:
            try:
                body()
            except DemoStopped:
                return
            except Exception:
                traceback.print_exc()
                if world.clock.stop_event.wait(2):
                    return

    return threading.Thread(target=run, name=name, daemon=True)


async def _guard_async(world: World, body: Callable[[World], Awaitable[None]]) -> None:
    while not world.clock.stopping:
        try:
            await body(world)
        except DemoStopped:
            return
        except Exception:
            traceback.print_exc()
            await asyncio.sleep(2)


async def _run_async_agents(world: World) -> None:
    """The asyncio half of the fleet; returns when the fleet stops or ``--duration`` ends."""
    clock = world.clock
    jobs = [
        asyncio.create_task(_guard_async(world, body))
        for body in (
            async_agents.lead_qualifier,
            async_agents.support_triage,
            async_agents.research_writer,
        )
    ]
    while not clock.stopping:
        if clock.deadline is not None and time.monotonic() >= clock.deadline:
            clock.stop()
            break
        await asyncio.sleep(0.1)
    await asyncio.gather(*jobs, return_exceptions=True)


# -- the crashing child process ----------------------------------------------------------


class OutreachSupervisor:
    """Runs ``demo.outreach`` in a child process and restarts it after each crash.

    The restart waits long enough (in real time) for HiveBoard's detector to see
    the silence, so the agent is shown offline before it comes back.
    """

    def __init__(self, world: World, args: argparse.Namespace) -> None:
        self.world = world
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _spawn(self, crash_after: float, life: int) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        # The key goes through the environment, not argv, so `ps` does not show it.
        env["HIVELOOP_API_KEY"] = self.args.api_key
        env["HIVELOOP_ENDPOINT"] = self.args.endpoint
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [
            sys.executable,
            "-m",
            "demo.outreach",
            "--environment",
            self.args.environment,
            "--speed",
            str(self.args.speed),
            "--seed",
            str(self.args.seed),
            "--crash-after",
            str(crash_after),
            "--life",
            str(life),
        ]
        return subprocess.Popen(command, cwd=ROOT, env=env)

    def run(self) -> None:
        clock = self.world.clock
        rng = self.world.rng("outreach-supervisor")
        life = 0
        while not clock.stopping:
            life += 1
            crash_after = 20.0 if life == 1 else rng.uniform(180, 300)
            with self.lock:
                if clock.stop_event.is_set():  # a stop that raced the loop condition
                    return
                self.proc = self._spawn(crash_after, life)
            while self.proc.poll() is None:
                if clock.stop_event.wait(0.2):
                    return
            delay = max(clock.real(90), clock.threshold(20) + 12)
            self.world.say(f"email-outreach is down; restarting it in {delay:.0f} s")
            if clock.stop_event.wait(delay):
                return

    def terminate(self, timeout: float = 10.0) -> None:
        """SIGTERM the child (it shuts down cleanly), SIGKILL if it does not exit in time."""
        with self.lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clock = Clock(args.speed, args.duration)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: clock.stop())
    hb = hiveloop.init(
        api_key=args.api_key,
        endpoint=args.endpoint,
        environment=args.environment,
        flush_interval=1.0,  # short: stuck/offline thresholds are short in the demo
    )
    world = World(hb, clock, args.seed)
    supervisor = OutreachSupervisor(world, args)
    threads = [
        _guard_thread(world, "crm-sync", lambda: threaded_agents.crm_sync(world)),
        _guard_thread(world, "ops-scheduler", lambda: threaded_agents.scheduler(world)),
        _guard_thread(world, "data-enricher", lambda: threaded_agents.data_enricher(world)),
        threading.Thread(target=supervisor.run, name="outreach-supervisor", daemon=True),
    ]
    for name, body in threaded_agents.invoice_processor(world):
        threads.append(_guard_thread(world, name, body))
    print(
        f"[fleet] {len(AGENTS)} agents reporting to {args.endpoint} "
        f"(speed x{args.speed:g}, seed {args.seed}"
        + (f", for {args.duration:g} s" if args.duration else "")
        + "); Ctrl-C stops",
        flush=True,
    )
    for thread in threads:
        thread.start()
    try:
        asyncio.run(_run_async_agents(world))
    finally:
        clock.stop()
        supervisor.terminate()
        deadline = time.monotonic() + 10
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        delivered = hiveloop.shutdown(timeout=10)
        stats = hb.stats()
        print(
            f"[fleet] stopped: {stats.sent} events sent, dropped {dict(stats.dropped) or 0}"
            + ("" if delivered else f", last error: {stats.last_error}"),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
