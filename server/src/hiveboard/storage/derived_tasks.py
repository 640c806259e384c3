"""Derived state under tasks: task runs, actions and LLM calls (plans and approvals in
their own modules, called from ``apply``).

Rows touched by a batch are loaded once, merged in Python with order-independent rules
(``min`` for starts, newest terminal event wins for ends, counters only ever add events
that were just inserted) and written back through the group's ``WriteBuffer`` (one
``executemany`` per table for every agent of the group). The caller holds the agent's row
lock, so no other transaction changes this agent's runs meanwhile. Statements are built
once (``Prepared``): building them per call cost more than running them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.sql import Select

from hiveboard.derive.cost import PriceOverride, llm_call_cost
from hiveboard.derive.status import task_run_status
from hiveboard.ingest.model import Event
from hiveboard.storage import derived_approvals, derived_plans
from hiveboard.storage.bulk import Bulk
from hiveboard.storage.derived_values import RunKey, as_int, clip_text
from hiveboard.storage.tables import actions, llm_calls, task_runs
from hiveboard.storage.write_buffer import RUN_COLUMNS, RUN_KEY, WriteBuffer

PREVIEW_CHARS = 2000
ACTION_COLUMNS = ("parent_action_id", "name", "function", "started_at", "ended_at", "status",
                  "duration_ms", "exception_type", "exception_message")  # fmt: skip
RUN_MUTABLE = tuple(c for c in RUN_COLUMNS if c not in RUN_KEY)

_SELECT_RUNS: Select[Any] = select(task_runs).where(
    task_runs.c.tenant_id == bindparam("tenant_id"),
    task_runs.c.agent_id == bindparam("agent_id"),
    task_runs.c.task_id.in_(bindparam("task_ids", expanding=True)),
)
_SELECT_ACTIONS: Select[Any] = select(actions).where(
    actions.c.tenant_id == bindparam("tenant_id"),
    actions.c.agent_id == bindparam("agent_id"),
    actions.c.action_id.in_(bindparam("action_ids", expanding=True)),
)
_INSERT_LLM_CALLS = Bulk(
    lambda ins: ins(llm_calls).on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
)
_INSERT_ACTIONS = Bulk(lambda ins: actions.insert())
_UPDATE_ACTIONS = Bulk(
    lambda ins: (
        update(actions)
        .where(
            actions.c.tenant_id == bindparam("k_tenant"),
            actions.c.agent_id == bindparam("k_agent"),
            actions.c.action_id == bindparam("k_action"),
        )
        .values({c: bindparam(f"v_{c}") for c in ACTION_COLUMNS})
    )
)
_UPDATE_RUNS = Bulk(
    lambda ins: (
        update(task_runs)
        .where(task_runs.c.id == bindparam("k_id"))
        .values({c: bindparam(f"v_{c}") for c in RUN_MUTABLE})
    )
)


@dataclass
class TaskEffects:
    """What the agent row and the rollups need to know about this batch's task events."""

    touched: bool = False
    ended: list[tuple[datetime, str, datetime | None]] = field(default_factory=list)
    llm: dict[str, tuple[float | None, int, int]] = field(default_factory=dict)
    durations: dict[str, int] = field(default_factory=dict)
    runs: dict[RunKey, dict[str, Any]] = field(default_factory=dict)


def apply(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    evs: list[Event],
    prices: Callable[[], dict[str, PriceOverride]],
    out: WriteBuffer,
    seen_before: datetime | None = None,
) -> TaskEffects:
    """Merge one agent's new events into its runs and actions; rows go to ``out``.

    ``seen_before`` is the agent's newest event time before this batch (None if new).
    ``effects.runs`` holds every run the batch touched, as it will be once ``out`` is
    flushed (new runs get their ``id`` then), so the agent row needs no read-back.
    """
    effects = TaskEffects()
    scoped = [ev for ev in evs if ev.task_id is not None]
    runs = _load_runs(conn, tenant_id, agent_id, scoped)
    for ev in scoped:
        _touch(runs, tenant_id, agent_id, ev)
    effects.touched = bool(scoped)

    for ev in scoped:
        run = runs[ev.run_key]  # type: ignore[index]
        if ev.event_type == "task_started":
            if run["started_at"] is None or ev.ts < run["started_at"]:
                _start_run(run, ev.ts)
        elif ev.event_type in ("task_completed", "task_failed"):
            _end_run(run, ev)
        elif ev.event_type == "escalated" and (
            run["escalated_at"] is None or ev.ts > run["escalated_at"]
        ):
            run["escalated_at"] = ev.ts

    _apply_llm_calls(tenant_id, agent_id, evs, runs, prices, effects, out)
    _apply_actions(conn, tenant_id, agent_id, scoped, runs, out)
    derived_plans.apply_plans(conn, tenant_id, agent_id, scoped)
    approval_keys = derived_approvals.apply_approvals(conn, tenant_id, agent_id, evs, seen_before)
    # Only runs that still have an open request need their requests closed: those that
    # ended now with one, and ended runs a late request or escalation was delivered for.
    ended_now = {
        key
        for key, run in runs.items()
        if run.get("_ended_now") and (run["pending_approvals"] or run["escalated_at"] is not None)
    }
    ended_now |= {
        key for key in approval_keys
        if key in runs and runs[key]["ended_at"] is not None and not runs[key].get("_ended_now")
    }  # fmt: skip
    if ended_now:
        approval_keys |= derived_approvals.close_for_ended_runs(
            conn, tenant_id, agent_id, ended_now
        )
    if approval_keys:
        derived_approvals.recount_pending(conn, tenant_id, agent_id, runs, approval_keys)

    for run in runs.values():
        if not run["_dirty"]:
            continue
        outcome = run["status"] if run["ended_at"] is not None else None
        run["status"] = task_run_status(
            outcome=outcome,
            pending_approvals=run["pending_approvals"],
            escalated=run["escalated_at"] is not None,
            stuck=run["stuck_since"] is not None,
        )
        if run.get("_ended_now"):
            effects.ended.append((run["ended_at"], run["status"], run["started_at"]))
            effects.durations[run["_ended_now"]] = run["duration_ms"]
    _write_runs(runs, out)
    effects.runs = runs
    return effects


