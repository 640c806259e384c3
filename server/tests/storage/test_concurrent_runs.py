"""Agents that run several tasks at once, and requests left open when a run ends."""

from __future__ import annotations

from datetime import timedelta

from hbtest import T0, TenantKeys, body, ev, ingest, rows
from hiveboard.derive.status import agent_status
from hiveboard.detector import Detector
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import agent_status_transitions, agents, approvals, task_runs


def test_an_older_run_waiting_for_approval_makes_the_agent_wait(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    ingest(storage, tid, body(
        ev("task_started", 0, task_id="ticket-1", task_run_id="r1"),
        ev("approval_requested", 1, task_id="ticket-1", task_run_id="r1",
           payload={"summary": "refund?"}),
        ev("task_started", 2, task_id="ticket-2", task_run_id="r2"),
    ), at=3)  # fmt: skip
    (agent,) = rows(storage, agents)
    assert agent["status"] == "waiting_approval"
    assert agent["current_task_id"] == "ticket-2"


def test_one_wedged_run_among_busy_ones_makes_the_agent_stuck(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    registered = ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}})
    ingest(storage, tid, body(registered, ev("task_started", 1, task_id="wedged")), at=1)
    for n in range(1, 3):  # another run keeps making progress, heartbeats keep coming
        ingest(storage, tid, body(
            ev("heartbeat", 25 * n),
            ev("task_started", 25 * n, task_id=f"busy-{n}", task_run_id=f"b{n}"),
        ), at=25 * n)  # fmt: skip
    assert rows(storage, agents)[0]["status"] == "processing"
    detector = Detector(storage, interval=60)
    transitions = detector.run_once(now=T0 + timedelta(seconds=65))
    assert [t.to_status for t in transitions] == ["stuck"]
    assert "an open task has had no event" in transitions[0].reason
    runs = {r["task_id"]: r["status"] for r in rows(storage, task_runs)}
    assert runs["wedged"] == "stuck"
    assert runs["busy-2"] == "running"


def test_ending_a_run_closes_its_open_requests(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    ingest(storage, tid, body(
        ev("task_started", 0, task_id="t1"),
        ev("approval_requested", 1, task_id="t1", payload={"summary": "ok to ship?"}),
        ev("escalated", 2, task_id="t1", payload={"summary": "needs a human"}),
    ), at=3)  # fmt: skip
    ingest(storage, tid, body(ev("task_failed", 4, task_id="t1", status="failure")), at=5)
    states = sorted(r["state"] for r in rows(storage, approvals))
    assert states == ["closed", "expired"]
    (run,) = rows(storage, task_runs)
    assert (run["status"], run["pending_approvals"]) == ("failed", 0)


def test_stuck_found_at_ingest_marks_the_quiet_run(storage: SqlStorage, tenant: TenantKeys) -> None:
    tid = tenant.tenant_id
    registered = ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}})
    ingest(storage, tid, body(registered, ev("task_started", 1, task_id="wedged")), at=1)
    ingest(storage, tid, body(ev("heartbeat", 120)), at=120)
    assert rows(storage, agents)[0]["status"] == "stuck"
    assert rows(storage, task_runs)[0]["status"] == "stuck"


def test_a_run_that_goes_quiet_while_the_agent_stays_stuck_is_marked_too(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    tid = tenant.tenant_id
    registered = ev("agent_registered", 0, payload={"data": {"stuck_threshold": 60}})
    ingest(storage, tid, body(registered, ev("task_started", 1, task_id="wedged")), at=1)
    ingest(storage, tid, body(
        ev("task_started", 50, task_id="late", task_run_id="l1"), ev("heartbeat", 50),
    ), at=50)  # fmt: skip
    detector = Detector(storage, interval=60)
    assert [t.to_status for t in detector.run_once(now=T0 + timedelta(seconds=65))] == ["stuck"]
    first = {r["task_id"]: r for r in rows(storage, task_runs)}
    assert (first["wedged"]["status"], first["late"]["status"]) == ("stuck", "running")

    assert detector.run_once(now=T0 + timedelta(seconds=115)) == []  # the agent stays stuck

    runs = {r["task_id"]: r for r in rows(storage, task_runs)}
    assert runs["late"]["status"] == "stuck"
    assert runs["late"]["stuck_since"] == T0 + timedelta(seconds=115)
    assert runs["wedged"]["stuck_since"] == first["wedged"]["stuck_since"]


def test_a_heartbeat_between_the_detectors_read_and_write_wins(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """The detector decides from what it read; an ingest that changed the agent since
    makes that decision stale, so it must not be written (no false offline)."""
    tid = tenant.tenant_id
    ingest(storage, tid, body(ev("agent_registered", 0), ev("heartbeat", 1)), at=1)
    later = T0 + timedelta(hours=1)
    (state,) = storage.agent_states()
    decision = agent_status(state.facts, later)
    assert decision.status == "offline"

    ingest(storage, tid, body(ev("heartbeat", 3599)), at=3599)  # lands after the read

    assert storage.apply_status(state, decision, later) is None
    assert rows(storage, agents)[0]["status"] == "idle"
    recorded = rows(storage, agent_status_transitions)
    assert [t["to_status"] for t in recorded] == ["idle"]  # the registration's only
