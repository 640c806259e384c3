"""The database tail behind the live stream: id order, tenant scope, late commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hiveboard.live.position import MAX_RUNS, Position, decode, encode, runs, runs_below
from hiveboard.storage.base import Storage
from hiveboard.storage.read.events import EventFilter, Tail
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.tables import events

TS = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _insert(storage: Storage, tenant_id: str, row_id: int, agent: str = "a") -> None:
    """An event row with an explicit id: how a late-committing transaction looks."""
    with storage.engine.begin() as conn:
        conn.execute(
            events.insert().values(
                id=row_id,
                tenant_id=tenant_id,
                event_id=f"e{row_id}",
                ts=TS,
                received_at=TS,
                event_type="heartbeat",
                severity="debug",
                agent_id=agent,
                environment="production",
                group_name="default",
            )
        )


def _poll(storage: Storage, tail: Tail) -> list[Any]:
    with storage.engine.connect() as conn:
        return [row["event_id"] for kind, row in tail.poll(conn) if kind == "event"]


def test_tail_reads_in_id_order_and_only_its_tenant(storage: Storage) -> None:
    alice = storage.create_tenant("alice").id
    bob = storage.create_tenant("bob").id
    tail = Tail(Scope(alice), EventFilter(), event_after=0, transition_after=0)
    _insert(storage, alice, 1)
    _insert(storage, bob, 2)
    _insert(storage, alice, 3)
    assert _poll(storage, tail) == ["e1", "e3"]
    assert tail.position[0] == 3
    assert tail.events.gaps == {}  # bob's row is committed: not a gap
    assert _poll(storage, tail) == []


def test_a_late_commit_below_the_position_is_still_delivered(storage: Storage) -> None:
    alice = storage.create_tenant("alice").id
    clock = Clock()
    tail = Tail(
        Scope(alice),
        EventFilter(),
        event_after=0,
        transition_after=0,
        grace_seconds=10,
        clock=clock,
    )
    _insert(storage, alice, 1)
    _insert(storage, alice, 4)  # 2 and 3 are still in flight
    assert _poll(storage, tail) == ["e1", "e4"]
    assert set(tail.events.gaps) == {2, 3}
    clock.now = 5
    _insert(storage, alice, 2)  # commits late, within the grace period
    assert _poll(storage, tail) == ["e2"]
    clock.now = 20
    assert _poll(storage, tail) == []  # 3 never came (a discarded duplicate): forgotten
    assert tail.events.gaps == {}


def test_filters_apply_to_the_tail(storage: Storage) -> None:
    alice = storage.create_tenant("alice").id
    tail = Tail(Scope(alice, agent_id="b"), EventFilter(), event_after=0, transition_after=0)
    _insert(storage, alice, 1, agent="a")
    _insert(storage, alice, 2, agent="b")
    assert _poll(storage, tail) == ["e2"]
    assert tail.position[0] == 2


def test_backlog_is_read_in_windows(storage: Storage) -> None:
    alice = storage.create_tenant("alice").id
    for i in range(1, 6):
        _insert(storage, alice, i)
    tail = Tail(Scope(alice), EventFilter(), event_after=0, transition_after=0)
    with storage.engine.connect() as conn:
        first = tail.poll(conn, limit=2)
        assert tail.saturated
        rest = tail.poll(conn, limit=10)
    assert [r["event_id"] for _, r in first] == ["e1", "e2"]
    assert [r["event_id"] for _, r in rest] == ["e3", "e4", "e5"]
    assert not tail.saturated


def test_a_resumed_tail_watches_the_gaps_it_was_handed(storage: Storage) -> None:
    """What a resumed stream does with the ids missing below its ``Last-Event-ID``."""
    alice = storage.create_tenant("alice").id
    clock = Clock()
    _insert(storage, alice, 1)
    _insert(storage, alice, 4)
    tail = Tail(
        Scope(alice),
        EventFilter(),
        event_after=4,
        transition_after=0,
        event_gaps={2, 3, 4, 9},  # 4 and 9 are not below the position: ignored
        grace_seconds=10,
        clock=clock,
    )
    assert set(tail.events.gaps) == {2, 3}
    assert _poll(storage, tail) == []  # 1 and 4 were delivered before the resume
    _insert(storage, alice, 3)
    _insert(storage, alice, 5)
    assert _poll(storage, tail) == ["e3", "e5"]
    assert _poll(storage, tail) == []
    clock.now = 11
    assert _poll(storage, tail) == []  # past the grace period: given up, as without a resume
    assert tail.events.gaps == {}


def test_positions_round_trip_and_refuse_what_was_not_sent() -> None:
    gaps = runs([100, 94, 95, 96, 50])
    ident = encode(101, runs_below(gaps, 101), 7, [])
    assert ident == "101~1.5_3.51-7"
    assert decode(ident) == Position(101, 7, frozenset({50, 94, 95, 96, 100}))
    assert encode(12, [], 5, []) == "12-5"  # no gaps: the form SQLite always has
    assert decode("12") == Position(12, -1)
    assert runs_below(gaps, 96, [97]) == [(50, 50), (94, 95)]
    assert runs_below(gaps, 101, [98, 99, 105]) == [(50, 50), (94, 96), (98, 100)]
    many = runs(range(1, 200, 2))
    assert len(runs_below(many, 200)) == MAX_RUNS  # the nearest runs only
    assert runs_below(many, 200)[-1] == (199, 199)
    for bad in ("5~0-1", "5~5-1", "5~1.1-1", "5~2.1-1", "5~1_0-1", "5~1..2-1", "5~-1",
                "5~a-1", "5~1_2.2-1", "1-9223372036854775808", "1 2", "+5-1",
                "9" * 30 + "~1-1", "5~" + ".".join(str(d) for d in range(1, 4)) + "x"):  # fmt: skip
        with pytest.raises(ValueError):
            decode(bad)
    too_many = "999~" + ".".join(str(2 * i + 1) for i in range(MAX_RUNS + 1))
    with pytest.raises(ValueError):
        decode(too_many)
    with pytest.raises(ValueError):
        decode("100000~1_10001")  # more ids than a tail watches
