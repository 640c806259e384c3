"""In-process publish/subscribe for live clients (the SSE stream, the dashboard).

The write side calls :meth:`Broker.publish` after each committed ingest batch and after
each recorded status transition.  Subscribers (one per open ``/v1/stream`` connection)
receive the messages that match their filter on a bounded ``asyncio.Queue``.

Two rules shape this module:

* **Publishing never blocks and never raises.**  Ingest must not become as slow as the
  slowest browser tab.  When a subscriber's queue is full, the subscriber is *dropped*
  (marked closed and sent nothing more); its stream ends and the client reconnects with
  ``Last-Event-ID``, catching up from the database.
* **The broker is an optimisation, not the source of truth.**  With several HiveBoard
  processes behind a load balancer, a process only sees the batches it ingested itself.
  The stream endpoint therefore tails the database by a monotonically increasing id and
  uses the broker only as a doorbell that makes in-process delivery immediate.  Losing
  a broker message costs latency (one poll interval), never data.

``publish`` may be called from any thread (ingest handlers may run in a thread pool);
delivery is handed to each subscriber's event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
"""Messages a subscriber may have pending before it is considered too slow and dropped."""


@dataclass(frozen=True)
class StreamFilter:
    """What one subscriber wants to see; ``None`` or an empty set means "anything".

    Each field is compared with the same-named key of the message (looked up at the top
    level, then inside a nested ``event``/``transition`` object), so the write side can
    publish flat or nested messages.  ``event_types`` applies to event messages only;
    transitions carry no event type and always pass it.
    """

    environment: str | None = None
    group: str | None = None
    project_id: str | None = None
    agent_id: str | None = None
    event_types: frozenset[str] = field(default_factory=frozenset)
    message_types: frozenset[str] = field(default_factory=frozenset)

    def matches(self, message: Mapping[str, Any]) -> bool:
        """Return True when ``message`` passes every constraint of this filter."""
        mtype = message.get("type")
        if self.message_types and mtype not in self.message_types:
            return False
        for key, wanted in (
            ("environment", self.environment),
            ("group", self.group),
            ("project_id", self.project_id),
            ("agent_id", self.agent_id),
        ):
            if wanted is None:
                continue
            value = _lookup(message, key)
            # A message that does not carry the field cannot be shown as matching it;
            # agent-level facts (environment, group) are always present on both kinds.
            if value != wanted:
                return False
        if self.event_types and mtype == "event":
            return _lookup(message, "event_type") in self.event_types
        return True


def _lookup(message: Mapping[str, Any], key: str) -> Any:
    if key in message:
        return message[key]
    for nested in ("event", "transition"):
        inner = message.get(nested)
        if isinstance(inner, Mapping) and key in inner:
            return inner[key]
    return None


class Subscription:
    """One subscriber's bounded mailbox.  Create with :meth:`Broker.subscribe`."""

    def __init__(
        self,
        broker: Broker,
        tenant_id: str,
        stream_filter: StreamFilter,
        maxsize: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._broker = broker
        self.tenant_id = tenant_id
        self.filter = stream_filter
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        self._loop = loop
        self.dropped = False
        """True once the broker gave up on this subscriber because it fell behind."""
        self.closed = False
        self._wakeup = asyncio.Event()

    def _deliver(self, message: dict[str, Any]) -> None:
        """Enqueue on the subscriber's loop; drop the subscriber when its queue is full."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.info("live subscriber of tenant %s fell behind; dropping it", self.tenant_id)
            self.dropped = True
            self.close()
        self._wakeup.set()

    def offer(self, message: dict[str, Any]) -> None:
        """Hand ``message`` over without blocking, from whichever thread publishes."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(message)
            return
        try:
            self._loop.call_soon_threadsafe(self._deliver, message)
        except RuntimeError:
            # The subscriber's loop is gone (server shutting down): nothing to deliver to.
            self.close()

    def pending(self) -> int:
        """Number of messages waiting to be read."""
        return self._queue.qsize()

    def get_nowait(self) -> dict[str, Any] | None:
        """Return the next queued message, or None when the mailbox is empty."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def drain(self) -> list[dict[str, Any]]:
        """Return and remove every queued message."""
        messages: list[dict[str, Any]] = []
        while (message := self.get_nowait()) is not None:
            messages.append(message)
        return messages

    async def wait(self, timeout: float | None) -> bool:
        """Wait until a message arrives, the subscription closes, or ``timeout`` passes.

        Returns True when something happened (a message or a close), False on timeout.
        """
        if self._queue.qsize() or self.closed:
            return True
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return bool(self._queue.qsize()) or self.closed
        return True

    def close(self) -> None:
        """Unsubscribe; further messages are ignored.  Safe to call twice."""
        if not self.closed:
            self.closed = True
            self._broker._remove(self)
            self._wakeup.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Broker:
    """Fan-out of published messages to the subscribers of the same tenant."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self.published = 0
        """Messages offered to at least the filter check; for diagnostics and tests."""

    def subscribe(
        self,
        tenant_id: str,
        stream_filter: StreamFilter | None = None,
        *,
        maxsize: int | None = None,
    ) -> Subscription:
        """Register a subscriber on the running event loop (call from async code)."""
        loop = asyncio.get_running_loop()
        sub = Subscription(
            self, tenant_id, stream_filter or StreamFilter(), maxsize or self.queue_size, loop
        )
        with self._lock:
            self._subscribers.setdefault(tenant_id, set()).add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subscribers.get(sub.tenant_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[sub.tenant_id]

    def subscriber_count(self, tenant_id: str | None = None) -> int:
        """How many live subscribers there are (for one tenant, or overall)."""
        with self._lock:
            if tenant_id is not None:
                return len(self._subscribers.get(tenant_id, ()))
            return sum(len(s) for s in self._subscribers.values())

    def publish(self, tenant_id: str, message: dict[str, Any]) -> None:
        """Offer ``message`` to every matching subscriber of ``tenant_id``.

        Never blocks and never raises: a failure here must not fail an ingest request
        whose events are already committed.
        """
        try:
            with self._lock:
                subs = list(self._subscribers.get(tenant_id, ()))
            self.published += 1
            for sub in subs:
                if sub.filter.matches(message):
                    sub.offer(message)
        except Exception:  # pragma: no cover - defensive: publishing is best effort
            logger.exception("live broker failed to publish a message")

    def publish_many(self, tenant_id: str, messages: Iterable[dict[str, Any]]) -> None:
        """Publish several messages (one committed batch) in order."""
        for message in messages:
            self.publish(tenant_id, message)