def _load_runs(
    conn: Connection, tenant_id: str, agent_id: str, scoped: list[Event]
) -> dict[RunKey, dict[str, Any]]:
    task_ids = {ev.task_id for ev in scoped}
    if not task_ids:
        return {}
    rows = conn.execute(
        _SELECT_RUNS, {"tenant_id": tenant_id, "agent_id": agent_id, "task_ids": list(task_ids)}
    ).mappings()
    return {
        (r["task_id"], r["task_run_id"]): {
            **r, "_new": False, "_dirty": False,
            "_loaded_start": r["started_at"] or r["first_event_at"],
        }
        for r in rows
    }  # fmt: skip


def _touch(runs: dict[RunKey, dict[str, Any]], tenant_id: str, agent_id: str, ev: Event) -> None:
    key = ev.run_key
    assert key is not None
    run = runs.get(key)
    if run is None:
        run = runs[key] = {
            "_new": True,
            "tenant_id": tenant_id,
            "agent_id": agent_id,
            "task_id": key[0],
            "task_run_id": key[1],
            "project_id": None,
            "task_type": None,
            "correlation_id": None,
            "environment": ev.envelope.environment,
            "group_name": ev.envelope.group,
            "started_at": None,
            "first_event_at": ev.ts,
            "last_event_at": ev.ts,
            "ended_at": None,
            "status": "running",
            "duration_ms": None,
            "escalated_at": None,
            "stuck_since": None,
            "pending_approvals": 0,
            "exception_type": None,
            "exception_message": None,
            "llm_call_count": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "cost_unknown_calls": 0,
            "action_count": 0,
            "error_count": 0,
            "event_count": 0,
        }
    run["_dirty"] = True
    run["event_count"] += 1
    run["first_event_at"] = min(run["first_event_at"], ev.ts)
    if ev.ts > run["last_event_at"]:
        run["last_event_at"] = ev.ts
    if run["stuck_since"] is not None and ev.ts > run["stuck_since"]:
        run["stuck_since"] = None  # it moved again after the detector flagged it
    for name in ("project_id", "task_type", "correlation_id"):
        if run[name] is None and getattr(ev, name) is not None:
            run[name] = getattr(ev, name)


def _start_run(run: dict[str, Any], ts: datetime) -> None:
    """A start older than the one known; a run already ended by an earlier batch had its
    duration computed from a later event, so a computed one is computed again."""
    ended = run["ended_at"]
    before = run["started_at"] or run.get("_loaded_start")
    run["started_at"] = ts
    if ended is None or before is None or run.get("_ended_now"):
        return
    if run["duration_ms"] == _elapsed_ms(before, ended):
        run["duration_ms"] = _elapsed_ms(ts, ended)


def _elapsed_ms(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000))


def _end_run(run: dict[str, Any], ev: Event) -> None:
    if run["ended_at"] is not None and ev.ts < run["ended_at"]:
        return  # an older terminal event arriving late does not override the newer one
    run["ended_at"] = ev.ts
    run["status"] = "completed" if ev.event_type == "task_completed" else "failed"
    start = run["started_at"] or run["first_event_at"]
    computed = _elapsed_ms(start, ev.ts)
    run["duration_ms"] = ev.duration_ms if ev.duration_ms is not None else computed
    payload = ev.payload or {}
    exc_type = payload.get("exception_type")
    exc_msg = payload.get("exception_message")
    run["exception_type"] = str(exc_type)[:256] if exc_type is not None else None
    run["exception_message"] = str(exc_msg) if exc_msg is not None else None
    run["_ended_now"] = ev.event_id


