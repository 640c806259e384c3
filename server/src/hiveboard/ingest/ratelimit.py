"""Per-key token-bucket rate limiting for ingest (in-process).

Each process keeps its own buckets: ``hiveboard serve --workers N`` gives each worker
1/N of the host's configured rate (``Settings.rate_limit_share``), since any worker may
receive a key's next connection. Sharing buckets between processes would put a lock or
a round trip in front of every ingest request, for a limit that is a safety valve.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` requests per second per key, with bursts up to ``2 * rate``.

    ``check`` returns 0 when the request may proceed, else the seconds to wait (for the
    ``Retry-After`` header). A rate of 0 disables limiting.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
