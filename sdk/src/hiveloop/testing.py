"""Assert on what your agent reports, without a server.

    from hiveloop.testing import capture

    def test_scoring_reports_its_llm_call():
        with capture() as events:
            agent = events.client.agent("scorer", heartbeat_interval=0)
            with agent.task("t-1") as task:
                task.llm_call("score", "gpt-4o", tokens_in=10, tokens_out=2)
        assert events.kinds() == ["llm_call"]

With pytest, the ``hiveloop_capture`` fixture does the same for one test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hiveloop

from ._client import HiveBoard
from ._transport import SendResult

__all__ = ["Capture", "InMemoryTransport", "capture"]


class InMemoryTransport:
    """A transport that keeps every body it is given and accepts everything."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[dict[str, Any]] = []

    def send(self, body: bytes, event_count: int, timeout: float | None = None) -> SendResult:
        with self._lock:
            self._bodies.append(json.loads(body))
        return SendResult(200)

    def close(self) -> None:
        """Nothing to release; the bodies stay readable after shutdown."""

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies)


class Capture:
    """What the client sent so far; every read flushes first."""

    def __init__(self, client: HiveBoard, transport: InMemoryTransport) -> None:
        self.client = client
        self.transport = transport

    def bodies(self) -> list[dict[str, Any]]:
        """Ingest bodies (``{"envelope": ..., "events": [...]}``) as they would be POSTed."""
        if not self.client.closed:
            self.client.flush(5.0)
        return self.transport.bodies

    def events(
        self, event_type: str | None = None, *, include_heartbeats: bool = False
    ) -> list[dict[str, Any]]:
        """Events in order, each with its envelope's ``agent_id`` filled in.

        Registration and heartbeat events are left out unless asked for by
        type or with ``include_heartbeats=True``, so assertions read as the
        agent's own story.
        """
        housekeeping = {"agent_registered", "heartbeat"}
        found = []
        for body in self.bodies():
            for event in body["events"]:
                kind = (event.get("payload") or {}).get("kind")
                if event_type is not None and event["event_type"] != event_type:
                    continue
                is_housekeeping = event["event_type"] in housekeeping or kind == "queue_snapshot"
                if event_type is None and not include_heartbeats and is_housekeeping:
                    continue
                found.append({"agent_id": body["envelope"]["agent_id"], **event})
        return found

    def event_types(self) -> list[str]:
        return [event["event_type"] for event in self.events()]

    def kinds(self) -> list[str]:
        """Payload kinds of the ``custom`` events (``llm_call``, ``plan_step``, ...)."""
        return [
            e["payload"]["kind"] for e in self.events("custom") if "kind" in e.get("payload", {})
        ]


@contextmanager
def capture(**init_arguments: Any) -> Iterator[Capture]:
    """Run the block with a fresh client whose events stay in memory.

    Any running client is reset first and the capturing one is reset after.
    Keyword arguments go to ``hiveloop.init``.
    """
    transport = InMemoryTransport()
    hiveloop.reset()
    init_arguments.setdefault("api_key", "hb_test_capture")
    client = hiveloop.init(transport=transport, **init_arguments)
    try:
        yield Capture(client, transport)
    finally:
        hiveloop.reset()
