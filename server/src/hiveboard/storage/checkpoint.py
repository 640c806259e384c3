"""Background WAL checkpoints for SQLite, off the ingest writer's commit path.

In WAL mode a commit only appends to the ``-wal`` file; every ~1,000 pages SQLite makes
the committing connection copy the WAL back into the database and sync it (the
"autocheckpoint"). Under sustained ingest that was ~20% of the writer's time, paid
inside ``COMMIT`` while every waiting request waits too. This thread runs a ``PASSIVE``
checkpoint on its own connection every ``interval`` seconds instead: passive
checkpoints never block the writer or readers. Under sustained writes a passive
checkpoint never quite catches up, so the WAL would never be restarted and would grow;
once it holds more than ``restart_pages`` a ``RESTART`` checkpoint waits for the writer
between two transactions, finishes the copy, and the next transaction starts the WAL
over (truncated to ``journal_size_limit``, engine.py). Durability is unchanged: a
checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)


class WalCheckpointer:
    """A daemon thread checkpointing one SQLite database file until ``stop``."""

    def __init__(self, path: str, interval: float = 0.5, restart_pages: int = 2_000) -> None:
        self._path = path
        self._interval = interval
        self._restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="hiveboard-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        # A RESTART holds the write lock while it waits for readers to move on: a short
        # busy timeout bounds that stall; if readers stay, it is simply tried again later.
        conn = sqlite3.connect(self._path, timeout=0.1, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                try:
                    _, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log > self._restart_pages and done < log:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                except sqlite3.OperationalError:
                    pass  # busy: the next round tries again
                except sqlite3.Error:
                    logger.warning("WAL checkpoint failed; retrying", exc_info=True)
        finally:
            conn.close()
