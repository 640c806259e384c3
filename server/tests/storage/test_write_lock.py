"""The SQLite writer lock: one writer across processes, and ingest from two processes at once."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hbtest import T0, body, ev
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import events, task_runs
from hiveboard.storage.write_lock import SqliteWriteLock
from sqlalchemy import func, select

NOW = T0 + timedelta(minutes=5)
SPAWN = mp.get_context("spawn")


def _hold_lock(db_path: str, held: Any, release: Any) -> None:
    lock = SqliteWriteLock(db_path)
    with lock.held():
        held.set()
        release.wait(30)


def test_a_writer_in_another_process_waits_until_the_lock_is_released(tmp_path: Path) -> None:
    db_path = str(tmp_path / "hiveboard.db")
    held, release = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=_hold_lock, args=(db_path, held, release))
    holder.start()
    try:
        assert held.wait(30), "the other process never took the lock"
        acquired = threading.Event()

        def take() -> None:
            with SqliteWriteLock(db_path).held():
                acquired.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not acquired.wait(0.3), "took the lock while another process held it"
        release.set()
        assert acquired.wait(30), "still waiting after the other process let go"
        waiter.join(30)
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0


def _ingest_agent(url: str, tenant_id: str, agent: int, batches: int) -> None:
    storage = SqlStorage(url)
    try:
        for b in range(batches):
            evs = [ev("heartbeat", b * 20 + j) for j in range(20)]
            evs.append(ev("task_started", b * 20 + 19, task_id=f"task-{agent}-{b}"))
            batch = validate_batch(body(*evs, agent_id=f"agent-{agent}"), now=NOW)
            storage.ingest(tenant_id, batch, now=NOW)
    finally:
        storage.close()


def test_two_processes_ingest_into_one_file_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hiveboard.db'}"
    storage = SqlStorage(url)
    storage.migrate()
    tenant = storage.create_tenant("two writers")
    procs = [
        SPAWN.Process(target=_ingest_agent, args=(url, tenant.id, agent, 15)) for agent in (1, 2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with storage.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
        runs = conn.execute(select(func.count()).select_from(task_runs)).scalar_one()
    storage.close()
    assert stored == 2 * 15 * 21
    assert runs == 2 * 15


def test_the_lock_file_takes_the_database_files_permissions(tmp_path: Path) -> None:
    db_path = tmp_path / "hiveboard.db"
    db_path.write_bytes(b"")
    db_path.chmod(0o640)
    lock = SqliteWriteLock(str(db_path))
    with lock.held():
        pass
    lock.close()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "hiveboard.db-writer.lock").stat().st_mode) == 0o640 & ~umask


def test_a_read_only_lock_file_still_excludes(tmp_path: Path) -> None:
    """A process that may not write the lock file (another user's) locks it read-only."""
    path = tmp_path / "hiveboard.db-writer.lock"
    path.write_bytes(b"")
    first = os.open(path, os.O_RDONLY)
    second = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(first, fcntl.LOCK_EX)
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(first, fcntl.LOCK_UN)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(first)
        os.close(second)
