"""When events leave: a bounded queue drained by two background threads.

The caller's side (``submit``) appends a tuple to a deque and returns. The
sender thread turns records into JSON, groups them by agent and cuts batches
within the server's limits; the delivery thread posts each batch with retries.
Two stages so that the next batch is encoded while the previous one is on the
wire and the server reads it. A full queue drops its oldest records and counts
them; nothing here ever blocks or raises into the caller.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import _events
from ._log import RateLimitedWarning, logger
from ._transport import SendResult, Transport
from ._unicode import replace_lone_surrogates

RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_BODY_BYTES = 900_000  # under the server's 1 MB, leaving room for the envelope
DRAIN_CHUNK = 5_000
# Encoded batches waiting for the delivery thread. One is enough to keep both
# stages busy (measured: more did not deliver faster, and would keep more
# events off the bounded queue).
PIPELINE_DEPTH = 1
# Records the sender encodes between two offers of the GIL (about 0.1 ms of work).
YIELD_EVERY = 32
# Gives the GIL and the CPU to a thread waiting for them: the delivery thread back
# from the network (or a caller) then runs at once, not after the interpreter's
# switch interval of 5 ms. Measured: about 15% more events/s on a loaded machine.
_yield_gil: Callable[[], object] = getattr(os, "sched_yield", None) or functools.partial(
    time.sleep, 0
)


class EventSource(Protocol):
    """What a record's producer offers the sender: its batch envelope."""

    def envelope_json(self) -> str: ...


# (id number, epoch seconds, producing agent, builder, *builder arguments): one
# flat tuple per event keeps 100,000 queued events within a few tens of MB.
Record = tuple[Any, ...]


Batch = tuple[str, list[str], bytes]  # (agent envelope JSON, event JSON texts, request body)


