"""A background thread that runs one pass of some job every ``interval`` seconds.

Shared by the status detector and retention pruning: both must keep going
when a pass fails (a database restarting, say) and stop promptly on shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicThread:
    def __init__(self, name: str, interval: float, run_once: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self._run_once = run_once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current pass and stop; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        # Wait first: at start-up there is nothing to catch up on, and tests that
        # build an app should not race a pass they did not ask for.
        while not self._stop.wait(self.interval):
            try:
                self._run_once()
            except Exception:
                logger.exception("%s pass failed; retrying in %.1f s", self.name, self.interval)
