"""One behaviour suite every Storage implementation must pass (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hbtest import T0, TenantKeys, agent, body, ev, ingest, llm, rows
from hiveboard.derive.status import agent_status
from hiveboard.detector import Detector
from hiveboard.storage import sql
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import (
    actions,
    agent_status_transitions,
    api_keys,
    approvals,
    events,
    issues,
    llm_calls,
    plan_steps,
    queue_snapshots,
    rollups,
    task_runs,
    todos,
)

# -- keys and users ------------------------------------------------------------------


def test_api_key_is_stored_hashed_and_authenticates(storage: SqlStorage) -> None:
    t = storage.create_tenant("t")
    key, secret = storage.create_api_key(t.id, "live", name="ci")
    assert secret.startswith("hb_live_") and key.prefix in secret
    assert secret not in str(rows(storage, api_keys))
    found = storage.authenticate_api_key(secret)
    assert found is not None and found.tenant_id == t.id and found.can_ingest
    assert storage.authenticate_api_key(secret + "x") is None


def test_key_use_is_recorded_at_most_once_a_minute(
    storage: SqlStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings shows when a key was last used: written on use, but not on every request."""
    monkeypatch.setattr(sql, "KEY_CACHE_SECONDS", 0.0)  # every call reads the database
    t = storage.create_tenant("t")
    key, secret = storage.create_api_key(t.id, "live")
    assert storage.list_api_keys(t.id)[0].last_used_at is None

    storage.authenticate_api_key(secret)
    first = storage.list_api_keys(t.id)[0].last_used_at
    assert first is not None
    storage.authenticate_api_key(secret)
    assert storage.list_api_keys(t.id)[0].last_used_at == first  # within the minute

    earlier = first - timedelta(minutes=2)
    with storage.write_tx() as conn:
        conn.execute(api_keys.update().where(api_keys.c.id == key.id).values(last_used_at=earlier))
    storage.authenticate_api_key(secret)
    assert storage.list_api_keys(t.id)[0].last_used_at >= first


def test_revoked_key_is_reported_revoked(storage: SqlStorage) -> None:
    t = storage.create_tenant("t")
    key, secret = storage.create_api_key(t.id, "read")
    assert storage.revoke_api_key(t.id, key.id)
    assert not storage.revoke_api_key(t.id, key.id)
    found = storage.authenticate_api_key(secret)
    assert found is not None and found.revoked_at is not None
    assert [k.id for k in storage.list_api_keys(t.id)] == [key.id]


def test_another_tenant_cannot_revoke_my_key(storage: SqlStorage) -> None:
    alice, bob = storage.create_tenant("a"), storage.create_tenant("b")
    key, _ = storage.create_api_key(alice.id, "live")
    assert not storage.revoke_api_key(bob.id, key.id)


def test_user_password_verifies_with_argon2(storage: SqlStorage) -> None:
    t = storage.create_tenant("t")
    storage.create_user(t.id, "Alice@Example.com", "s3cret-pass", "viewer")
    assert storage.verify_user("alice@example.com", "s3cret-pass") is not None
    assert storage.verify_user("alice@example.com", "wrong") is None
    assert storage.verify_user("nobody@example.com", "s3cret-pass") is None


# -- raw events and idempotency -------------------------------------------------------


