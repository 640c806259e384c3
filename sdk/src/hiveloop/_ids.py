"""Cheap, unique ids.

Callers only take the next integer from a counter (tens of nanoseconds); the
sender thread turns it into a UUID string. The high 64 bits are random per
process and drawn again after a fork, so ids stay unique across processes and
restarts while the caller never pays for ``uuid4()``.
"""

from __future__ import annotations

import itertools
import os
import uuid

_sequence = itertools.count(1)
_process_bits = 0


def _draw_process_bits() -> None:
    global _process_bits
    _process_bits = int.from_bytes(os.urandom(8), "big") << 64


def next_seq() -> int:
    """The next id number; thread-safe (``itertools.count`` is atomic in CPython)."""
    return next(_sequence)


def as_uuid(seq: int) -> str:
    """The UUID (version 4 layout) for an id number taken from ``next_seq``."""
    return str(uuid.UUID(int=_process_bits | seq, version=4))


def new_uuid() -> str:
    return as_uuid(next_seq())


_draw_process_bits()
os.register_at_fork(after_in_child=_draw_process_bits)
