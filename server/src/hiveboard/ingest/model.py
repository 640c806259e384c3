"""Validated ingest records handed from the validator to storage.

They carry only values that already passed validation: storage trusts them and does no
re-checking, which keeps the write path fast and the rules in one place (validate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_TYPES = frozenset(
    {
        "agent_registered",
        "heartbeat",
        "task_started",
        "task_completed",
        "task_failed",
        "action_started",
        "action_completed",
        "action_failed",
        "retry_started",
        "escalated",
        "approval_requested",
        "approval_received",
        "custom",
    }
)
SEVERITIES = frozenset({"debug", "info", "warn", "error"})


@dataclass(slots=True)
class Envelope:
    """Agent metadata shared by every event of one batch."""

    agent_id: str
    agent_type: str = "general"
    agent_version: str | None = None
    framework: str | None = None
    runtime: str | None = None
    sdk_version: str | None = None
    environment: str = "production"
    group: str = "default"


@dataclass(slots=True)
class Event:
    """One accepted event, normalised: UTC timestamp, severity defaulted, NULs stripped."""

    event_id: str
    ts: datetime
    event_type: str
    severity: str
    agent_id: str
    agent_type: str
    envelope: Envelope
    project_id: str | None = None
    task_id: str | None = None
    task_type: str | None = None
    task_run_id: str | None = None
    correlation_id: str | None = None
    action_id: str | None = None
    parent_action_id: str | None = None
    status: str | None = None
    duration_ms: int | None = None
    parent_event_id: str | None = None
    payload: dict[str, Any] | None = None
    payload_kind: str | None = None
    summary: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        """``payload.data`` as a dict (empty when absent), for the well-known kinds."""
        data = (self.payload or {}).get("data")
        return data if isinstance(data, dict) else {}

    @property
    def run_key(self) -> tuple[str, str] | None:
        """(task_id, task_run_id) of the run this event belongs to, if task-scoped."""
        if self.task_id is None:
            return None
        return (self.task_id, self.task_run_id or "")


@dataclass(slots=True)
class EventError:
    event_id: str | None
    error: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "error": self.error, "message": self.message}


@dataclass(slots=True)
class Batch:
    """A validated batch: the good events plus per-event errors and warnings."""

    envelope: Envelope
    events: list[Event] = field(default_factory=list)
    errors: list[EventError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    received: int = 0