def test_duplicate_batch_is_stored_once_and_applied_once(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    b = body(
        ev("task_started", 0, task_id="t1"),
        llm(1, task_id="t1", tokens_in=10, tokens_out=5, cost=0.5),
    )
    first = ingest(storage, tenant.tenant_id, b)
    second = ingest(storage, tenant.tenant_id, b)
    assert (len(first.stored), first.duplicates) == (2, 0)
    assert (len(second.stored), second.duplicates) == (0, 2)
    assert len(rows(storage, events, tenant_id=tenant.tenant_id)) == 2
    run = rows(storage, task_runs, task_id="t1")[0]
    assert (run["llm_call_count"], run["cost_usd"], run["event_count"]) == (1, 0.5, 2)
    assert sum(r["events"] for r in rows(storage, rollups, agent_id="agent-1")) == 2
    assert sum(r["events"] for r in rows(storage, rollups, agent_id="")) == 2  # the fleet row


def test_same_event_id_in_two_tenants_is_two_events(storage: SqlStorage) -> None:
    a, b = storage.create_tenant("a"), storage.create_tenant("b")
    e = ev("heartbeat")
    ingest(storage, a.id, body(e))
    assert len(ingest(storage, b.id, body(e)).stored) == 1
    assert len(rows(storage, events)) == 2


def test_unicode_nul_and_sql_metacharacters_round_trip(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    weird = "x'; DROP TABLE events; --\"\\%_"
    e = ev("custom", task_id=weird, payload={"summary": "日本語 🐝 a\x00b", "data": {"k\x00": "v"}})
    result = ingest(storage, tenant.tenant_id, body(e, agent_id=weird))
    assert len(result.stored) == 1
    (row,) = rows(storage, events, tenant_id=tenant.tenant_id)
    assert row["agent_id"] == weird and row["task_id"] == weird
    assert row["summary"] == "日本語 🐝 ab" and row["payload"]["data"] == {"k": "v"}


# -- derived state -------------------------------------------------------------------


def test_task_run_rollups_from_actions_and_llm_calls(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    b = body(
        ev("task_started", 0, task_id="t1", project_id="p", task_type="lead"),
        ev("action_started", 1, task_id="t1", action_id="a1", payload={"action_name": "score"}),
        ev("action_started", 2, task_id="t1", action_id="a2", parent_action_id="a1"),
        llm(3, task_id="t1", action_id="a2", tokens_in=1800, tokens_out=250),
        llm(3.5, task_id="t1", action_id="a2", model="no-such-model", tokens_in=1, tokens_out=1),
        ev("action_failed", 4, task_id="t1", action_id="a2",
           payload={"exception_type": "ValueError", "exception_message": "bad"}),
        ev("action_completed", 5, task_id="t1", action_id="a1", duration_ms=4000),
        ev("task_failed", 6, task_id="t1", payload={"exception_type": "ValueError"}),
    )  # fmt: skip
    ingest(storage, tenant.tenant_id, b)
    run = rows(storage, task_runs, task_id="t1")[0]
    assert run["status"] == "failed" and run["duration_ms"] == 6000
    assert (run["action_count"], run["error_count"], run["llm_call_count"]) == (2, 1, 2)
    assert run["cost_unknown_calls"] == 1 and run["cost_usd"] > 0
    assert run["project_id"] == "p" and run["exception_type"] == "ValueError"
    acts = {a["action_id"]: a for a in rows(storage, actions)}
    assert acts["a2"]["parent_action_id"] == "a1" and acts["a2"]["status"] == "failed"
    assert acts["a1"]["name"] == "score" and acts["a1"]["duration_ms"] == 4000
    calls = {c["model"]: c for c in rows(storage, llm_calls)}
    assert calls["claude-sonnet-4"]["cost_source"] == "estimated"
    assert calls["claude-sonnet-4"]["matched_model"]
    assert calls["no-such-model"]["cost_source"] == "unknown"
    assert calls["no-such-model"]["cost_usd"] is None
    a = agent(storage, tenant.tenant_id)
    assert a["last_task_outcome"] == "failed"
    (bucket,) = rows(storage, rollups, agent_id="agent-1")
    assert (bucket["tasks_started"], bucket["tasks_failed"], bucket["llm_calls"]) == (1, 1, 2)
    (fleet,) = rows(storage, rollups, agent_id="")
    assert {k: v for k, v in fleet.items() if k != "agent_id"} == {
        k: v for k, v in bucket.items() if k != "agent_id"
    }


def test_price_override_wins_over_the_library(storage: SqlStorage, tenant: TenantKeys) -> None:
    storage.set_price_override(tenant.tenant_id, "claude-sonnet-4", 1.0, 2.0)
    ingest(storage, tenant.tenant_id, body(llm(0, tokens_in=1_000_000, tokens_out=1_000_000)))
    (call,) = rows(storage, llm_calls)
    assert call["cost_usd"] == 3.0 and call["cost_source"] == "estimated"


def test_out_of_order_events_never_move_state_backwards(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    ingest(storage, tid, body(
        ev("heartbeat", 100),
        ev("custom", 100, payload={"kind": "queue_snapshot", "summary": "q", "data": {"depth": 7}}),
        ev("task_started", 90, task_id="t1"),
        ev("task_completed", 100, task_id="t1"),
    ), at=100)  # fmt: skip
    # A retry delivers older events afterwards.
    ingest(storage, tid, body(
        ev("heartbeat", 10),
        ev("custom", 10, payload={"kind": "queue_snapshot", "summary": "q", "data": {"depth": 1}}),
        ev("task_failed", 50, task_id="t1"),
    ), at=101)  # fmt: skip
    a = agent(storage, tid)
    assert a["last_seen_at"] == T0 + timedelta(seconds=100)
    assert a["last_heartbeat_at"] == T0 + timedelta(seconds=100)
    assert a["first_seen_at"] == T0 + timedelta(seconds=10)
    assert rows(storage, queue_snapshots)[0]["depth"] == 7
    assert rows(storage, task_runs)[0]["status"] == "completed"
    assert a["last_task_outcome"] == "completed"


def test_approval_wait_and_task_waiting_status(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    req = ev("approval_requested", 1, task_id="t1", payload={"summary": "refund $500?"})
    ingest(storage, tid, body(ev("task_started", 0, task_id="t1"), req), at=2)
    assert rows(storage, task_runs)[0]["status"] == "waiting_approval"
    assert agent(storage, tid)["status"] == "waiting_approval"
    ingest(
        storage,
        tid,
        body(ev("approval_received", 31, task_id="t1", parent_event_id=req["event_id"])),
        at=32,
    )
    (appr,) = rows(storage, approvals)
    assert appr["state"] == "received" and appr["wait_ms"] == 30_000
    assert rows(storage, task_runs)[0]["status"] == "running"
    assert agent(storage, tid)["status"] == "processing"


def test_pipeline_todos_issues_and_plan(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id

    def custom(at: float, kind: str, summary: str, **data: Any) -> dict[str, Any]:
        extra = {"task_id": data.pop("task_id")} if "task_id" in data else {}
        return ev("custom", at, payload={"kind": kind, "summary": summary, "data": data}, **extra)

    ingest(storage, tid, body(
        custom(0, "todo", "call back", todo_id="td1", action="created"),
        custom(1, "issue", "DB timeout after 30s", severity="high"),
        custom(2, "issue", "db timeout after 45s", severity="high"),
        custom(3, "plan_created", "plan", task_id="t1",
               steps=[{"index": 0, "description": "a"}, {"index": 1, "description": "b"}]),
        custom(4, "plan_step", "step", task_id="t1", step_index=0, action="completed"),
        custom(5, "scheduled", "sched", items=[{"id": "s1", "name": "daily"}]),
    ), at=6)  # fmt: skip
    (issue,) = rows(storage, issues)
    assert issue["occurrence_count"] == 2 and issue["state"] == "open"
    a = agent(storage, tid)
    assert a["open_high_issues"] == 1 and a["status"] == "error"
    steps = {s["step_index"]: s["state"] for s in rows(storage, plan_steps)}
    assert steps == {0: "completed", 1: "pending"}
    ingest(storage, tid, body(
        custom(7, "todo", "call back", todo_id="td1", action="completed"),
        custom(8, "issue", "DB timeout after 99s", severity="high", action="resolved"),
    ), at=9)  # fmt: skip
    assert rows(storage, todos)[0]["is_open"] is False
    assert rows(storage, issues)[0]["state"] == "resolved"
    assert agent(storage, tid)["status"] == "processing"  # t1 is still open


# -- status and detector ---------------------------------------------------------------


def test_detector_marks_stuck_then_offline_and_records_transitions(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    ingest(storage, tid, body(
        ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}}),
        ev("task_started", 1, task_id="t1"),
    ), at=1)  # fmt: skip
    assert agent(storage, tid)["status"] == "processing"
    # Heartbeats continue but the task is silent: wedged.
    ingest(storage, tid, body(ev("heartbeat", 50)), at=50)
    assert agent(storage, tid)["status"] == "processing"
    detector = Detector(storage, 5)
    (t,) = detector.run_once(T0 + timedelta(seconds=100))
    assert (t.from_status, t.to_status) == ("processing", "stuck")
    assert rows(storage, task_runs)[0]["status"] == "stuck"
    assert detector.run_once(T0 + timedelta(seconds=101)) == []
    # The task ends; then the agent goes silent.
    ingest(storage, tid, body(ev("task_completed", 110, task_id="t1")), at=110)
    assert agent(storage, tid)["status"] == "idle"
    (t,) = detector.run_once(T0 + timedelta(seconds=300))
    assert t.to_status == "offline"
    history = [r["to_status"] for r in rows(storage, agent_status_transitions)]
    assert history == ["processing", "stuck", "idle", "offline"]


def test_only_one_of_two_racing_detectors_records_a_transition(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    ingest(storage, tenant.tenant_id, body(ev("heartbeat", 0)), at=0)
    (state,) = storage.agent_states()
    decision = agent_status(state.facts, T0 + timedelta(seconds=999))
    assert storage.apply_status(state, decision, T0 + timedelta(seconds=999)) is not None
    assert storage.apply_status(state, decision, T0 + timedelta(seconds=999)) is None
    assert len(rows(storage, agent_status_transitions)) == 2  # first seen + offline


def test_restarted_agent_does_not_inherit_the_dead_process_task(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    ingest(
        storage, tid, body(ev("agent_registered", 0), ev("task_started", 1, task_id="old")), at=1
    )
    ingest(storage, tid, body(ev("agent_registered", 500), ev("heartbeat", 501)), at=501)
    a = agent(storage, tid)
    assert a["current_task_id"] is None and a["status"] == "idle"
