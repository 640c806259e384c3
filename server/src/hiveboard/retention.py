"""Retention: raw events older than ``HIVEBOARD_RETENTION_DAYS`` are deleted.

Only the raw event log is pruned. Derived state (agents, task runs, LLM calls,
rollups, pipeline items) is kept, so cost history and task lists stay whole;
timelines of runs older than the window lose their event-level detail.
Deletion goes in small batches so ingest is never locked out for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hiveboard.periodic import PeriodicThread
from hiveboard.storage.base import Storage

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0


class Retention:
    def __init__(
        self,
        storage: Storage,
        days: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = PRUNE_INTERVAL_SECONDS,
    ) -> None:
        self.storage = storage
        self.days = days
        self.clock = clock
        self._thread = PeriodicThread("hiveboard-retention", interval, self.run_once)

    def run_once(self) -> int:
        """Delete what is past the window now; returns how many events went (0 keeps all)."""
        if self.days <= 0:
            return 0
        cutoff = self.clock() - timedelta(days=self.days)
        deleted = self.storage.prune_events(cutoff)
        if deleted:
            logger.info("retention: deleted %d events older than %s", deleted, cutoff.isoformat())
        return deleted

    def start(self) -> None:
        if self.days > 0:
            self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
