"""Behaviour of the in-process live broker: tenancy, filters, bounded queues, threads."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hiveboard.live.broker import Broker, StreamFilter


def _event(agent: str = "a1", event_type: str = "heartbeat", **extra: object) -> dict:
    return {
        "type": "event",
        "agent_id": agent,
        "event_type": event_type,
        "environment": "production",
        "group": "default",
        **extra,
    }


@pytest.mark.anyio
async def test_subscriber_receives_only_its_own_tenants_messages() -> None:
    broker = Broker()
    alice = broker.subscribe("tenant-alice")
    bob = broker.subscribe("tenant-bob")
    broker.publish("tenant-alice", _event())
    assert alice.drain() == [_event()]
    assert bob.drain() == []


@pytest.mark.anyio
async def test_filters_on_agent_environment_and_event_type() -> None:
    broker = Broker()
    sub = broker.subscribe(
        "t",
        StreamFilter(
            agent_id="a1", environment="production", event_types=frozenset({"task_started"})
        ),
    )
    broker.publish("t", _event("a2", "task_started"))
    broker.publish("t", _event("a1", "heartbeat"))
    broker.publish("t", _event("a1", "task_started", environment="staging"))
    broker.publish("t", _event("a1", "task_started"))
    # A transition has no event type and still passes an event-type filter.
    broker.publish(
        "t", {"type": "transition", "transition": {"agent_id": "a1", "environment": "production"}}
    )
    got = sub.drain()
    assert [m["type"] for m in got] == ["event", "transition"]
    assert got[0]["event_type"] == "task_started"


@pytest.mark.anyio
async def test_nested_event_fields_are_filterable() -> None:
    broker = Broker()
    sub = broker.subscribe("t", StreamFilter(project_id="p1"))
    broker.publish("t", {"type": "event", "event": {"project_id": "p1"}})
    broker.publish("t", {"type": "event", "event": {"project_id": "p2"}})
    assert len(sub.drain()) == 1


@pytest.mark.anyio
async def test_slow_subscriber_is_dropped_and_publisher_never_blocks() -> None:
    broker = Broker()
    slow = broker.subscribe("t", maxsize=3)
    fast = broker.subscribe("t", maxsize=100)
    for i in range(10):
        broker.publish("t", _event(seq=i))
    assert slow.dropped and slow.closed
    assert broker.subscriber_count("t") == 1
    assert len(fast.drain()) == 10


@pytest.mark.anyio
async def test_publish_from_another_thread_wakes_the_subscriber() -> None:
    broker = Broker()
    sub = broker.subscribe("t")
    thread = threading.Thread(target=broker.publish, args=("t", _event()))
    thread.start()
    assert await sub.wait(timeout=5)
    thread.join()
    await asyncio.sleep(0)
    assert sub.drain() == [_event()]


@pytest.mark.anyio
async def test_wait_times_out_without_messages_and_close_unsubscribes() -> None:
    broker = Broker()
    with broker.subscribe("t") as sub:
        assert await sub.wait(timeout=0.01) is False
        assert broker.subscriber_count() == 1
    assert broker.subscriber_count() == 0
    broker.publish("t", _event())  # nobody listening: a no-op
    assert sub.drain() == []


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
