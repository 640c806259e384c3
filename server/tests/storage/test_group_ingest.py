"""Group commit: concurrent ingest requests applied together, each answered on its own."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from hbtest import T0, TenantKeys, body, ev
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage import write
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import events, task_runs
from sqlalchemy import func, select

NOW = T0 + timedelta(minutes=5)


def batch(*evs: dict[str, Any], agent_id: str = "agent-1") -> Any:
    return validate_batch(body(*evs, agent_id=agent_id), now=NOW)


def count(storage: SqlStorage, table: Any) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_one_group_applies_each_batch_as_if_alone(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    first = ev("task_started", 0, task_id="t1")
    items = [
        (tid, batch(first, ev("heartbeat", 1)), NOW),
        (tid, batch(first, ev("task_completed", 2, task_id="t1")), NOW),  # same agent again
        (tid, batch(ev("task_started", 3, task_id="t2"), agent_id="agent-2"), NOW),
    ]
    with storage.write_tx() as conn:
        results = write.apply_batches(conn, items)
    assert [(len(r.stored), r.duplicates) for r in results] == [(2, 0), (1, 1), (1, 0)]
    assert [len(r.transitions) for r in results] == [1, 1, 1]  # new, idle again, new
    with storage.engine.connect() as conn:
        runs = {r.task_id: r for r in conn.execute(select(task_runs))}
    assert runs["t1"].status == "completed" and runs["t1"].event_count == 2
    assert runs["t2"].status == "running"


def test_concurrent_requests_are_all_stored_once(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    batches = [
        batch(*(ev("heartbeat", i * 10 + j) for j in range(10)), agent_id=f"agent-{i % 3}")
        for i in range(12)
    ]
    results: list[Any] = [None] * len(batches)

    def send(i: int) -> None:
        results[i] = storage.ingest(tid, batches[i], now=NOW)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [len(r.stored) for r in results] == [10] * 12
    assert count(storage, events) == 120
    again = storage.ingest(tid, batches[0], now=NOW)
    assert (len(again.stored), again.duplicates) == (0, 10)


def test_a_failing_batch_fails_only_its_own_request(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    good = batch(ev("heartbeat", 1))
    bad = batch(ev("heartbeat", 2), agent_id="agent-2")
    futures = [
        storage.ingest_future("no-such-tenant", bad, now=NOW),  # foreign key violation
        storage.ingest_future(tenant.tenant_id, good, now=NOW),
    ]
    assert len(futures[1].result(30).stored) == 1
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        futures[0].result(30)
    assert count(storage, events) == 1
