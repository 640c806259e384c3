"""The task timeline, built from hand-made events with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hiveboard.derive.timeline import LlmCost, TimelineEvent, build_timeline

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)


class Run:
    """Builds one run's events with increasing timestamps, like an SDK would send them."""

    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []

    def add(self, at_s: float, event_type: str, event_id: str | None = None, **kw: Any) -> str:
        eid = event_id or f"e{len(self.events)}"
        self.events.append(
            TimelineEvent(
                event_id=eid,
                timestamp=T0 + timedelta(seconds=at_s),
                event_type=event_type,
                seq=len(self.events),
                **kw,
            )
        )
        return eid

    def llm(self, at_s: float, action_id: str | None, model: str, **data: Any) -> str:
        return self.add(
            at_s,
            "custom",
            action_id=action_id,
            payload={
                "kind": "llm_call",
                "summary": f"call {model}",
                "data": {"model": model, **data},
            },
        )


def _happy_run() -> Run:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "action_started", action_id="a1", payload={"action_name": "score"})
    run.add(
        2, "action_started", action_id="a2", parent_action_id="a1", payload={"action_name": "fetch"}
    )
    run.llm(3, "a2", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004, name="fetch")
    run.add(4, "action_completed", action_id="a2", parent_action_id="a1", duration_ms=2000)
    run.llm(5, "a1", "gpt-4o", tokens_in=10, tokens_out=5)
    run.add(6, "action_completed", action_id="a1", duration_ms=5000)
    run.add(7, "task_completed", duration_ms=7000, status="success")
    return run


def test_action_tree_nests_children_and_hangs_llm_calls_under_their_action() -> None:
    tl = build_timeline(_happy_run().events, now=NOW)
    assert [a.action_id for a in tl.actions] == ["a1"]
    root = tl.actions[0]
    assert root.name == "score" and root.duration_ms == 5000 and root.status == "completed"
    assert root.offset_ms == 1000
    assert [c.action_id for c in root.children] == ["a2"]
    child = root.children[0]
    assert child.offset_ms == 2000 and child.duration_ms == 2000
    assert [c.model for c in child.llm_calls] == ["claude-sonnet-4"]
    assert child.llm_calls[0].cost_source == "reported" and child.llm_calls[0].cost_usd == 0.004
    assert [c.model for c in root.llm_calls] == ["gpt-4o"]
    assert tl.status == "completed" and tl.duration_ms == 7000
    assert tl.llm_call_count == 2 and tl.total_cost_usd == 0.004
    assert tl.failure is None and tl.llm_calls == []


def test_events_out_of_order_give_the_same_timeline() -> None:
    events = _happy_run().events
    shuffled = list(reversed(events))
    assert build_timeline(shuffled, now=NOW) == build_timeline(events, now=NOW)


def test_settled_cost_from_the_write_side_replaces_the_missing_one() -> None:
    run = _happy_run()
    gpt_call = run.events[5].event_id
    tl = build_timeline(
        run.events,
        now=NOW,
        llm_costs={gpt_call: LlmCost(0.0001, "estimated", "gpt-4o-2024-08-06")},
    )
    call = tl.actions[0].llm_calls[0]
    assert (call.cost_usd, call.cost_source, call.matched_model) == (
        0.0001,
        "estimated",
        "gpt-4o-2024-08-06",
    )
    assert tl.total_cost_usd == 0.0041


def test_llm_call_without_cost_or_settlement_is_unknown_never_zero() -> None:
    run = Run()
    run.llm(0, None, "mystery-model")
    tl = build_timeline(run.events, now=NOW)
    assert tl.llm_calls[0].cost_source == "unknown" and tl.llm_calls[0].cost_usd is None
    assert tl.total_cost_usd is None


def test_action_duration_falls_back_to_timestamps_and_open_actions_are_running() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "action_started", action_id="a")
    run.add(3.5, "action_completed", action_id="a")
    run.add(4, "action_started", action_id="b")
    tl = build_timeline(run.events, now=NOW)
    a, b = tl.actions
    assert a.duration_ms == 2500
    assert b.status == "running" and b.duration_ms is None
    assert tl.status == "running"


def test_failure_points_at_the_innermost_failed_action_with_its_exception() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "action_started", action_id="outer")
    run.add(2, "action_started", action_id="inner", parent_action_id="outer")
    exc = {
        "action_name": "inner",
        "exception_type": "TimeoutError",
        "exception_message": "upstream",
    }
    run.add(3, "action_failed", action_id="inner", parent_action_id="outer", payload=exc)
    run.add(4, "action_failed", action_id="outer", payload={"exception_type": "TimeoutError"})
    fail_id = run.add(
        5,
        "task_failed",
        payload={"exception_type": "TimeoutError", "exception_message": "upstream"},
    )
    tl = build_timeline(run.events, now=NOW)
    assert tl.status == "failed" and tl.duration_ms == 5000
    assert tl.failure is not None
    assert tl.failure.event_id == fail_id
    assert tl.failure.action_id == "inner"
    assert tl.failure.action_path == ["outer", "inner"]
    assert (tl.failure.exception_type, tl.failure.exception_message) == ("TimeoutError", "upstream")
    inner = tl.actions[0].children[0]
    assert inner.status == "failed" and inner.exception_message == "upstream"


def test_failure_without_actions_uses_the_task_failed_exception() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "task_failed", payload={"exception_type": "ValueError", "exception_message": "bad"})
    tl = build_timeline(run.events, now=NOW)
    assert tl.failure is not None
    assert tl.failure.action_id is None and tl.failure.action_path == []
    assert tl.failure.exception_type == "ValueError"


