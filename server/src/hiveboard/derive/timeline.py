"""Assemble one task run's timeline from its events: a pure function, no I/O.

The task timeline screen answers "why did it fail?" and "what did it cost?" for one run.
Everything it needs is in the run's own events, which the query layer fetches by index
(tenant, task, run) — a bounded set, never the whole history.  Building the view here,
from plain records, keeps the rules testable with hand-built inputs and independent of
how the write side lays out its derived tables.  The only enrichment taken from outside
the events is the cost the write side computed for LLM calls that reported none
(``llm_costs``), because prices are the write side's business.

Conventions (wire-format.md):

* actions form a tree by ``parent_action_id``; LLM calls (``custom`` events with payload
  kind ``llm_call``) and other task events hang under the action open when they happened
  (their ``action_id``);
* a plan is ``plan_created`` (with ``revision``) plus ``plan_step`` updates; the newest
  revision is the plan, earlier ones are kept;
* ``retry_started`` and ``escalated`` point at what they follow with ``parent_event_id``;
* ``approval_received`` answers an ``approval_requested`` (by ``parent_event_id`` when
  given, otherwise the oldest pending request, preferring the same action).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hiveboard.derive.timeline_model import (
    ApprovalWait,
    CausalLink,
    Failure,
    LlmCost,
    PlanProgress,
    PlanRevision,
    PlanStep,
    Timeline,
    TimelineAction,
    TimelineEvent,
    TimelineLlmCall,
)

__all__ = [
    "ApprovalWait",
    "CausalLink",
    "Failure",
    "LlmCost",
    "PlanProgress",
    "PlanRevision",
    "PlanStep",
    "Timeline",
    "TimelineAction",
    "TimelineEvent",
    "TimelineLlmCall",
    "build_timeline",
]


def _ms(later: datetime, earlier: datetime) -> int:
    return max(0, round((later - earlier).total_seconds() * 1000))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _exception(ev: TimelineEvent) -> tuple[str | None, str | None]:
    payload = ev.payload or {}
    data = ev.data
    etype = _str(payload.get("exception_type")) or _str(data.get("exception_type"))
    emsg = _str(payload.get("exception_message")) or _str(data.get("exception_message"))
    return etype, emsg


def build_timeline(
    events: Iterable[TimelineEvent],
    *,
    now: datetime,
    llm_costs: Mapping[str, LlmCost] | None = None,
) -> Timeline:
    """Assemble the timeline of one task run from its events (any order).

    ``now`` is injected so pending approvals and open actions have deterministic ages.
    """
    ordered = sorted(events, key=lambda e: (e.timestamp, e.seq))
    costs = llm_costs or {}
    by_id = {e.event_id: e for e in ordered}
    start_ev = next((e for e in ordered if e.event_type == "task_started"), None)
    origin = start_ev.timestamp if start_ev else (ordered[0].timestamp if ordered else now)

    actions = _build_actions(ordered, origin)
    roots, orphan_calls = _attach(ordered, actions, origin, costs)
    end_ev = next(
        (e for e in reversed(ordered) if e.event_type in ("task_completed", "task_failed")),
        None,
    )
    status, duration = _task_status(ordered, start_ev, end_ev)
    approvals = _build_approvals(ordered, now, end_ev.timestamp if end_ev else None)
    if status == "running" and any(w.status == "pending" for w in approvals):
        status = "waiting_approval"
    calls = [c for a in actions.values() for c in a.llm_calls] + orphan_calls
    known_costs = [c.cost_usd for c in calls if c.cost_usd is not None]
    return Timeline(
        started_at=start_ev.timestamp if start_ev else None,
        ended_at=end_ev.timestamp if end_ev else None,
        status=status,
        duration_ms=duration,
        actions=roots,
        llm_calls=orphan_calls,
        plan=_build_plan(ordered),
        links=_build_links(ordered, by_id),
        approvals=approvals,
        failure=_build_failure(ordered, actions, end_ev),
        event_count=len(ordered),
        total_cost_usd=round(sum(known_costs), 10) if known_costs else None,
        llm_call_count=len(calls),
    )


def _task_status(
    ordered: Sequence[TimelineEvent],
    start_ev: TimelineEvent | None,
    end_ev: TimelineEvent | None,
) -> tuple[str, int | None]:
    if end_ev is not None:
        status = "failed" if end_ev.event_type == "task_failed" else "completed"
        if end_ev.duration_ms is not None:
            return status, end_ev.duration_ms
        return status, _ms(end_ev.timestamp, start_ev.timestamp) if start_ev else None
    if any(e.event_type == "escalated" for e in ordered):
        return "escalated", None
    return "running", None


def _build_actions(ordered: Sequence[TimelineEvent], origin: datetime) -> dict[str, TimelineAction]:
    """One node per action id, from its start and its completion or failure."""
    actions: dict[str, TimelineAction] = {}
    for ev in ordered:
        if not ev.event_type.startswith("action_") or not ev.action_id:
            continue
        node = actions.get(ev.action_id)
        name = _str((ev.payload or {}).get("action_name")) or ev.summary
        if node is None:
            node = TimelineAction(
                action_id=ev.action_id,
                parent_action_id=ev.parent_action_id,
                name=name,
                started_at=None,
                ended_at=None,
                offset_ms=_ms(ev.timestamp, origin),
                duration_ms=None,
                status="running",
            )
            actions[ev.action_id] = node
        node.name = node.name or name
        node.parent_action_id = node.parent_action_id or ev.parent_action_id
        if ev.event_type == "action_started":
            node.started_at = ev.timestamp
            node.offset_ms = _ms(ev.timestamp, origin)
        elif ev.event_type in ("action_completed", "action_failed"):
            node.ended_at = ev.timestamp
            node.status = "failed" if ev.event_type == "action_failed" else "completed"
            if ev.event_type == "action_failed":
                node.exception_type, node.exception_message = _exception(ev)
            if ev.duration_ms is not None:
                node.duration_ms = ev.duration_ms
            elif node.started_at is not None:
                node.duration_ms = _ms(ev.timestamp, node.started_at)
            if node.started_at is None and node.duration_ms is not None:
                # Only the completion arrived: place the bar where it must have begun.
                node.offset_ms = max(0, _ms(ev.timestamp, origin) - node.duration_ms)
    return actions


def _attach(
    ordered: Sequence[TimelineEvent],
    actions: dict[str, TimelineAction],
    origin: datetime,
    costs: Mapping[str, LlmCost],
) -> tuple[list[TimelineAction], list[TimelineLlmCall]]:
    """Link actions into a tree and hang LLM calls and other events under their action."""
    roots: list[TimelineAction] = []
    for node in actions.values():
        parent = actions.get(node.parent_action_id) if node.parent_action_id else None
        # A parent that never reported, or a cycle back to itself, makes the node a root.
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    orphans: list[TimelineLlmCall] = []
    for ev in ordered:
        if ev.event_type.startswith(("action_", "task_")):
            continue
        owner = actions.get(ev.action_id) if ev.action_id else None
        if ev.kind == "llm_call":
            call = _llm_call(ev, origin, costs.get(ev.event_id))
            (owner.llm_calls if owner else orphans).append(call)
        elif owner is not None:
            owner.event_ids.append(ev.event_id)
    return roots, orphans


def _llm_call(ev: TimelineEvent, origin: datetime, settled: LlmCost | None) -> TimelineLlmCall:
    data = ev.data
    reported = data.get("cost")
    if settled is not None:
        cost, source, matched = settled.cost_usd, settled.cost_source, settled.matched_model
    elif isinstance(reported, int | float) and not isinstance(reported, bool):
        cost, source, matched = float(reported), "reported", None
    else:
        cost, source, matched = None, "unknown", None
    return TimelineLlmCall(
        event_id=ev.event_id,
        timestamp=ev.timestamp,
        offset_ms=_ms(ev.timestamp, origin),
        action_id=ev.action_id,
        name=_str(data.get("name")),
        model=_str(data.get("model")),
        tokens_in=_int(data.get("tokens_in")),
        tokens_out=_int(data.get("tokens_out")),
        cost_usd=cost,
        cost_source=source,
        matched_model=matched,
        duration_ms=_int(data.get("duration_ms")),
        prompt_preview=_str(data.get("prompt_preview")),
        response_preview=_str(data.get("response_preview")),
        summary=ev.summary,
    )


def _build_plan(ordered: Sequence[TimelineEvent]) -> PlanProgress | None:
    """Newest plan revision with each step's latest state; earlier revisions kept."""
    revisions: list[tuple[int, TimelineEvent]] = []
    for ev in ordered:
        if ev.kind == "plan_created":
            rev = _int(ev.data.get("revision"))
            revisions.append((rev if rev is not None else len(revisions), ev))
    step_events = [ev for ev in ordered if ev.kind == "plan_step"]
    if not revisions and not step_events:
        return None
    built: list[PlanRevision] = []
    # Later plan_created events win ties on the revision number (a re-sent plan).
    revisions.sort(key=lambda pair: (pair[0], pair[1].timestamp, pair[1].seq))
    for pos, (rev, created) in enumerate(revisions):
        next_created = revisions[pos + 1][1] if pos + 1 < len(revisions) else None
        steps: dict[int, PlanStep] = {}
        for raw in created.data.get("steps") or []:
            if isinstance(raw, Mapping) and (idx := _int(raw.get("index"))) is not None:
                steps[idx] = PlanStep(idx, _str(raw.get("description")), "pending")
        for ev in step_events:
            step_rev = _int(ev.data.get("plan_revision"))
            if step_rev is None:
                # Untagged updates belong to the revision in force when they happened.
                if ev.timestamp < created.timestamp or (
                    next_created is not None and ev.timestamp >= next_created.timestamp
                ):
                    continue
            elif step_rev != rev:
                continue
            _apply_step(steps, ev)
        built.append(_revision(rev, created.timestamp, steps, step_events))
    if not built:
        # Steps reported without a plan_created: still show progress.
        steps = {}
        for ev in step_events:
            _apply_step(steps, ev)
        built.append(_revision(0, step_events[0].timestamp, steps, step_events))
    return PlanProgress(current=built[-1], earlier=built[:-1])


