"""The database tail behind the live stream: id order, tenant scope, late commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
