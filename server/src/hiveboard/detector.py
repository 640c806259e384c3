"""The background detector: re-evaluates every agent's status on a timer.

Ingest updates status when events arrive, but ``stuck`` and ``offline`` are about events
that *stop* arriving, so something must look again when nothing happens. Every
``interval`` seconds the detector loads each agent's stored facts, applies the pure
rules (derive/status.py) and, for each agent whose status changed, records the
transition through a conditional update. Several HiveBoard processes sharing one
PostgreSQL can all run it: only the one whose ``UPDATE … WHERE status = old`` changes the
row records and publishes the transition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from hiveboard.derive.status import agent_status
from hiveboard.periodic import PeriodicThread
from hiveboard.storage.base import Storage, Transition

logger = logging.getLogger(__name__)

Publish = Callable[[Transition], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Detector:
    """Periodic status re-evaluation; ``run_once`` is the whole algorithm (tests call it)."""

    def __init__(
        self,
        storage: Storage,
        interval: float,
        *,
        publish: Publish | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.storage = storage
        self.interval = interval
        self.publish = publish
        self.clock = clock
        self._thread = PeriodicThread("hiveboard-detector", interval, self.run_once)

    def run_once(self, now: datetime | None = None) -> list[Transition]:
        """Re-evaluate every agent once; return the transitions this process recorded."""
        now = now or self.clock()
        recorded = []
        still_stuck = []
        for state in self.storage.agent_states():
            decision = agent_status(state.facts, now)
            if decision.status == state.status:
                if state.status == "stuck":
                    still_stuck.append(state)
                continue
            transition = self.storage.apply_status(state, decision, now)
            if transition is None:
                continue  # another process or an ingest changed it first
            recorded.append(transition)
            if self.publish is not None:
                try:
                    self.publish(transition)
                except Exception:
                    logger.warning("publishing a transition failed", exc_info=True)
        if still_stuck:
            self.storage.mark_quiet_runs_stuck(still_stuck, now)
        return recorded

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current pass and stop; safe to call twice."""
        self._thread.stop(timeout)
