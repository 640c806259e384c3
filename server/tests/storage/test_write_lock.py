"""The SQLite writer lock: one writer across processes, and ingest from two processes at once."""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

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
