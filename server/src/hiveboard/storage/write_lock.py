"""One writer at a time on a SQLite file, across threads and processes, without sleeping.

SQLite lets one connection write at a time. A second process that finds the write lock
taken gets ``SQLITE_BUSY`` and its busy handler sleeps in growing steps (up to 100 ms)
before it looks again, so with ``hiveboard serve --workers 2`` each process lost most of
the time the other one wrote: two processes were no faster than one. Here a writer
first takes a thread lock (this process) and then an exclusive ``flock`` on a lock file
next to the database (every process): the kernel wakes the next waiter the moment the
holder lets go. ``BEGIN IMMEDIATE`` and the busy timeout stay as they are, so a writer
that does not use this lock (another tool opening the file) is still safe, only slower.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SqliteWriteLock:
    """Exclusive writer lock for the SQLite database at ``db_path``."""

    def __init__(self, db_path: str) -> None:
        self._path = f"{db_path}-writer.lock"
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _file(self) -> int:
        # A forked child must not share its parent's open file: flock belongs to the
        # open file, so parent and child would both "hold" it at once.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd
