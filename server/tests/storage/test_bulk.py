"""Bulk statements behave like ``executemany`` on both backends, whatever the rows repeat.

On PostgreSQL a ``Bulk`` of enough rows runs set-based (``COPY`` into a staging table,
one statement): rows repeating a key must still apply one after the other, in order, as
they would row by row, a stage used twice in a transaction must start empty, and a
staging table created by a transaction that rolled back must not be taken for granted
afterwards. Every test runs with both PostgreSQL paths (staged even for one row, and row
by row as usual for so few rows).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hbtest import T0, TenantKeys
from hiveboard.storage import staging
from hiveboard.storage.bulk import Bulk
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import events, queue_snapshots, rollups
from sqlalchemy import bindparam, select, update

_ADD = Bulk(
    lambda ins: (stmt := ins(rollups)).on_conflict_do_update(
        index_elements=["tenant_id", "agent_id", "bucket"],
        set_={"events": rollups.c.events + stmt.excluded.events},
    )
)
_NEWER = Bulk(
    lambda ins: (stmt := ins(queue_snapshots)).on_conflict_do_update(
        index_elements=["tenant_id", "agent_id"],
        set_={"ts": stmt.excluded.ts, "depth": stmt.excluded.depth},
        where=queue_snapshots.c.ts <= stmt.excluded.ts,
    )
)
_SET_DEPTH = Bulk(
    lambda ins: (
        update(queue_snapshots)
        .where(
            queue_snapshots.c.tenant_id == bindparam("k_tenant"),
            queue_snapshots.c.agent_id == bindparam("k_agent"),
        )
        .values(depth=bindparam("v_depth"))
    )
)
_INSERT_EVENTS = Bulk(
    lambda ins: (
        ins(events)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        .returning(events.c.event_id, events.c.summary)
    )
)


@pytest.fixture(autouse=True, params=["staged", "row-by-row"])
def pg_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "staged":
        monkeypatch.setattr(staging, "STAGE_MIN_ROWS", 1)


def _rollup(tid: str, agent: str, n: int) -> dict[str, Any]:
    counters = dict.fromkeys(
        ("errors", "tasks_started", "tasks_completed", "tasks_failed", "task_duration_ms_sum",
         "task_duration_count", "llm_calls", "tokens_in", "tokens_out"), 0
    )  # fmt: skip
    return {"tenant_id": tid, "agent_id": agent, "bucket": T0, "events": n, "cost_usd": 0.0,
            **counters}  # fmt: skip


def _queue(tid: str, agent: str, minutes: int, depth: int) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minutes)
    return {"tenant_id": tid, "agent_id": agent, "ts": ts, "depth": depth,
            "oldest_age_seconds": None, "items": None, "processing": None}  # fmt: skip


def _event(tid: str, event_id: str, summary: str) -> dict[str, Any]:
    return {"tenant_id": tid, "event_id": event_id, "ts": T0, "received_at": T0,
            "event_type": "heartbeat", "severity": "info", "agent_id": "a",
            "environment": "production", "group_name": "default", "summary": summary,
            "payload": None}  # fmt: skip


def test_an_additive_upsert_adds_every_repeated_key(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    with storage.write_tx() as conn:
        _ADD.execute(conn, [_rollup(tid, "a", 1), _rollup(tid, "b", 2), _rollup(tid, "a", 4)])
        _ADD.execute(conn, [_rollup(tid, "a", 8), _rollup(tid, "a", 16), _rollup(tid, "a", 32)])
    with storage.engine.connect() as conn:
        got = dict(conn.execute(select(rollups.c.agent_id, rollups.c.events)).all())
    assert got == {"a": 61, "b": 2}


def test_repeated_keys_apply_in_row_order(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    with storage.write_tx() as conn:
        # Newest wins: the older snapshot sent second is refused, the newer third kept.
        _NEWER.execute(
            conn, [_queue(tid, "a", 5, 1), _queue(tid, "a", 1, 2), _queue(tid, "a", 9, 3)]
        )
        # A plain update of one row twice: the last row is what stays.
        _SET_DEPTH.execute(
            conn,
            [{"k_tenant": tid, "k_agent": "a", "v_depth": d} for d in (7, 8, 6)],
        )
    with storage.engine.connect() as conn:
        row = conn.execute(select(queue_snapshots.c.ts, queue_snapshots.c.depth)).one()
    assert (row.ts, row.depth) == (T0 + timedelta(minutes=9), 6)


def test_insert_returning_reports_only_the_first_of_repeated_ids(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    with storage.write_tx() as conn:
        first = _INSERT_EVENTS.execute(conn, [_event(tid, "e1", "x"), _event(tid, "e2", "y")])
        again = _INSERT_EVENTS.execute(conn, [_event(tid, "e3", "z"), _event(tid, "e3", "w"),
                                              _event(tid, "e1", "v")])  # fmt: skip
    assert sorted(map(tuple, first)) == [("e1", "x"), ("e2", "y")]
    assert list(map(tuple, again)) == [("e3", "z")]


def test_a_rolled_back_first_use_does_not_break_the_next(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    fresh = Bulk(lambda ins: ins(rollups))  # never used before: PostgreSQL stages it anew
    with pytest.raises(RuntimeError), storage.write_tx() as conn:
        fresh.execute(conn, [_rollup(tid, "a", 1)])
        raise RuntimeError("the transaction fails after the first use")
    for _ in range(3):  # whichever pooled connection comes next
        with storage.write_tx() as conn:
            fresh.execute(conn, [_rollup(tid, "b", 1)])
            conn.execute(rollups.delete())
    with storage.write_tx() as conn:
        fresh.execute(conn, [_rollup(tid, "c", 1)])
    with storage.engine.connect() as conn:
        assert conn.execute(select(rollups.c.agent_id)).scalars().all() == ["c"]
