"""``init()`` options: defaults, environment fallbacks and validation, in one place.

Precedence: an argument passed to ``init`` wins, then the ``HIVELOOP_*``
environment variable, then the default. Invalid values raise
``HiveLoopError`` naming the argument and what it accepts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any

from ._log import logger
from .errors import HiveLoopError

DEFAULT_ENDPOINT = "https://api.hiveboard.io"
MAX_BATCH_SIZE = 500
ENVELOPE_LIMITS = {"environment": 64, "group": 128}  # characters, per the wire format

# Options that may come from the environment when init() leaves them out.
ENVIRONMENT_VARIABLES = {
    "api_key": "HIVELOOP_API_KEY",
    "endpoint": "HIVELOOP_ENDPOINT",
    "environment": "HIVELOOP_ENVIRONMENT",
}


@dataclass(frozen=True)
class Config:
    """Validated settings of one client."""

    api_key: str
    environment: str = "production"
    group: str = "default"
    endpoint: str = DEFAULT_ENDPOINT
    flush_interval: float = 5.0
    batch_size: int = 100
    max_queue_size: int = 10_000
    debug: bool = False

    def __repr__(self) -> str:  # the key is a secret: never show it whole
        return f"Config(api_key={mask_key(self.api_key)!r}, endpoint={self.endpoint!r})"


def mask_key(key: str) -> str:
    return key[:8] + "…" if len(key) > 8 else "…"


def resolve(explicit: dict[str, Any]) -> Config:
    """Build a Config from the arguments the caller actually passed."""
    values = dict(explicit)
    for name, variable in ENVIRONMENT_VARIABLES.items():
        if values.get(name) is None and os.environ.get(variable):
            values[name] = os.environ[variable]
    values = {k: v for k, v in values.items() if v is not None}
    _validate(values)
    if values.get("batch_size", 0) > MAX_BATCH_SIZE:
        logger.warning("batch_size %d capped at %d", values["batch_size"], MAX_BATCH_SIZE)
        values["batch_size"] = MAX_BATCH_SIZE
    if "endpoint" in values:
        values["endpoint"] = values["endpoint"].rstrip("/")
    return Config(**values)


def _validate(values: dict[str, Any]) -> None:
    key = values.get("api_key")
    if not isinstance(key, str) or not key.startswith("hb_"):
        shown = "nothing" if key is None else repr(mask_key(str(key)))
        raise HiveLoopError(
            f"api_key must be a HiveBoard key starting with 'hb_' (got {shown}); pass "
            "api_key=... to hiveloop.init() or set HIVELOOP_API_KEY"
        )
    for name in ("environment", "group", "endpoint"):
        if name in values and (not isinstance(values[name], str) or not values[name]):
            raise HiveLoopError(f"{name} must be a non-empty string (got {values[name]!r})")
    # The server refuses every batch whose envelope is over these limits.
    for name, limit in ENVELOPE_LIMITS.items():
        if name in values and len(values[name]) > limit:
            raise HiveLoopError(
                f"{name} must be at most {limit} characters (got {len(values[name])})"
            )
    endpoint = values.get("endpoint", DEFAULT_ENDPOINT)
    if not endpoint.startswith(("http://", "https://")):
        raise HiveLoopError(f"endpoint must start with http:// or https:// (got {endpoint!r})")
    interval = values.get("flush_interval", 5.0)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or interval <= 0
    ):
        raise HiveLoopError(
            f"flush_interval must be a number of seconds greater than 0 (got {interval!r})"
        )
    for name, minimum in (("batch_size", 1), ("max_queue_size", 1)):
        value = values.get(name, minimum)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise HiveLoopError(f"{name} must be an integer >= {minimum} (got {value!r})")
    if not isinstance(values.get("debug", False), bool):
        raise HiveLoopError(f"debug must be True or False (got {values['debug']!r})")


OPTION_NAMES = tuple(f.name for f in fields(Config))
