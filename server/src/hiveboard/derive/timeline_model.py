"""The records a task timeline is built from and made of (see timeline.py).

Plain dataclasses, so the pure assembly in timeline.py has no dependency on the web or
storage layers; the API's response models read them with ``from_attributes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TimelineEvent:
    """One stored event of the run, as the query layer reads it."""

    event_id: str
    timestamp: datetime
    event_type: str
    severity: str | None = None
    action_id: str | None = None
    parent_action_id: str | None = None
    status: str | None = None
    duration_ms: int | None = None
    parent_event_id: str | None = None
    payload: Mapping[str, Any] | None = None
    seq: int = 0
    """Ingest order; breaks ties between events with the same timestamp."""

    @property
    def kind(self) -> str | None:
        kind = (self.payload or {}).get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def summary(self) -> str | None:
        summary = (self.payload or {}).get("summary")
        return summary if isinstance(summary, str) else None

    @property
    def data(self) -> Mapping[str, Any]:
        data = (self.payload or {}).get("data")
        return data if isinstance(data, Mapping) else {}


@dataclass(frozen=True)
class LlmCost:
    """Cost of one LLM call as the write side settled it (reported, estimated, unknown)."""

    cost_usd: float | None
    cost_source: str
    matched_model: str | None = None


@dataclass
class TimelineLlmCall:
    event_id: str
    timestamp: datetime
    offset_ms: int
    action_id: str | None
    name: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    cost_source: str
    matched_model: str | None
    duration_ms: int | None
    prompt_preview: str | None
    response_preview: str | None
    summary: str | None


@dataclass
class TimelineAction:
    action_id: str
    parent_action_id: str | None
    name: str | None
    started_at: datetime | None
    ended_at: datetime | None
    offset_ms: int
    duration_ms: int | None
    status: str
    """``running``, ``completed`` or ``failed``."""
    exception_type: str | None = None
    exception_message: str | None = None
    children: list[TimelineAction] = field(default_factory=list)
    llm_calls: list[TimelineLlmCall] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    """Other events (retries, custom, approvals) that happened inside this action."""


@dataclass
class PlanStep:
    index: int
    description: str | None
    state: str
    """The step's latest ``action``: pending, started, completed, failed or skipped."""
    updated_at: datetime | None = None
    turns: int | None = None
    tokens: int | None = None


@dataclass
class PlanRevision:
    revision: int
    created_at: datetime
    steps: list[PlanStep]
    completed: int
    total: int


@dataclass
class PlanProgress:
    current: PlanRevision
    earlier: list[PlanRevision]


@dataclass
class CausalLink:
    """A retry or an escalation and the event it follows."""

    event_id: str
    event_type: str
    timestamp: datetime
    action_id: str | None
    summary: str | None
    follows_event_id: str | None
    follows_event_type: str | None
    follows_summary: str | None


@dataclass
class ApprovalWait:
    requested_event_id: str
    requested_at: datetime
    action_id: str | None
    summary: str | None
    received_event_id: str | None
    received_at: datetime | None
    wait_ms: int
    """Until the answer; for a pending request, until ``now``; for an expired one, until
    the run ended."""
    status: str
    """``pending``, ``received``, or ``expired`` (the run ended without an answer)."""
    decision: str | None = None


@dataclass
class Failure:
    event_id: str
    timestamp: datetime
    action_id: str | None
    """The action where the exception was raised (the first failure, the deepest one)."""
    action_path: list[str]
    """Action ids from the root down to ``action_id``."""
    exception_type: str | None
    exception_message: str | None


@dataclass
class Timeline:
    started_at: datetime | None
    ended_at: datetime | None
    status: str
    duration_ms: int | None
    actions: list[TimelineAction]
    llm_calls: list[TimelineLlmCall]
    """LLM calls made outside any known action."""
    plan: PlanProgress | None
    links: list[CausalLink]
    approvals: list[ApprovalWait]
    failure: Failure | None
    event_count: int
    total_cost_usd: float | None
    llm_call_count: int