def _apply_step(steps: dict[int, PlanStep], ev: TimelineEvent) -> None:
    idx = _int(ev.data.get("step_index"))
    if idx is None:
        return
    step = steps.setdefault(idx, PlanStep(idx, ev.summary, "pending"))
    step.state = _str(ev.data.get("action")) or step.state
    step.updated_at = ev.timestamp
    step.turns = _int(ev.data.get("turns")) if "turns" in ev.data else step.turns
    step.tokens = _int(ev.data.get("tokens")) if "tokens" in ev.data else step.tokens


def _revision(
    rev: int, created_at: datetime, steps: dict[int, PlanStep], step_events: Sequence[TimelineEvent]
) -> PlanRevision:
    ordered_steps = [steps[i] for i in sorted(steps)]
    declared = [
        t
        for ev in step_events
        if (t := _int(ev.data.get("total_steps"))) is not None
        and _int(ev.data.get("plan_revision")) in (None, rev)
    ]
    total = len(ordered_steps) if ordered_steps else max(declared, default=0)
    completed = sum(1 for s in ordered_steps if s.state == "completed")
    return PlanRevision(rev, created_at, ordered_steps, completed, total)


def _build_links(
    ordered: Sequence[TimelineEvent], by_id: Mapping[str, TimelineEvent]
) -> list[CausalLink]:
    links = []
    for ev in ordered:
        if ev.event_type not in ("retry_started", "escalated"):
            continue
        follows = by_id.get(ev.parent_event_id) if ev.parent_event_id else None
        links.append(
            CausalLink(
                event_id=ev.event_id,
                event_type=ev.event_type,
                timestamp=ev.timestamp,
                action_id=ev.action_id,
                summary=ev.summary,
                follows_event_id=ev.parent_event_id,
                follows_event_type=follows.event_type if follows else None,
                follows_summary=follows.summary if follows else None,
            )
        )
    return links


