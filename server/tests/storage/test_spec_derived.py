"""hiveboard.md's derived-state rules, each as a scenario through the real storage.

These pin the rules the contract suite (test_contract.py) does not: out-of-order
delivery of the human-in-the-loop events, thresholds at their edges, cost sources.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hbtest import T0, TenantKeys, agent, body, ev, ingest, llm, rows
from hiveboard.detector import Detector
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import approvals, issues, llm_calls, task_runs, todos

# -- agent status ------------------------------------------------------------------------


def test_silence_exactly_at_the_threshold_is_not_yet_offline(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """ "Longer than stuck_threshold": at the threshold the agent is still idle."""
    tid = tenant.tenant_id
    ingest(storage, tid, body(ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}})))
    detector = Detector(storage, 5)
    assert detector.run_once(T0 + timedelta(seconds=60)) == []
    (t,) = detector.run_once(T0 + timedelta(seconds=61))
    assert (t.from_status, t.to_status) == ("idle", "offline")
    assert "60" in t.reason


def test_process_died_mid_task_is_stuck_not_offline(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    ingest(storage, tid, body(ev("task_started", 0, task_id="t1")))
    (t,) = Detector(storage, 5).run_once(T0 + timedelta(seconds=301))
    assert t.to_status == "stuck"
    assert rows(storage, task_runs)[0]["status"] == "stuck"


def test_clean_shutdown_is_offline_at_once(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    shutdown = {"kind": "agent_shutdown", "summary": "bye"}
    ingest(storage, tid, body(ev("heartbeat", 0), ev("custom", 1, payload=shutdown)), at=1)
    assert agent(storage, tid)["status"] == "offline"


def test_liveness_events_do_not_clear_an_error(storage: SqlStorage, tenant: TenantKeys) -> None:
    """Heartbeats and LLM calls prove liveness; they never change the activity state."""
    tid = tenant.tenant_id
    ingest(
        storage, tid, body(ev("task_started", 0, task_id="t1"), ev("task_failed", 1, task_id="t1"))
    )
    ingest(storage, tid, body(ev("heartbeat", 30), llm(31, tokens_in=1, tokens_out=1)), at=31)
    assert agent(storage, tid)["status"] == "error"


# -- approvals and escalations delivered out of order -------------------------------------


def test_request_delivered_after_its_answer_is_not_left_pending(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """A retried batch carries the request after the batch with the answer was stored."""
    tid = tenant.tenant_id
    req = ev("approval_requested", 1, task_id="t1", payload={"summary": "refund?"})
    got = ev("approval_received", 31, task_id="t1", parent_event_id=req["event_id"])
    ingest(storage, tid, body(ev("task_started", 0, task_id="t1"), got), at=32)
    ingest(storage, tid, body(req), at=40)  # the retry
    (appr,) = rows(storage, approvals)
    assert appr["state"] == "received" and appr["wait_ms"] == 30_000
    assert appr["received_event_id"] == got["event_id"]
    assert rows(storage, task_runs)[0]["status"] == "running"
    assert agent(storage, tid)["status"] == "processing"


def test_request_without_parent_link_delivered_after_its_answer(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    req = ev("approval_requested", 1, task_id="t1")
    got = ev("approval_received", 5, task_id="t1")
    ingest(storage, tid, body(ev("task_started", 0, task_id="t1"), got), at=6)
    ingest(storage, tid, body(req), at=7)
    (appr,) = rows(storage, approvals)
    assert appr["state"] == "received" and appr["wait_ms"] == 4_000
    assert agent(storage, tid)["status"] == "processing"


def test_request_delivered_after_its_run_ended_does_not_wait_forever(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    req = ev("approval_requested", 1, task_id="t1")
    esc = ev("escalated", 2, task_id="t1")
    ingest(
        storage,
        tid,
        body(ev("task_started", 0, task_id="t1"), ev("task_completed", 9, task_id="t1")),
        at=10,
    )
    ingest(storage, tid, body(req, esc), at=11)
    states = {r["kind"]: r["state"] for r in rows(storage, approvals)}
    assert states == {"approval": "expired", "escalation": "closed"}
    run = rows(storage, task_runs)[0]
    assert run["status"] == "completed" and run["pending_approvals"] == 0


# -- tasks ---------------------------------------------------------------------------------


def test_duration_from_timestamps_when_the_start_arrives_after_the_end(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    start = ev("task_started", 0, task_id="t1")
    ingest(storage, tid, body(ev("task_completed", 12, task_id="t1")), at=12)
    ingest(storage, tid, body(start), at=13)
    run = rows(storage, task_runs)[0]
    assert run["status"] == "completed" and run["duration_ms"] == 12_000


def test_sdk_duration_is_kept_when_the_start_arrives_late(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    done = ev("task_completed", 12, task_id="t1", duration_ms=11_500)
    ingest(storage, tid, body(done), at=12)
    ingest(storage, tid, body(ev("task_started", 0, task_id="t1")), at=13)
    assert rows(storage, task_runs)[0]["duration_ms"] == 11_500


# -- cost ----------------------------------------------------------------------------------


def test_cost_sources(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    ingest(
        storage,
        tid,
        body(
            llm(0, model="gpt-4o", tokens_in=1000, tokens_out=100, cost=0.25),
            llm(1, model="gpt-4o", tokens_in=1000, tokens_out=100),
            llm(2, model="gpt-4o"),
            llm(3, model="totally-unknown-model", tokens_in=5, tokens_out=5),
        ),
    )
    calls = sorted(rows(storage, llm_calls), key=lambda c: c["ts"])
    assert [c["cost_source"] for c in calls] == ["reported", "estimated", "unknown", "unknown"]
    assert calls[0]["cost_usd"] == 0.25
    assert calls[1]["cost_usd"] and calls[1]["cost_usd"] > 0 and calls[1]["matched_model"]
    assert calls[2]["cost_usd"] is None and calls[3]["cost_usd"] is None


def test_price_override_matches_the_model_name_case_insensitively(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    storage.set_price_override(tid, "my-local-llm", 2.0, 4.0)
    ingest(storage, tid, body(llm(0, model="My-Local-LLM", tokens_in=500_000, tokens_out=0)))
    (call,) = rows(storage, llm_calls)
    assert (call["cost_source"], call["cost_usd"]) == ("estimated", 1.0)


# -- more status rules ---------------------------------------------------------------------


def test_stuck_agent_recovers_when_its_task_moves_again(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    reg = ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}})
    ingest(storage, tid, body(reg, ev("task_started", 1, task_id="t1")), at=1)
    ingest(storage, tid, body(ev("heartbeat", 60)), at=60)
    (t,) = Detector(storage, 5).run_once(T0 + timedelta(seconds=62))
    assert t.to_status == "stuck" and "no event" in t.reason
    act = ev("action_started", 63, task_id="t1", action_id="a1")
    ingest(storage, tid, body(act), at=63)
    assert agent(storage, tid)["status"] == "processing"
    assert rows(storage, task_runs)[0]["status"] == "running"


def test_alive_idle_agent_stays_idle(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    for at in range(0, 600, 30):
        ingest(storage, tid, body(ev("heartbeat", at)), at=at)
        assert Detector(storage, 5).run_once(T0 + timedelta(seconds=at + 29)) == []
    assert agent(storage, tid)["status"] == "idle"


def test_high_issue_is_error_until_resolved(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id

    def issue(at: float, **data: Any) -> dict[str, Any]:
        return ev("custom", at, payload={"kind": "issue", "summary": "db down", "data": data})

    ingest(storage, tid, body(issue(0, issue_id="i1", severity="critical")))
    assert agent(storage, tid)["status"] == "error"
    ingest(storage, tid, body(issue(5, issue_id="i1", severity="low")), at=5)
    assert agent(storage, tid)["status"] == "idle"  # downgraded: no longer high/critical
    ingest(storage, tid, body(issue(6, issue_id="i1", severity="high")), at=6)
    assert agent(storage, tid)["status"] == "error"
    ingest(storage, tid, body(issue(9, issue_id="i1", severity="high", action="dismissed")), at=9)
    assert agent(storage, tid)["status"] == "idle"


def test_retried_approval_batch_is_applied_once(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    b = body(ev("task_started", 0, task_id="t1"), ev("approval_requested", 1, task_id="t1"))
    ingest(storage, tid, b, at=2)
    ingest(storage, tid, b, at=3)
    assert len(rows(storage, approvals)) == 1
    assert rows(storage, task_runs)[0]["pending_approvals"] == 1
    assert agent(storage, tid)["status"] == "waiting_approval"


def test_price_override_is_per_tenant(storage: SqlStorage, tenant: TenantKeys) -> None:
    other = storage.create_tenant("Bob Co")
    storage.set_price_override(tenant.tenant_id, "gpt-4o", 1000.0, 1000.0)
    ingest(storage, other.id, body(llm(0, model="gpt-4o", tokens_in=1000, tokens_out=0)))
    (call,) = rows(storage, llm_calls, tenant_id=other.id)
    assert call["cost_usd"] is not None and call["cost_usd"] < 0.01


# -- pipeline ------------------------------------------------------------------------------


def test_todos_close_only_when_completed_or_dismissed(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id

    def todo(at: float, todo_id: str, action: str) -> dict[str, Any]:
        data = {"todo_id": todo_id, "action": action}
        return ev("custom", at, payload={"kind": "todo", "summary": todo_id, "data": data})

    ingest(storage, tid, body(
        todo(0, "a", "created"), todo(1, "a", "failed"),
        todo(0, "b", "created"), todo(2, "b", "deferred"),
        todo(0, "c", "created"), todo(3, "c", "dismissed"),
        todo(5, "d", "completed"), todo(0, "d", "created"),  # delivered out of order
    ), at=6)  # fmt: skip
    state = {r["todo_id"]: (r["is_open"], r["last_action"]) for r in rows(storage, todos)}
    assert state == {
        "a": (True, "failed"),
        "b": (True, "deferred"),
        "c": (False, "dismissed"),
        "d": (False, "completed"),
    }


def test_issue_reported_again_after_resolution_reopens_and_counts(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id

    def issue(at: float, action: str) -> dict[str, Any]:
        data = {"severity": "medium", "action": action}
        return ev("custom", at, payload={"kind": "issue", "summary": "Timeout 30s", "data": data})

    ingest(storage, tid, body(issue(0, "reported"), issue(1, "resolved")), at=1)
    ingest(storage, tid, body(issue(10, "reported")), at=10)
    (row,) = rows(storage, issues)
    assert row["state"] == "open" and row["occurrence_count"] == 2
    assert row["first_seen_at"] == T0 and row["last_seen_at"] == T0 + timedelta(seconds=10)
