"""Retention prunes old raw events in batches, per tenant, and keeps derived state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hbtest import T0, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.retention import Retention
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import events, llm_calls, task_runs
from sqlalchemy import func, select


def _count(storage: SqlStorage, table: Any, tenant_id: str) -> int:
    with storage.engine.connect() as conn:
        stmt = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        return int(conn.execute(stmt).scalar_one())


def _ingest_day(storage: SqlStorage, tenant_id: str, day: int, count: int) -> None:
    at = day * 86_400.0
    batch = [ev("task_started", at, task_id=f"t{day}", task_run_id=f"r{day}")]
    batch += [llm(at + n + 1, task_id=f"t{day}", task_run_id=f"r{day}") for n in range(count)]
    now = T0 + timedelta(days=day, hours=1)
    storage.ingest(tenant_id, validate_batch(body(*batch), now=now), now=now)


def test_prunes_only_events_older_than_the_window(storage: SqlStorage) -> None:
    tenant = storage.create_tenant("retained")
    other = storage.create_tenant("other")
    _ingest_day(storage, tenant.id, 0, 12)
    _ingest_day(storage, tenant.id, 40, 3)
    _ingest_day(storage, other.id, 0, 2)
    retention = Retention(storage, days=30, clock=lambda: T0 + timedelta(days=41))

    deleted = retention.run_once()

    assert deleted == 13 + 3  # day 0 of both tenants, in batches
    assert _count(storage, events, tenant.id) == 4
    assert _count(storage, events, other.id) == 0
    # Derived state survives: costs and task lists stay whole.
    assert _count(storage, llm_calls, tenant.id) == 15
    assert _count(storage, task_runs, tenant.id) == 2


def test_small_batches_delete_everything_due(storage: SqlStorage) -> None:
    tenant = storage.create_tenant("batched")
    _ingest_day(storage, tenant.id, 0, 20)
    assert storage.prune_events(T0 + timedelta(days=1), batch_size=7) == 21
    assert _count(storage, events, tenant.id) == 0


def test_zero_days_keeps_everything(storage: SqlStorage) -> None:
    tenant = storage.create_tenant("forever")
    _ingest_day(storage, tenant.id, 0, 2)
    assert Retention(storage, days=0, clock=lambda: T0 + timedelta(days=999)).run_once() == 0
    assert _count(storage, events, tenant.id) == 3
