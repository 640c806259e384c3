# ruff: noqa: E501  (one row per case reads better than wrapped rows)
"""Agent and task-run status rules, table-driven with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hiveboard.derive.status import AgentFacts, agent_status, task_run_status

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


CASES = [
    ("alive, nothing open", AgentFacts(last_seen_at=ago(5)), "idle"),
    ("silent, no task", AgentFacts(last_seen_at=ago(301)), "offline"),
    ("silent just under threshold", AgentFacts(last_seen_at=ago(299)), "idle"),
    ("custom threshold", AgentFacts(last_seen_at=ago(61), stuck_threshold_s=60), "offline"),
    ("clean shutdown", AgentFacts(last_seen_at=ago(1), shutdown_at=ago(1)), "offline"),
    ("event after shutdown", AgentFacts(last_seen_at=ago(1), shutdown_at=ago(9)), "idle"),
    ("task open", AgentFacts(last_seen_at=ago(1), open_task_id="t", open_task_last_event_at=ago(1)), "processing"),
    ("died mid-task", AgentFacts(last_seen_at=ago(400), open_task_id="t", open_task_last_event_at=ago(400)), "stuck"),
    ("wedged: heartbeats but task silent", AgentFacts(last_seen_at=ago(2), open_task_id="t", open_task_last_event_at=ago(301)), "stuck"),
    ("waiting approval", AgentFacts(last_seen_at=ago(1), open_task_id="t", open_task_last_event_at=ago(1), open_task_pending_approvals=1), "waiting_approval"),
    ("last task failed", AgentFacts(last_seen_at=ago(1), last_task_outcome="failed", last_task_ended_at=ago(1)), "error"),
    ("high issue beats processing", AgentFacts(last_seen_at=ago(1), open_task_id="t", open_task_last_event_at=ago(1), open_high_issues=1), "error"),
    ("stuck beats error", AgentFacts(last_seen_at=ago(400), open_task_id="t", open_high_issues=2), "stuck"),
    ("offline beats error", AgentFacts(last_seen_at=ago(400), last_task_outcome="failed"), "offline"),
    ("new task after a failure", AgentFacts(last_seen_at=ago(1), open_task_id="t", open_task_started_at=ago(5), open_task_last_event_at=ago(1), last_task_outcome="failed", last_task_ended_at=ago(10)), "processing"),
    ("error beats waiting", AgentFacts(last_seen_at=ago(1), open_task_id="t", open_task_last_event_at=ago(1), open_task_pending_approvals=1, open_high_issues=1), "error"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "facts", "expected"), CASES, ids=[c[0] for c in CASES])
def test_agent_status(name: str, facts: AgentFacts, expected: str) -> None:
    decision = agent_status(facts, NOW)
    assert decision.status == expected
    assert decision.reason


@pytest.mark.parametrize(
    ("outcome", "pending", "escalated", "stuck", "expected"),
    [
        (None, 0, False, False, "running"),
        ("completed", 1, True, True, "completed"),
        ("failed", 0, False, False, "failed"),
        (None, 0, False, True, "stuck"),
        (None, 2, True, False, "waiting_approval"),
        (None, 0, True, False, "escalated"),
    ],
)
def test_task_run_status(
    outcome: str | None, pending: int, escalated: bool, stuck: bool, expected: str
) -> None:
    got = task_run_status(
        outcome=outcome, pending_approvals=pending, escalated=escalated, stuck=stuck
    )
    assert got == expected
