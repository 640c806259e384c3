"""Group commit for ingest: one writer thread applies every pending batch in one transaction.

SQLite has one writer, and on both backends a small transaction costs mostly its fixed
part (commit, round trips, one statement per table). So concurrent ``ingest`` calls
queue their batch here and wait; the writer takes everything pending (up to
``max_events``), applies it as one group (``write.apply_batches``) in one transaction and
then answers each caller: a caller returns only after the commit that holds its events.

If a group fails, each of its batches is retried alone, so one bad batch fails only its
own request, exactly as with a transaction per request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime

from hiveboard.ingest.model import Batch
from hiveboard.storage.base import IngestResult

logger = logging.getLogger(__name__)

Item = tuple[str, Batch, datetime]
ApplyGroup = Callable[[Sequence[Item]], list[IngestResult]]


class GroupWriter:
    """Worker threads that drain a queue of batches into grouped transactions."""

    def __init__(
        self, apply_group: ApplyGroup, *, threads: int = 1, max_events: int = 5_000
    ) -> None:
        self._apply_group = apply_group
        self._max_events = max_events
        self._queue: queue.SimpleQueue[tuple[Item, Future[IngestResult]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = threads
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, tenant_id: str, batch: Batch, now: datetime) -> Future[IngestResult]:
        """Queue a batch; the future resolves after the commit that holds it."""
        future: Future[IngestResult] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("storage is closed")
            if not self._workers:
                self._start()
            self._queue.put(((tenant_id, batch, now), future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the workers."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
            for _ in workers:
                self._queue.put(None)
        for t in workers:
            t.join(timeout=30)

    def _start(self) -> None:
        for n in range(self._threads):
            t = threading.Thread(target=self._run, name=f"hiveboard-ingest-{n}", daemon=True)
            t.start()
            self._workers.append(t)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            events = len(first[0][1].events)
            stop = False
            while events < self._max_events:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                events += len(nxt[0][1].events)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[tuple[Item, Future[IngestResult]]]) -> None:
        try:
            results = self._apply_group([item for item, _ in group])
        except BaseException as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            logger.warning("a grouped ingest transaction failed; retrying its batches one by one")
            for entry in group:
                self._write([entry])
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)
