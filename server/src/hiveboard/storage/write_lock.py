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
        self._db_path = db_path
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
            self._fd = _open_lock_file(self._path, self._db_path)
            self._pid = os.getpid()
        return self._fd


def _open_lock_file(path: str, db_path: str) -> int:
    """The lock file, created with the database file's permissions (as SQLite creates its
    ``-wal`` and ``-shm``), so a CLI run by another user that may write the database does
    not lock the server out. ``flock`` needs only a read-only descriptor."""
    try:
        mode = os.stat(db_path).st_mode & 0o666
    except OSError:
        mode = 0o644
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