def _build_approvals(
    ordered: Sequence[TimelineEvent], now: datetime, ended_at: datetime | None
) -> list[ApprovalWait]:
    """Requests with their answers; once the run ended an unanswered one can no longer be
    answered: it is ``expired`` and its wait stops at the end (as the pipeline shows it)."""
    waits: list[ApprovalWait] = []
    pending: list[ApprovalWait] = []
    for ev in ordered:
        if ev.event_type == "approval_requested":
            wait = ApprovalWait(
                requested_event_id=ev.event_id,
                requested_at=ev.timestamp,
                action_id=ev.action_id,
                summary=ev.summary,
                received_event_id=None,
                received_at=None,
                wait_ms=_ms(now, ev.timestamp),
                status="pending",
            )
            waits.append(wait)
            pending.append(wait)
        elif ev.event_type == "approval_received" and pending:
            match = next((w for w in pending if w.requested_event_id == ev.parent_event_id), None)
            match = match or next((w for w in pending if w.action_id == ev.action_id), None)
            match = match or pending[0]
            pending.remove(match)
            match.received_event_id = ev.event_id
            match.received_at = ev.timestamp
            match.wait_ms = _ms(ev.timestamp, match.requested_at)
            match.status = "received"
            data = ev.data
            match.decision = _str(data.get("decision")) or _str(data.get("approved_by")) or None
    if ended_at is not None:
        for wait in pending:
            wait.status = "expired"
            wait.wait_ms = _ms(ended_at, wait.requested_at)
    return waits


def _build_failure(
    ordered: Sequence[TimelineEvent],
    actions: Mapping[str, TimelineAction],
    end_ev: TimelineEvent | None,
) -> Failure | None:
    """Where the run failed: the first failed action (the innermost, it fails first)."""
    if end_ev is None or end_ev.event_type != "task_failed":
        return None
    first = next((e for e in ordered if e.event_type == "action_failed" and e.action_id), None)
    source = first or end_ev
    etype, emsg = _exception(source)
    if etype is None and emsg is None:
        etype, emsg = _exception(end_ev)
    path: list[str] = []
    seen: set[str] = set()
    cursor = actions.get(source.action_id) if source.action_id else None
    while cursor is not None and cursor.action_id not in seen:
        seen.add(cursor.action_id)
        path.append(cursor.action_id)
        parent_id = cursor.parent_action_id
        cursor = actions.get(parent_id) if parent_id else None
    return Failure(
        event_id=end_ev.event_id,
        timestamp=end_ev.timestamp,
        action_id=source.action_id,
        action_path=list(reversed(path)),
        exception_type=etype,
        exception_message=emsg,
    )
