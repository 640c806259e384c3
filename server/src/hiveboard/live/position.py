"""The live stream's position, as carried by the SSE ``id`` and ``Last-Event-ID``.

A position is, for each tailed table (events, status transitions), the last id read
*plus the ids below it that were not there yet*: on PostgreSQL a sequence value is taken
at insert time, so id 100 can commit after 101 is visible (see
``storage.read.events.Tail``). A resumed stream watches those ids again, so an event that
commits while the client is reconnecting still arrives, and ids that were delivered are
not in the set, so nothing is sent twice.

Text form: ``<events>[~<gaps>]-<transitions>[~<gaps>]``, e.g. ``101-7`` (no gaps, the
only form SQLite ever produces, where ids are given at commit) or ``101~1.5_3-7``
(events 100 and 94…96 were still missing). Each gap item is ``d`` (the id ``position -
d``) or ``d_n`` (``n`` ids from ``position - d`` down), nearest first; only characters
that need no escaping in a header or a query string. At most :data:`MAX_RUNS` runs are
carried, the nearest ones: a longer list is mostly ids that ingest discarded (duplicate
``event_id`` values also consume sequence values), and an id stays short. Anything
that does not parse back exactly is refused: the stream answers 400.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import takewhile

MAX_ID = 2**63 - 1
"""Ids are 64-bit: a larger one cannot have come from this stream."""
MAX_RUNS = 32
"""Runs of missing ids carried per table."""
MAX_GAP_IDS = 10_000
"""Missing ids carried per table, all runs together (what a tail watches at most)."""

_PART = re.compile(r"^(\d{1,19})(?:~(\d{1,19}(?:_\d{1,19})?(?:\.\d{1,19}(?:_\d{1,19})?)*))?$")

Run = tuple[int, int]
"""``(low, high)``: the ids ``low…high``, both included."""


@dataclass(frozen=True)
class Position:
    """Last id read and ids still missing below it, per table; ``transitions`` is -1 when
    the client gave only an event position (the stream then starts transitions now)."""

    events: int
    transitions: int = -1
    event_gaps: frozenset[int] = frozenset()
    transition_gaps: frozenset[int] = frozenset()


def runs(ids: Iterable[int]) -> list[Run]:
    """Sorted ids as ascending, merged ``(low, high)`` runs."""
    out: list[Run] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def runs_below(gap_runs: list[Run], position: int, pending: Iterable[int] = ()) -> list[Run]:
    """The :data:`MAX_RUNS` nearest runs below ``position``: ``gap_runs`` (ascending, as
    :func:`runs` returns) plus ``pending``, ids read but not sent yet (ascending: only
    its head can lie below ``position``)."""
    k = bisect_left(gap_runs, (position, position))
    below = gap_runs[max(0, k - MAX_RUNS) : k]
    if below and below[-1][1] >= position:
        below[-1] = (below[-1][0], position - 1)
    extra = list(takewhile(lambda i: i < position, pending))
    if extra:
        below = runs([i for lo, hi in below for i in range(lo, hi + 1)] + extra)
    return below[-MAX_RUNS:]


def _encode_part(position: int, gap_runs: list[Run]) -> str:
    items = []
    for low, high in reversed(gap_runs):
        d, n = position - high, high - low + 1
        items.append(str(d) if n == 1 else f"{d}_{n}")
    return f"{position}~{'.'.join(items)}" if items else str(position)


def encode(events: int, event_runs: list[Run], transitions: int, transition_runs: list[Run]) -> str:
    """The SSE id of a position; runs as :func:`runs_below` returns them."""
    return f"{_encode_part(events, event_runs)}-{_encode_part(transitions, transition_runs)}"


def _decode_part(text: str) -> tuple[int, frozenset[int]]:
    match = _PART.match(text)
    if match is None:
        raise ValueError(text)
    position = int(match.group(1))
    if position > MAX_ID:
        raise ValueError(text)
    gaps: list[int] = []
    floor = position  # every run must lie strictly below the previous one
    items = match.group(2).split(".") if match.group(2) else []
    if len(items) > MAX_RUNS:
        raise ValueError(text)
    for item in items:
        d_text, _, n_text = item.partition("_")
        d, n = int(d_text), int(n_text) if n_text else 1
        high, low = position - d, position - d - n + 1
        if d < 1 or n < 1 or low < 1 or high >= floor or len(gaps) + n > MAX_GAP_IDS:
            raise ValueError(text)
        gaps.extend(range(low, high + 1))
        floor = low
    return position, frozenset(gaps)


def decode(value: str) -> Position:
    """Parse an SSE id; ``ValueError`` when this stream cannot have sent it."""
    head, sep, tail = value.strip().partition("-")
    events, event_gaps = _decode_part(head)
    if not sep or not tail:
        return Position(events, -1, event_gaps)
    transitions, transition_gaps = _decode_part(tail)
    return Position(events, transitions, event_gaps, transition_gaps)
