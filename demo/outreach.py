"""The ``email-outreach`` agent, run in its own process so that it can really die.

The fleet starts this module as a child process. After ``--crash-after``
simulated seconds it flushes what it has queued and exits with ``os._exit(1)``,
skipping ``hiveloop.shutdown()``: no ``agent_shutdown`` event is sent, so
HiveBoard has to notice the silence and mark the agent offline. (A real crash
would also lose the events still queued; flushing first keeps the demo's story
deterministic.) The fleet restarts it after a while and it comes back online.
SIGTERM from the fleet is a clean stop instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``demo`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hiveloop

from demo import content
from demo.clock import Clock, DemoStopped, jittered
from demo.world import World


class SmtpRejected(Exception):
    """The mail relay refused the message (greylisting); retried."""


# Leads each start of the process takes: a restart moves on to new leads instead of
# emailing the previous life's again (one life sends at most ~45 at 300 simulated seconds).
LEADS_PER_LIFE = 100


def run(world: World, crash_after: float, life: int = 1) -> None:
    """Send outreach emails until ``crash_after`` simulated seconds, then die between tasks."""
    clock = world.clock
    agent = world.hb.agent(
        "email-outreach",
        type="marketing",
        version="1.0.3",
        heartbeat_interval=clock.interval(5),
        stuck_threshold=clock.threshold(20),
    )
    rng = world.rng(f"email-outreach-{os.getpid()}")
    n = (life - 1) * LEADS_PER_LIFE
    while True:
        if clock.sim_elapsed() >= crash_after:
            hiveloop.flush(timeout=3)
            print("[fleet] email-outreach: process crashed (exit 1, no shutdown)", flush=True)
            os._exit(1)
        n += 1
        lead = content.lead(rng, n)
        with agent.task(
            f"outreach-{lead['id']}", project="sales-pipeline", type="outreach"
        ) as task:
            with agent.track_context("render_email"):
                clock.sleep(jittered(rng, 1))
            for attempt in range(1, 4):
                try:
                    with agent.track_context("smtp_send"):
                        clock.sleep(jittered(rng, 0.8))
                        if attempt < 3 and rng.random() < 0.2:
                            raise SmtpRejected("451 4.7.1 greylisted, try again later")
                    break
                except SmtpRejected:
                    backoff = 2.0 * attempt
                    task.retry(
                        f"Relay greylisted {lead['contact']}; retrying in {backoff:.0f} s",
                        attempt=attempt + 1,
                        backoff_seconds=backoff,
                    )
                    clock.sleep(backoff)
        clock.sleep(jittered(rng, 5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--environment", default="production")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crash-after", type=float, default=20.0, help="simulated seconds")
    parser.add_argument("--life", type=int, default=1, help="1 for the first start, then 2, ...")
    args = parser.parse_args(argv)
    clock = Clock(args.speed)
    signal.signal(signal.SIGTERM, lambda *_: clock.stop())
    signal.signal(signal.SIGINT, lambda *_: clock.stop())
    hb = hiveloop.init(
        api_key=args.api_key,
        endpoint=args.endpoint,
        environment=args.environment,
        flush_interval=1.0,
    )
    try:
        run(World(hb, clock, args.seed), args.crash_after, args.life)
    except DemoStopped:
        pass
    finally:
        hiveloop.shutdown(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
