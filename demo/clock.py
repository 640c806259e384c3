"""Simulated time: every agent sleeps in *simulated* seconds scaled by ``--speed``.

One shared stop event makes every sleep return at once on SIGINT/SIGTERM, so a
fleet of threads and coroutines stops within a fraction of a second instead of
waiting out a 90-second "approval" nap.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time


class DemoStopped(Exception):
    """Raised from a sleep when the fleet is stopping.

    An ``Exception`` (not ``BaseException``) on purpose: a task interrupted by the
    demo's shutdown is recorded by HiveLoop as a failed run, which is the truth.
    """


class Clock:
    """Speed-scaled sleeps and thresholds shared by every simulated agent."""

    def __init__(self, speed: float = 1.0, duration: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.stop_event = threading.Event()
        self.started = time.monotonic()
        self.deadline = None if duration is None else self.started + duration

    def real(self, sim_seconds: float) -> float:
        """Real seconds for a simulated duration."""
        return max(0.0, sim_seconds / self.speed)

    def threshold(self, sim_seconds: float, floor: int = 6) -> int:
        """A stuck threshold in real seconds, never below ``floor``.

        HiveBoard's detector runs every few seconds and events are flushed in
        batches; a threshold shorter than that would make healthy agents flap
        between stuck and processing at high ``--speed``.
        """
        return max(floor, math.ceil(self.real(sim_seconds)))

    def interval(self, sim_seconds: float, floor: float = 1.0) -> float:
        """A heartbeat interval in real seconds (at least ``floor``)."""
        return max(floor, self.real(sim_seconds))

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def stop(self) -> None:
        self.stop_event.set()

    def sim_elapsed(self) -> float:
        """Simulated seconds since the fleet started."""
        return (time.monotonic() - self.started) * self.speed

    def sleep(self, sim_seconds: float) -> None:
        """Sleep in simulated seconds; raise ``DemoStopped`` as soon as the fleet stops."""
        if self.stop_event.wait(self.real(sim_seconds)):
            raise DemoStopped("demo fleet stopped")

    async def asleep(self, sim_seconds: float) -> None:
        """The asyncio flavour of ``sleep``: polls the stop event in short slices."""
        remaining = self.real(sim_seconds)
        while remaining > 0:
            if self.stop_event.is_set():
                raise DemoStopped("demo fleet stopped")
            step = min(remaining, 0.2)
            await asyncio.sleep(step)
            remaining -= step
        if self.stop_event.is_set():
            raise DemoStopped("demo fleet stopped")


def jittered(rng: random.Random, base: float, spread: float = 0.3) -> float:
    """``base`` ± ``spread`` (a fraction), so agents never tick in lockstep."""
    return base * (1.0 + rng.uniform(-spread, spread))