def _apply_llm_calls(
    tenant_id: str,
    agent_id: str,
    evs: list[Event],
    runs: dict[RunKey, dict[str, Any]],
    prices: Callable[[], dict[str, PriceOverride]],
    effects: TaskEffects,
    out: WriteBuffer,
) -> None:
    for ev in evs:
        if ev.payload_kind != "llm_call":
            continue
        data = ev.data
        tin, tout = as_int(data.get("tokens_in")), as_int(data.get("tokens_out"))
        reported = data.get("cost")
        reported = float(reported) if isinstance(reported, int | float) else None
        model = clip_text(data.get("model"), 256)
        cost = llm_call_cost(
            model=model,
            tokens_in=tin,
            tokens_out=tout,
            reported=reported,
            overrides=prices() if reported is None else None,
        )
        out.add(
            _INSERT_LLM_CALLS,
            {
                "tenant_id": tenant_id,
                "event_id": ev.event_id,
                "agent_id": agent_id,
                "project_id": ev.project_id,
                "task_id": ev.task_id,
                "task_run_id": ev.task_run_id or ("" if ev.task_id else None),
                "task_type": ev.task_type,
                "action_id": ev.action_id,
                "ts": ev.ts,
                "name": clip_text(data.get("name"), 512),
                "model": model,
                "tokens_in": tin,
                "tokens_out": tout,
                "cost_usd": cost.cost_usd,
                "cost_source": cost.source,
                "matched_model": cost.matched_model,
                "duration_ms": as_int(data.get("duration_ms")),
                "prompt_preview": clip_text(data.get("prompt_preview"), PREVIEW_CHARS),
                "response_preview": clip_text(data.get("response_preview"), PREVIEW_CHARS),
            },
        )
        effects.llm[ev.event_id] = (cost.cost_usd, tin or 0, tout or 0)
        run = runs.get(ev.run_key) if ev.run_key else None
        if run is not None:
            run["llm_call_count"] += 1
            run["tokens_in"] += tin or 0
            run["tokens_out"] += tout or 0
            if cost.cost_usd is None:
                run["cost_unknown_calls"] += 1
            else:
                run["cost_usd"] += cost.cost_usd


def _apply_actions(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    scoped: list[Event],
    runs: dict[RunKey, dict[str, Any]],
    out: WriteBuffer,
) -> None:
    action_evs = [ev for ev in scoped if ev.event_type.startswith("action_") and ev.action_id]
    if not action_evs:
        return
    ids = {ev.action_id for ev in action_evs}
    existing = {
        r["action_id"]: dict(r)
        for r in conn.execute(
            _SELECT_ACTIONS,
            {"tenant_id": tenant_id, "agent_id": agent_id, "action_ids": list(ids)},
        ).mappings()
    }
    new: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    for ev in action_evs:
        aid = ev.action_id
        assert aid is not None
        row = new.get(aid) or changed.get(aid) or existing.get(aid)
        if row is None:
            row = new[aid] = {
                "tenant_id": tenant_id,
                "agent_id": agent_id,
                "action_id": aid,
                "parent_action_id": ev.parent_action_id,
                "task_id": ev.task_id,
                "task_run_id": ev.task_run_id or "",
                "name": None,
                "function": None,
                "started_at": None,
                "ended_at": None,
                "status": "running",
                "duration_ms": None,
                "exception_type": None,
                "exception_message": None,
            }
            runs[ev.run_key]["action_count"] += 1  # type: ignore[index]
        elif aid not in new:
            changed[aid] = row
        payload = ev.payload or {}
        row["parent_action_id"] = row["parent_action_id"] or ev.parent_action_id
        row["name"] = row["name"] or clip_text(payload.get("action_name"), 512)
        row["function"] = row["function"] or clip_text(payload.get("function"), 512)
        if ev.event_type == "action_started":
            if row["started_at"] is None or ev.ts < row["started_at"]:
                row["started_at"] = ev.ts
            continue
        if ev.event_type == "action_failed":
            runs[ev.run_key]["error_count"] += 1  # type: ignore[index]
        if row["ended_at"] is None or ev.ts >= row["ended_at"]:
            row["ended_at"] = ev.ts
            row["status"] = "completed" if ev.event_type == "action_completed" else "failed"
            start = row["started_at"]
            computed = int((ev.ts - start).total_seconds() * 1000) if start else None
            row["duration_ms"] = ev.duration_ms if ev.duration_ms is not None else computed
            row["exception_type"] = clip_text(payload.get("exception_type"), 256)
            row["exception_message"] = clip_text(payload.get("exception_message"), 10_000)
    out.extend(_INSERT_ACTIONS, list(new.values()))
    out.extend(
        _UPDATE_ACTIONS,
        [
            {"k_tenant": tenant_id, "k_agent": agent_id, "k_action": aid}
            | {f"v_{c}": row[c] for c in ACTION_COLUMNS}
            for aid, row in changed.items()
        ],
    )


def _write_runs(runs: dict[RunKey, dict[str, Any]], out: WriteBuffer) -> None:
    for r in runs.values():
        if r["_new"]:
            out.new_runs.append(r)
        elif r["_dirty"]:
            out.add(_UPDATE_RUNS, {"k_id": r["id"]} | {f"v_{c}": r[c] for c in RUN_MUTABLE})
