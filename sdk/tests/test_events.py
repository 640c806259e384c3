"""Every public method sends the events the wire format describes, and they validate."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import sent_events
from recorder import IngestRecorder

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _all_bodies_valid(recorder: IngestRecorder, validate_body: Any) -> None:
    bodies = recorder.bodies()
    assert bodies
    for body in bodies:
        validate_body(body)


def test_registration_sends_agent_metadata_in_envelope_and_event(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    hb.agent(
        "lead-qualifier",
        type="sales",
        version="1.0.0",
        framework="langchain",
        heartbeat_interval=0,
        stuck_threshold=120,
    )
    assert hb.flush(5)
    envelope, event = recorder.events()[0]
    assert envelope["agent_id"] == "lead-qualifier"
    assert envelope["agent_type"] == "sales"
    assert envelope["agent_version"] == "1.0.0"
    assert envelope["framework"] == "langchain"
    assert envelope["environment"] == "production"
    assert envelope["group"] == "default"
    assert envelope["sdk_version"].startswith("hiveloop-")
    assert envelope["runtime"].startswith("python-3.")
    assert event["event_type"] == "agent_registered"
    assert event["severity"] == "info"
    assert event["payload"]["data"] == {
        "type": "sales",
        "version": "1.0.0",
        "framework": "langchain",
        "stuck_threshold": 120,
        "heartbeat_interval": 0,
    }
    assert UUID.match(event["event_id"])
    assert ISO_UTC.match(event["timestamp"])
    _all_bodies_valid(recorder, validate_body)


def test_agent_defaults(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("plain")
    assert (agent.agent_type, agent.version, agent.framework) == ("general", None, "custom")
    assert (agent.heartbeat_interval, agent.stuck_threshold) == (30.0, 300)
    assert hb.flush(5)
    envelope, registered = recorder.events()[0]
    assert "agent_version" not in envelope
    assert registered["payload"]["data"]["heartbeat_interval"] == 30.0


def test_same_agent_id_returns_the_same_agent_with_updated_metadata(hb: Any) -> None:
    first = hb.agent("same", heartbeat_interval=0)
    second = hb.agent("same", type="support", version="2")
    assert first is second
    assert (second.agent_type, second.version) == ("support", "2")
    assert hb.get_agent("same") is first
    assert hb.get_agent("missing") is None


def test_task_lifecycle_and_every_task_method(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    agent = hb.agent("full-story", heartbeat_interval=0)
    with agent.task(
        "task-001", project="sales-pipeline", type="lead_qualification", correlation_id="c-1"
    ) as task:
        task.llm_call(
            "lead_scoring",
            "claude-sonnet-4-20250514",
            tokens_in=1800,
            tokens_out=250,
            cost=0.004,
            duration_ms=1200,
            prompt_preview="Score this lead based on...",
            response_preview="Score: 72. Reasoning: ...",
            metadata={"temperature": 0.2},
        )
        task.plan("Process lead", ["Fetch CRM", "Score", "Enrich", "Route"])
        task.plan_step(0, "completed", "CRM data retrieved", turns=1, tokens=800)
        task.plan_step(2, "failed", "Enrichment API timeout")
        task.escalate("Enrichment service down", reason="service_outage", assigned_to="ops")
        task.request_approval("Credit $450 for customer BlueStar?", approver="sales-lead")
        task.approval_received("Approved by @jsmith", approved_by="jsmith", decision="approved")
        task.retry("API timeout, attempt 1", attempt=1, backoff_seconds=1)
        task.event("custom", {"summary": "scored", "data": {"score": 72}}, severity="warn")
        task.set_payload({"score": 72, "decision": "nurture"})
    events = sent_events(recorder, hb)
    types = [e["event_type"] for e in events]
    assert types == [
        "task_started",
        "custom",
        "custom",
        "custom",
        "custom",
        "escalated",
        "approval_requested",
        "approval_received",
        "retry_started",
        "custom",
        "task_completed",
    ]
    run_ids = {e["task_run_id"] for e in events}
    assert len(run_ids) == 1 and UUID.match(run_ids.pop())
    for event in events:
        assert event["task_id"] == "task-001"
        assert event["project_id"] == "sales-pipeline"
        assert event["task_type"] == "lead_qualification"
        assert event["correlation_id"] == "c-1"
    llm = events[1]["payload"]
    assert llm["kind"] == "llm_call"
    assert llm["summary"] == "lead_scoring → claude-sonnet-4-20250514 (1800 in / 250 out, $0.004)"
    assert llm["data"]["cost"] == 0.004 and llm["data"]["metadata"] == {"temperature": 0.2}
    plan = events[2]["payload"]
    assert plan["kind"] == "plan_created"
    assert [s["description"] for s in plan["data"]["steps"]][1] == "Score"
    step_ok, step_failed = events[3], events[4]
    assert step_ok["payload"]["data"] == {
        "step_index": 0,
        "total_steps": 4,
        "action": "completed",
        "turns": 1,
        "tokens": 800,
        "plan_revision": 0,
    }
    assert step_failed["severity"] == "error"
    assert events[5]["severity"] == "warn"
    assert events[5]["payload"]["data"] == {"assigned_to": "ops", "reason": "service_outage"}
    assert events[6]["payload"]["data"] == {"approver": "sales-lead"}
    received = events[7]
    assert received["payload"]["data"] == {"decision": "approved", "approved_by": "jsmith"}
    assert received["parent_event_id"] == events[6]["event_id"]
    assert events[8]["payload"]["data"] == {"attempt": 1, "backoff_seconds": 1}
    assert events[9]["severity"] == "warn"
    completed = events[10]
    assert completed["status"] == "success"
    assert completed["duration_ms"] >= 0
    assert completed["payload"]["score"] == 72
    assert completed["payload"]["summary"] == "Task task-001 completed"
    _all_bodies_valid(recorder, validate_body)


def test_exception_fails_the_task_and_propagates_unchanged(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    agent = hb.agent("failing", heartbeat_interval=0)
    error = KeyError("lead-4821")
    with pytest.raises(KeyError) as raised, agent.task("task-002") as task:
        task.set_payload({"stage": "fetch"})
        raise error
    assert raised.value is error
    failed = sent_events(recorder, hb)[-1]
    assert failed["event_type"] == "task_failed"
    assert failed["status"] == "failure"
    assert failed["severity"] == "error"
    assert failed["payload"]["exception_type"] == "KeyError"
    assert failed["payload"]["exception_message"] == "'lead-4821'"
    assert failed["payload"]["stage"] == "fetch"
    _all_bodies_valid(recorder, validate_body)


def test_manual_lifecycle(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("manual", heartbeat_interval=0)
    ok = agent.start_task("task-ok", project="sales", type="batch", task_run_id="run-7")
    ok.complete(status="success", payload={"result": 3})
    ok.complete()  # a second end is ignored
    bad = agent.start_task("task-bad")
    bad.fail(exception=TimeoutError("slow"), payload={"step": 2})
    events = sent_events(recorder, hb)
    assert [e["event_type"] for e in events] == [
        "task_started",
        "task_completed",
        "task_started",
        "task_failed",
    ]
    assert events[1]["task_run_id"] == "run-7" and events[1]["payload"]["result"] == 3
    assert events[3]["payload"]["exception_type"] == "TimeoutError"
    assert events[3]["payload"]["step"] == 2


def test_agent_level_methods(hb: Any, recorder: IngestRecorder, validate_body: Any) -> None:
    agent = hb.agent("ops", heartbeat_interval=0)
    agent.queue_snapshot(
        depth=5,
        oldest_age_seconds=120,
        items=[{"id": "lead-100", "priority": "high", "source": "inbound"}],
        processing={"id": "lead-99", "summary": "scoring", "elapsed_ms": 300},
    )
    agent.todo(
        "todo-001",
        action="created",
        summary="Follow up on failed enrichment for lead-4821",
        priority="high",
        source="failed_action",
        context="enrichment",
        due_by="2026-02-14T15:00:00Z",
    )
    agent.todo("todo-001", action="failed", summary="Still failing")
    agent.scheduled(
        [
            {"id": "daily-sync", "name": "CRM Full Sync", "next_run": "2026-02-14T06:00:00Z"},
            {"id": "hourly", "name": "Queue Check", "next_run": "2026-02-13T15:00:00Z"},
        ]
    )
    agent.report_issue(
        "CRM API returning 403",
        severity="high",
        issue_id="crm-auth-failure",
        category="permissions",
        context={"endpoint": "/api/leads", "status_code": 403},
        occurrence_count=8,
    )
    agent.resolve_issue("CRM credentials rotated", issue_id="crm-auth-failure")
    agent.llm_call("summarize", "gpt-4o-mini", tokens_in=10, tokens_out=3)
    agent.event("custom", {"summary": "deploy"}, severity="info")
    events = sent_events(recorder, hb, skip_housekeeping=False)[1:]
    kinds = [e.get("payload", {}).get("kind") for e in events]
    assert kinds == [
        "queue_snapshot",
        "todo",
        "todo",
        "scheduled",
        "issue",
        "issue",
        "llm_call",
        None,
    ]
    assert all("task_id" not in e for e in events)
    queue, todo, todo_failed, scheduled, issue, resolved = events[:6]
    assert queue["severity"] == "debug"
    assert queue["payload"]["summary"] == "Queue: 5 items, oldest 120s"
    assert queue["payload"]["data"]["processing"]["id"] == "lead-99"
    assert todo["payload"]["data"]["due_by"] == "2026-02-14T15:00:00Z"
    assert todo_failed["severity"] == "warn"
    assert scheduled["payload"]["summary"] == "2 scheduled items, next at 2026-02-13T15:00:00Z"
    assert issue["severity"] == "error"
    assert issue["payload"]["data"]["occurrence_count"] == 8
    assert issue["payload"]["tags"] == ["issue", "permissions"]
    assert resolved["payload"]["data"]["action"] == "resolved"
    assert resolved["payload"]["data"]["issue_id"] == "crm-auth-failure"
    _all_bodies_valid(recorder, validate_body)


def test_invalid_custom_event_type_is_not_sent(
    hb: Any, recorder: IngestRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    agent = hb.agent("strict", heartbeat_interval=0)
    agent.event("my_own_type", {"summary": "x"})
    assert sent_events(recorder, hb) == []
    assert "my_own_type" in caplog.text


def test_events_inside_a_task_and_action_carry_their_ids(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("scoped", heartbeat_interval=0)
    with agent.task("t") as task, agent.track_context("step") as action:
        agent.llm_call("inner", "gpt-4o")
        agent.event("custom", {"summary": "note"})
        task.retry("again")
    events = sent_events(recorder, hb)
    action_id = events[1]["action_id"]
    assert events[1]["event_type"] == "action_started"
    for event in events[2:5]:
        assert event["action_id"] == action_id
        assert event["task_id"] == "t"
    assert action.action_id == action_id


PLAIN_LLM_CALLS = [
    {"name": "score", "model": "m"},
    {"name": 'we"ird\\ → \n', "model": "m\u00e9", "tokens_in": 0, "tokens_out": 5, "cost": 3},
    {"name": "c", "model": "m", "cost": 1e-7, "duration_ms": 7, "prompt_preview": "p\t"},
    {"name": "c", "model": "m", "cost": 12345678.9, "response_preview": "r"},
    {"name": "c", "model": "m", "tokens_in": 1, "metadata": {"temperature": 0.2}},
    {"name": "c", "model": "m", "tokens_in": 10**20, "duration_ms": 0},
]


def test_llm_calls_with_every_kind_of_argument(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    agent = hb.agent("llm", heartbeat_interval=0)
    with agent.task("t") as task, agent.track_context("step"):
        for call in PLAIN_LLM_CALLS:
            task.llm_call(**call)
        task.llm_call("nan", "m", cost=float("nan"))
        task.llm_call("n" * 600, "m")
        task.llm_call("big", "m", prompt_preview="p" * 40_000)
    agent.llm_call("outside", "m")
    events = [e for e in sent_events(recorder, hb) if e["event_type"] == "custom"]
    _all_bodies_valid(recorder, validate_body)
    assert [e["payload"]["data"] for e in events[: len(PLAIN_LLM_CALLS)]] == PLAIN_LLM_CALLS
    assert events[1]["payload"]["summary"] == 'we"ird\\ → \n → m\u00e9 (0 in / 5 out, $3)'
    nan, long, big, outside = events[len(PLAIN_LLM_CALLS) :]
    assert nan["payload"]["data"] == {"name": "nan", "model": "m"}
    assert len(long["payload"]["summary"]) == 512 and len(long["payload"]["data"]["name"]) == 600
    assert big["payload"]["data"]["truncated"] is True
    for event in events[:-1]:
        assert (event["task_id"], event["severity"], event["payload"]["tags"]) == (
            "t",
            "info",
            ["llm"],
        )
        assert event["action_id"] == events[0]["action_id"]
        assert UUID.match(event["event_id"]) and ISO_UTC.match(event["timestamp"])
    assert "task_id" not in outside and "action_id" not in outside


def test_oversized_payload_is_trimmed_not_lost(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("big", heartbeat_interval=0)
    with agent.task("t") as task:
        task.set_payload({"blob": "x" * 40_000})
    completed = sent_events(recorder, hb)[-1]
    assert completed["event_type"] == "task_completed"
    assert completed["payload"]["summary"] == "Task t completed"
    assert completed["payload"]["data"]["truncated"] is True
    assert completed["payload"]["data"]["original_bytes"] > 40_000


def test_long_summaries_and_task_ids_are_truncated(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("long", heartbeat_interval=0)
    with agent.task("t" * 300):
        agent.report_issue("s" * 600, severity="low")
    events = sent_events(recorder, hb)
    assert len(events[0]["task_id"]) == 256
    assert len(events[1]["payload"]["summary"]) == 512


def test_unserializable_and_non_finite_values_do_not_lose_the_event(
    hb: Any, recorder: IngestRecorder
) -> None:
    agent = hb.agent("odd", heartbeat_interval=0)
    with agent.task("t") as task:
        task.set_payload({"when": object(), "ratio": float("nan")})
    completed = sent_events(recorder, hb)[-1]
    assert completed["payload"]["ratio"] is None
    assert completed["payload"]["when"].startswith("<object object")


def test_tool_payload_shapes_and_clips() -> None:
    from hiveloop import tool_payload

    payload = tool_payload(
        args={"query": "q" * 600, "limit": 5},
        result="r" * 2000,
        success=False,
        error="boom",
        http_status=500,
    )
    assert payload["success"] is False and payload["error"] == "boom"
    assert len(payload["args"]["query"]) == 500 and payload["args"]["limit"] == 5
    assert len(payload["result"]) == 1000
    assert "duration_ms" not in payload


def test_unusual_argument_types_never_raise_into_the_agent(
    hb: Any, recorder: IngestRecorder
) -> None:
    agent = hb.agent("sloppy", heartbeat_interval=0)
    with agent.task("t-1") as task:
        task.plan("Process lead", (step for step in ("Fetch", "Score")))
        agent.event(["custom"], {"summary": "not a type"})  # type: ignore[arg-type]
        agent.scheduled(({"id": "daily", "next_run": "2026-02-14T06:00:00Z"}, "junk"))
        agent.scheduled(None)  # type: ignore[arg-type]
    events = sent_events(recorder, hb)
    plan = next(e for e in events if e["payload"].get("kind") == "plan_created")
    assert plan["payload"]["data"]["steps"] == [
        {"index": 0, "description": "Fetch"},
        {"index": 1, "description": "Score"},
    ]
    scheduled = [e for e in events if e["payload"].get("kind") == "scheduled"]
    assert [e["payload"]["summary"] for e in scheduled] == [
        "2 scheduled items, next at 2026-02-14T06:00:00Z",
        "0 scheduled items",
    ]
    assert not any(e["payload"].get("summary") == "not a type" for e in events)