def _plan(revision: int, n: int) -> dict[str, Any]:
    steps = [{"index": i, "description": f"r{revision} step {i}"} for i in range(n)]
    return {
        "kind": "plan_created",
        "summary": "plan",
        "data": {"steps": steps, "revision": revision},
    }


def _step(index: int, action: str, revision: int | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"step_index": index, "total_steps": 3, "action": action, **extra}
    if revision is not None:
        data["plan_revision"] = revision
    return {"kind": "plan_step", "summary": f"step {index}", "data": data}


def test_plan_progress_uses_the_newest_revision_and_keeps_earlier_ones() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "custom", payload=_plan(0, 2))
    run.add(2, "custom", payload=_step(0, "started"))
    run.add(3, "custom", payload=_step(0, "failed"))
    run.add(4, "custom", payload=_plan(1, 3))
    run.add(5, "custom", payload=_step(0, "started", revision=1))
    run.add(6, "custom", payload=_step(0, "completed", revision=1, turns=2, tokens=900))
    run.add(7, "custom", payload=_step(1, "skipped"))  # untagged: belongs to revision 1
    tl = build_timeline(run.events, now=NOW)
    assert tl.plan is not None
    current = tl.plan.current
    assert current.revision == 1
    assert [s.state for s in current.steps] == ["completed", "skipped", "pending"]
    assert current.steps[0].turns == 2 and current.steps[0].tokens == 900
    assert (current.completed, current.total) == (1, 3)
    assert [r.revision for r in tl.plan.earlier] == [0]
    assert [s.state for s in tl.plan.earlier[0].steps] == ["failed", "pending"]


def test_plan_steps_without_plan_created_still_show_progress() -> None:
    run = Run()
    run.add(0, "custom", payload=_step(0, "completed"))
    run.add(1, "custom", payload=_step(1, "started"))
    tl = build_timeline(run.events, now=NOW)
    assert tl.plan is not None
    assert (tl.plan.current.completed, tl.plan.current.total) == (1, 2)


def test_no_plan_events_means_no_plan() -> None:
    assert build_timeline(_happy_run().events, now=NOW).plan is None


def test_retries_and_escalations_link_to_what_they_follow() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(1, "action_started", action_id="a")
    failed = run.add(2, "action_failed", action_id="a", payload={"exception_type": "RateLimit"})
    run.add(
        3, "retry_started", parent_event_id=failed, action_id="a", payload={"summary": "retry 1"}
    )
    run.add(4, "escalated", parent_event_id="not-in-this-run", payload={"summary": "to human"})
    tl = build_timeline(run.events, now=NOW)
    retry, escalation = tl.links
    assert retry.follows_event_id == failed and retry.follows_event_type == "action_failed"
    assert retry.summary == "retry 1"
    assert (
        escalation.follows_event_id == "not-in-this-run" and escalation.follows_event_type is None
    )
    assert tl.status == "escalated"
    assert tl.actions[0].event_ids == [run.events[3].event_id]


def test_approvals_record_wait_times_and_pending_ones_wait_until_now() -> None:
    run = Run()
    run.add(0, "task_started")
    first = run.add(10, "approval_requested", payload={"summary": "send email?"})
    second = run.add(20, "approval_requested", payload={"summary": "pay invoice?"})
    run.add(
        50,
        "approval_received",
        parent_event_id=second,
        payload={"summary": "ok", "data": {"decision": "approved"}},
    )
    tl = build_timeline(run.events, now=NOW)
    by_id = {w.requested_event_id: w for w in tl.approvals}
    assert by_id[second].status == "received" and by_id[second].wait_ms == 30_000
    assert by_id[second].decision == "approved"
    assert by_id[first].status == "pending" and by_id[first].wait_ms == 590_000
    assert tl.status == "waiting_approval"


def test_unanswered_request_of_an_ended_run_expired_at_the_end() -> None:
    """A finished run's request no longer waits: it does not age with ``now``."""
    run = Run()
    run.add(0, "task_started")
    req = run.add(10, "approval_requested")
    run.add(70, "task_completed")
    tl = build_timeline(run.events, now=NOW)
    (wait,) = tl.approvals
    assert wait.requested_event_id == req
    assert (wait.status, wait.wait_ms) == ("expired", 60_000)
    assert tl.status == "completed"


def test_approval_received_without_parent_answers_the_oldest_pending_request() -> None:
    run = Run()
    first = run.add(0, "approval_requested")
    run.add(1, "approval_requested")
    run.add(4, "approval_received")
    tl = build_timeline(run.events, now=NOW)
    answered = [w for w in tl.approvals if w.status == "received"]
    assert [w.requested_event_id for w in answered] == [first]
    assert answered[0].wait_ms == 4000


def test_completion_without_start_is_placed_by_its_duration_and_orphan_parent_is_a_root() -> None:
    run = Run()
    run.add(0, "task_started")
    run.add(
        10, "action_completed", action_id="late", parent_action_id="never-seen", duration_ms=4000
    )
    tl = build_timeline(run.events, now=NOW)
    assert [a.action_id for a in tl.actions] == ["late"]
    assert tl.actions[0].offset_ms == 6000


def test_empty_run_is_an_empty_timeline() -> None:
    tl = build_timeline([], now=NOW)
    assert tl.actions == [] and tl.event_count == 0 and tl.status == "running"
