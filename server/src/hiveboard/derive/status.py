"""Agent and task-run status: pure functions of stored facts and an injected ``now``.

The rules are hiveboard.md's table, checked top to bottom (the first match wins):

========================  =====================================================================
``offline``               silent longer than ``stuck_threshold`` with no task open, or shut down
``stuck``                 a task is open and either the agent is silent longer than the threshold
                          (it died mid-task) or the task has had no event for that long while
                          heartbeats still arrive (the work is wedged)
``error``                 the most recent task ended in failure, or a high/critical issue is open
``waiting_approval``      an open task has an approval requested and not yet received
``processing``            a task is open
``idle``                  alive, no open task
========================  =====================================================================

Heartbeats, LLM calls and custom events only move ``last_seen_at``: they prove liveness and
never change the activity state by themselves. No I/O here, so the detector and the
ingest path agree by construction and the rules are tested with a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_HEARTBEAT_INTERVAL_S = 30.0
DEFAULT_STUCK_THRESHOLD_S = 300.0

AGENT_STATUSES = ("stuck", "error", "waiting_approval", "processing", "idle", "offline")
"""Every agent status, in the order the dashboard sorts them by attention."""


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What the status rules need to know about one agent (all timestamps UTC)."""

    last_seen_at: datetime
    stuck_threshold_s: float = DEFAULT_STUCK_THRESHOLD_S
    shutdown_at: datetime | None = None
    open_task_id: str | None = None
    open_task_started_at: datetime | None = None
    open_task_last_event_at: datetime | None = None  # the quietest open run's last event
    open_task_pending_approvals: int = 0  # summed over every open run
    last_task_outcome: str | None = None  # "completed" / "failed" for the newest ended run
    last_task_ended_at: datetime | None = None
    open_high_issues: int = 0


@dataclass(frozen=True, slots=True)
class StatusDecision:
    status: str
    reason: str


def agent_status(facts: AgentFacts, now: datetime) -> StatusDecision:
    """Compute an agent's status and a human-readable reason for it."""
    threshold = facts.stuck_threshold_s
    silent_s = (now - facts.last_seen_at).total_seconds()
    task = facts.open_task_id

    if facts.shutdown_at is not None and facts.shutdown_at >= facts.last_seen_at:
        return StatusDecision("offline", "agent shut down cleanly")
    if task is None and silent_s > threshold:
        return StatusDecision(
            "offline", f"no event for {silent_s:.0f} s (threshold {threshold:.0f} s), no task open"
        )
    if task is not None:
        if silent_s > threshold:
            return StatusDecision(
                "stuck",
                f"no event for {silent_s:.0f} s (threshold {threshold:.0f} s) "
                f"while task {task!r} is open",
            )
        last_task_event = facts.open_task_last_event_at or facts.open_task_started_at
        if last_task_event is not None:
            task_silent_s = (now - last_task_event).total_seconds()
            if task_silent_s > threshold:
                return StatusDecision(
                    "stuck",
                    f"an open task has had no event for {task_silent_s:.0f} s "
                    f"(threshold {threshold:.0f} s) while the agent is alive",
                )
    if facts.last_task_outcome == "failed" and _failure_is_newest(facts):
        return StatusDecision("error", "the most recent task failed")
    if facts.open_high_issues > 0:
        return StatusDecision("error", f"{facts.open_high_issues} high/critical issue(s) open")
    if task is not None and facts.open_task_pending_approvals > 0:
        count = facts.open_task_pending_approvals
        return StatusDecision("waiting_approval", f"{count} approval request(s) pending")
    if task is not None:
        return StatusDecision("processing", f"working on task {task!r}")
    return StatusDecision("idle", "alive, no task open")


def _failure_is_newest(facts: AgentFacts) -> bool:
    # A task started after the failure is "the most recent task", and it has not failed.
    if facts.open_task_id is None or facts.open_task_started_at is None:
        return True
    if facts.last_task_ended_at is None:
        return True
    return facts.last_task_ended_at >= facts.open_task_started_at


def task_run_status(
    *,
    outcome: str | None,
    pending_approvals: int,
    escalated: bool,
    stuck: bool,
) -> str:
    """Status of one task run: an ended run keeps its outcome; an open one shows why it waits."""
    if outcome in ("completed", "failed"):
        return outcome
    if stuck:
        return "stuck"
    if pending_approvals > 0:
        return "waiting_approval"
    if escalated:
        return "escalated"
    return "running"
