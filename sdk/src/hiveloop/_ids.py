"""Cheap, unique ids.

Callers only take the next integer from a counter (tens of nanoseconds); the
sender thread turns it into a UUID string. The high 64 bits are random per
process and drawn again after a fork, so ids stay unique across processes and
restarts while the caller never pays for ``uuid4()``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

_sequence = itertools.count(1)
_prefix = ""
_VARIANT = 0x8000  # RFC 4122 variant bits on the fourth group
_LOW_48 = (1 << 48) - 1


def _draw_process_bits() -> None:
    """The first three groups: 60 random bits around the version nibble 4."""
    global _prefix
    high = int.from_bytes(os.urandom(8), "big")
    text = f"{high:016x}"
    _prefix = f"{text[:8]}-{text[8:12]}-4{text[13:16]}-"


# The next id number; thread-safe (``itertools.count`` is atomic in CPython). The
# counter's own method: callers take one per event, a wrapper would double the cost.
next_seq: Callable[[], int] = _sequence.__next__


def as_uuid(seq: int) -> str:
    """The UUID string (version 4 layout) for an id number taken from ``next_seq``."""
    return f"{_prefix}{_VARIANT | (seq >> 48) & 0x3FFF:04x}-{seq & _LOW_48:012x}"


def new_uuid() -> str:
    return as_uuid(next_seq())


_draw_process_bits()
os.register_at_fork(after_in_child=_draw_process_bits)