class _FlushMarker:
    """Queued by ``flush``: the delivery thread sets it once everything before it is handled."""

    def __init__(self, lost_before: int) -> None:
        self.done = threading.Event()
        self.lost_before = lost_before
        self.complete = False


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of what the SDK did with its events, from ``hb.stats()``.

    ``queued`` counts events recorded but neither delivered nor dropped yet,
    including those the sender already took off the queue.

    ``dropped`` counts lost events by reason: ``queue_full`` (the oldest were
    dropped to make room), ``rejected`` (the server refused them: a 4xx, or
    per-event errors in a 207), ``retries_exhausted`` (the server stayed
    unreachable through every retry), ``shutdown`` (still undelivered when
    shutdown's timeout ran out), ``unserializable`` (an event could not be
    encoded), ``closed`` (recorded after shutdown).
    """

    queued: int
    sent: int
    retried: int
    dropped: dict[str, int] = field(default_factory=dict)
    batches_sent: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class _Batcher:
    """One agent's events, passed on in batches within the event-count and body-size limits.

    A batch leaves as soon as it is full, so the delivery thread can post it
    while the sender encodes the next one.
    """

    def __init__(
        self, envelope: str, max_events: int, max_body: int, send: Callable[[Batch], None]
    ) -> None:
        self._envelope = envelope
        self._max_events = max_events
        self._max_bytes = max_body - len(envelope)
        self._send = send
        self._events: list[str] = []
        self._size = 0

    def add(self, encoded: str) -> None:
        cost = len(encoded) + 1
        if self._events and self._size + cost > self._max_bytes:
            self.close()
        self._events.append(encoded)
        self._size += cost
        if len(self._events) >= self._max_events:
            self.close()

    def close(self) -> None:
        """Pass on the events collected so far, if any."""
        if self._events:
            self._send((self._envelope, self._events, ingest_body(self._envelope, self._events)))
            self._events, self._size = [], 0


class BackgroundWorker:
    """Owns the queue, the sender thread and the delivery thread of one client."""

    def __init__(
        self,
        transport: Transport,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue_size: int,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._transport = transport
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue_size
        self._retry_delays = tuple(retry_delays)
        self._sleep_hook = sleep
        self._dropped_warning = RateLimitedWarning()
        self._error_warning = RateLimitedWarning()
        self._reset_state()

    def _reset_state(self) -> None:
        self._queue: deque[Record | _FlushMarker] = deque(maxlen=self._max_queue)
        # From the sender to the delivery thread; None tells the latter to stop.
        self._outbox: queue.Queue[Batch | _FlushMarker | None] = queue.Queue(PIPELINE_DEPTH)
        # Events off the queue, delivered or dropped since: the difference is still
        # on its way. Only the sender thread writes _taken, so it needs no lock.
        self._taken = 0
        self._settled = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self._deadline: float | None = None
        self._sent = 0
        self._batches = 0
        self._retried = 0
        self._dropped: dict[str, int] = {}
        self._last_error: str | None = None
        self._last_error_at: float | None = None

    # -- the caller's side --------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue a record. Never blocks; on a full queue the oldest record is dropped."""
        if self._thread is None:
            if self._closed:
                self._count_drop("closed", 1)
                return
            self._start()
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._count_drop("queue_full", 1)
        queue.append(record)
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="hiveloop-sender", daemon=True)
            thread.start()
            self._thread = thread

    def after_fork(self) -> None:
        """In a forked child: a new queue, new locks, a new connection pool, no thread yet.

        Events the parent had queued stay the parent's to deliver.
        """
        self._reset_state()
        reopen = getattr(self._transport, "reopen", None)
        if reopen is not None:
            reopen()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued before this call is delivered or given up on.

        Returns True when all of it was delivered, False on a timeout or a loss.
        """
        if self._thread is None:
            return not self._queue
        marker = _FlushMarker(self._lost_total())
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout) and marker.complete

    def close(self, timeout: float) -> bool:
        """Deliver what can be delivered within ``timeout`` seconds, then stop the sender."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            # submit() now takes its slow path and counts late records as "closed".
            thread, self._thread = self._thread, None
        if thread is None:
            return True
        lost_before = self._lost_total()
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        thread.join(timeout + 0.5)
        return not thread.is_alive() and self._lost_total() == lost_before

    def stats(self) -> DeliveryStats:
        queued = sum(1 for item in list(self._queue) if not isinstance(item, _FlushMarker))
        with self._lock:
            return DeliveryStats(
                queued=queued + self._taken - self._settled,
                sent=self._sent,
                retried=self._retried,
                dropped=dict(self._dropped),
                batches_sent=self._batches,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
            )

    # -- the sender thread -----------------------------------------------------------

    def _run(self) -> None:
        delivery = threading.Thread(
            target=self._deliver_batches, name="hiveloop-delivery", daemon=True
        )
        delivery.start()
        try:
            while True:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                try:
                    self._drain()
                except Exception:  # keep delivering whatever one bad record did
                    logger.exception("hiveloop sender hit an unexpected error; continuing")
                if self._stopping.is_set() and not self._queue:
                    return
        finally:
            self._outbox.put(None)
            delivery.join()

    def _drain(self) -> None:
        pending: list[Record] = []
        queue = self._queue
        while queue:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, _FlushMarker):
                self._hand_off(pending)
                pending = []
                self._outbox.put(item)
            else:
                pending.append(item)
                self._taken += 1
                if len(pending) >= DRAIN_CHUNK:
                    self._hand_off(pending)
                    pending = []
        self._hand_off(pending)

    def _hand_off(self, records: list[Record]) -> None:
        """Encode records and pass them, batch by batch, to the delivery thread.

        Blocks while the delivery thread is busy with earlier batches, so at
        most ``DRAIN_CHUNK`` records are off the bounded queue at a time.
        """
        if not records:
            return
        if self._time_left() == 0.0:  # shutdown's deadline passed: no point encoding
            self._drop_taken("shutdown", len(records))
            return
        batchers: dict[int, _Batcher | None] = {}  # by id(source); None: no envelope
        render = _events.render
        last_source: object = None
        batcher: _Batcher | None = None
        for count, record in enumerate(records, 1):
            if count % YIELD_EVERY == 0:
                _yield_gil()
            try:
                encoded = render(record)
            except Exception:
                logger.warning(
                    "could not encode a %s event; dropped", record[3].__name__, exc_info=True
                )
                self._drop_taken("unserializable", 1)
                continue
            source = record[2]
            if source is not last_source:  # records come in runs of one agent
                key = id(source)
                batcher = batchers[key] if key in batchers else self._batcher_for(source)
                batchers[key] = batcher
                last_source = source
            if batcher is None:
                self._drop_taken("unserializable", 1)
            else:
                batcher.add(encoded)
        for batcher in batchers.values():
            if batcher is not None:
                batcher.close()

    def _batcher_for(self, source: EventSource) -> _Batcher | None:
        try:
            envelope = source.envelope_json()
        except Exception:
            logger.warning("could not encode an agent envelope; its events dropped", exc_info=True)
            return None
        return _Batcher(envelope, self._batch_size, MAX_BODY_BYTES, self._outbox.put)

    def _deliver_batches(self) -> None:
        """The delivery thread: post batches in order; a flush marker is done when reached."""
        outbox = self._outbox
        while (item := outbox.get()) is not None:
            try:
                if isinstance(item, _FlushMarker):
                    item.complete = self._lost_total() == item.lost_before
                    item.done.set()
                else:
                    envelope, events, body = item
                    try:
                        self._deliver(envelope, events, body)
                    finally:
                        self._settle(len(events))
            except Exception:  # keep delivering whatever one bad batch did
                logger.exception("hiveloop delivery hit an unexpected error; continuing")

    def _deliver(self, envelope: str, events: list[str], body: bytes) -> None:
        """Post one batch (the body is built by the sender, off this thread's critical path)."""
        if self._time_left() == 0.0:
            self._count_drop("shutdown", len(events))
            return
        attempt = 0
        while True:
            result = self._transport.send(body, len(events), self._time_left())
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "batch of %d events (%d bytes): %s", len(events), len(body), _describe(result)
                )
            if result.delivered:
                self._record_delivery(len(events), result)
                return
            self._note_error(result.error or "unknown error")
            if result.status == 413 and len(events) > 1:
                half = len(events) // 2
                for part in (events[:half], events[half:]):
                    self._deliver(envelope, part, ingest_body(envelope, part))
                return
            if not result.retryable:
                self._error_warning.warn("HiveBoard refused a batch (%s); dropped", result.error)
                self._count_drop("rejected", len(events))
                return
            if attempt >= len(self._retry_delays):
                self._error_warning.warn(
                    "HiveBoard unreachable after %d retries (%s); batch dropped",
                    attempt,
                    result.error,
                )
                self._count_drop("retries_exhausted", len(events))
                return
            delay = max(self._retry_delays[attempt], result.retry_after or 0.0)
            attempt += 1
            if not self._wait_before_retry(delay):
                self._count_drop("shutdown", len(events))
                return
            with self._lock:
                self._retried += 1

    def _wait_before_retry(self, delay: float) -> bool:
        """Sleep before a retry; False when shutdown's deadline leaves no time for it."""
        if self._sleep_hook is not None:
            self._sleep_hook(delay)
            return self._time_left() != 0.0
        if self._deadline is None:
            self._stopping.wait(delay)
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= delay:
                return False
            time.sleep(delay)
        return True

    def _time_left(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    # -- bookkeeping -------------------------------------------------------------------

    def _record_delivery(self, count: int, result: SendResult) -> None:
        with self._lock:
            self._sent += count - result.rejected
            self._batches += 1
        if result.rejected:
            self._note_error(result.error or "events rejected")
            self._count_drop("rejected", result.rejected)

    def _settle(self, count: int) -> None:
        """``count`` events taken off the queue are now delivered or dropped."""
        with self._lock:
            self._settled += count

    def _drop_taken(self, reason: str, count: int) -> None:
        self._count_drop(reason, count)
        self._settle(count)

    def _note_error(self, error: str) -> None:
        with self._lock:
            self._last_error = error
            self._last_error_at = time.time()

    def _count_drop(self, reason: str, count: int) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
            total = self._dropped[reason]
        self._dropped_warning.warn("hiveloop dropped events (%s: %d so far)", reason, total)

    def _lost_total(self) -> int:
        with self._lock:
            return sum(self._dropped.values())


def ingest_body(envelope: str, events: list[str]) -> bytes:
    """The ``/v1/ingest`` request body for one agent's encoded events.

    The text is ASCII, so a lone surrogate can only be there as an escape, and an
    escape needs a backslash, which one fast scan rules out; a lone surrogate would
    cost the whole batch, so it is replaced with U+FFFD.
    """
    text = '{"envelope":' + envelope + ',"events":[' + ",".join(events) + "]}"
    if "\\" in text:
        text = replace_lone_surrogates(text)
    return text.encode()


def _describe(result: SendResult) -> str:
    if result.delivered:
        return f"HTTP {result.status}, {result.rejected} rejected"
    return f"failed ({result.error}), {'will retry' if result.retryable else 'not retryable'}"
