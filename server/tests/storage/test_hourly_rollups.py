"""Hourly rollups: what ingest adds, and that migration 0002's backfill agrees with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hbtest import T0, TenantKeys, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage import migrations
from hiveboard.storage.derived_hourly import duration_bucket, merge
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import cost_rollups, hourly_rollups
from sqlalchemy import select


def ingest(storage: SqlStorage, tenant_id: str, b: dict[str, Any]) -> None:
    now = T0 + timedelta(hours=3)
    storage.ingest(tenant_id, validate_batch(b, now=now), now=now)


def rows(storage: SqlStorage, table: Any) -> list[dict[str, Any]]:
    with storage.engine.connect() as conn:
        out = [dict(r) for r in conn.execute(select(table)).mappings()]
    for r in out:
        r["cost_usd"] = round(r["cost_usd"], 9)
    return sorted(out, key=lambda r: repr(sorted(r.items())))


def call(at: float, run: dict[str, str], **data: Any) -> dict[str, Any]:
    """An LLM call event inside ``run`` (task, type and project on the event itself)."""
    return {**llm(at, **data), **run}


def seed(storage: SqlStorage, tenant_id: str) -> None:
    run = {"task_id": "t1", "task_type": "triage", "project_id": "p1"}
    ingest(
        storage,
        tenant_id,
        body(
            ev("task_started", 10, **run),
            call(20, run, tokens_in=100, tokens_out=10, cost=0.5),
            call(30, run, model="no-such-model-xyz", tokens_in=5),
            ev("task_completed", 3590, duration_ms=3580_000, **run),
            ev("heartbeat", 3700),
            ev("task_started", 3800, task_id="t2", project_id="p2"),
            ev("task_failed", 3801, task_id="t2", project_id="p2", duration_ms=900),
            agent_id="a1",
            environment="staging",
            group="g1",
        ),
    )
    ingest(storage, tenant_id, body(llm(4000, cost=0.25, task_id="t3"), agent_id="a2"))


def test_ingest_adds_hourly_counters_histogram_and_cost(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    seed(storage, tenant.tenant_id)
    hourly = {(r["agent_id"], r["hour"], r["project_id"]): r for r in rows(storage, hourly_rollups)}
    first = hourly[("a1", T0, "p1")]
    assert first["events"] == 4 and first["tasks_started"] == 1 and first["tasks_completed"] == 1
    assert first["llm_calls"] == 2 and first["tokens_in"] == 105 and first["cost_usd"] == 0.5
    assert first["environment"] == "staging" and first["group_name"] == "g1"
    assert first[f"d{duration_bucket(3580_000):02d}"] == 1 and first["task_duration_count"] == 1
    second = hourly[("a1", T0 + timedelta(hours=1), "p2")]
    assert second["tasks_failed"] == 1 and second[f"d{duration_bucket(900):02d}"] == 1
    assert hourly[("a1", T0 + timedelta(hours=1), "")]["events"] == 1  # the heartbeat
    cost = {(r["agent_id"], r["model"], r["cost_source"]): r for r in rows(storage, cost_rollups)}
    assert cost[("a1", "claude-sonnet-4", "reported")]["cost_usd"] == 0.5
    unknown = cost[("a1", "no-such-model-xyz", "unknown")]
    assert unknown["llm_calls"] == 1 and unknown["priced_calls"] == 0
    assert cost[("a2", "claude-sonnet-4", "reported")]["task_type"] == ""


def test_merge_folds_rows_with_the_same_key() -> None:
    row = {"tenant_id": "t", "hour": T0, "agent_id": "a", "environment": "e"}
    row |= {"group_name": "g", "project_id": "", "events": 1, "cost_usd": 0.5}
    assert merge([row], [dict(row)]) == [{**row, "events": 2, "cost_usd": 1.0}]
    assert merge([], []) == []


def test_migration_backfill_matches_what_ingest_keeps(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    seed(storage, tenant.tenant_id)
    kept = rows(storage, hourly_rollups), rows(storage, cost_rollups)
    migrations.downgrade(storage.engine, "0001")
    migrations.upgrade(storage.engine)
    assert (rows(storage, hourly_rollups), rows(storage, cost_rollups)) == kept
