"""The ``hiveloop`` logger and a rate limiter for repeated warnings.

The SDK never prints: everything goes to the ``hiveloop`` logger, which has
a NullHandler so that nothing shows unless the application configures
logging (or passes ``debug=True``).
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("hiveloop")
logger.addHandler(logging.NullHandler())


class RateLimitedWarning:
    """Logs a warning at most once per ``interval`` seconds.

    Occurrences in between are counted and reported with the next message,
    so a server outage produces a handful of lines, not one per event.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._suppressed = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._last = now
        if suppressed:
            logger.warning(message + " (%d similar messages suppressed)", *args, suppressed)
        else:
            logger.warning(message, *args)
