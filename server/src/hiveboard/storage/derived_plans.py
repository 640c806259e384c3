"""Derived plans: each revision's steps, and every step's latest state.

Plan events are rare next to LLM calls and actions, and a step update may read the
newest revision a ``plan_created`` of the same batch just wrote, so they are written in
event order; the statements are built once (``Prepared``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.sql import Select

from hiveboard.ingest.model import Event
from hiveboard.storage.derived_values import as_int, clip_text
from hiveboard.storage.dialect import Prepared
from hiveboard.storage.tables import plan_steps, plans

_PLAN_KEY = ["tenant_id", "agent_id", "task_id", "task_run_id", "revision"]


def _insert_plan(ins: Any) -> Any:
    return ins(plans).on_conflict_do_nothing(index_elements=_PLAN_KEY)


def _insert_planned_step(ins: Any) -> Any:
    stmt = ins(plan_steps)
    return stmt.on_conflict_do_update(
        index_elements=[*_PLAN_KEY, "step_index"],
        set_={"description": stmt.excluded.description},
    )


def _upsert_step_state(ins: Any) -> Any:
    stmt = ins(plan_steps)
    t, ex = plan_steps.c, stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[*_PLAN_KEY, "step_index"],
        set_={
            "state": ex.state,
            "updated_at": ex.updated_at,
            "turns": func.coalesce(ex.turns, t.turns),
            "tokens": func.coalesce(ex.tokens, t.tokens),
        },
        # Newest state per step wins; the "pending" placeholder always yields.
        where=(t.updated_at <= ex.updated_at) | (t.state == "pending"),
    )


_INSERT_PLAN = Prepared(_insert_plan)
_INSERT_PLANNED_STEP = Prepared(_insert_planned_step)
_UPSERT_STEP_STATE = Prepared(_upsert_step_state)
_NEWEST_REVISION: Select[Any] = select(func.max(plans.c.revision)).where(
    plans.c.tenant_id == bindparam("tenant_id"),
    plans.c.agent_id == bindparam("agent_id"),
    plans.c.task_id == bindparam("task_id"),
    plans.c.task_run_id == bindparam("task_run_id"),
)


def apply_plans(conn: Connection, tenant_id: str, agent_id: str, scoped: list[Event]) -> None:
    for ev in scoped:
        if ev.payload_kind == "plan_created":
            _plan_created(conn, tenant_id, agent_id, ev)
        elif ev.payload_kind == "plan_step":
            _plan_step(conn, tenant_id, agent_id, ev)


def _plan_created(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    sent = data.get("steps")
    steps: list[Any] = sent if isinstance(sent, list) else []
    revision = as_int(data.get("revision")) or 1
    key = {"tenant_id": tenant_id, "agent_id": agent_id, "task_id": ev.task_id,
           "task_run_id": ev.task_run_id or "", "revision": revision}  # fmt: skip
    conn.execute(
        _INSERT_PLAN(conn),
        [{**key, "created_at": ev.ts, "total_steps": len(steps), "steps": steps}],
    )
    rows = []
    for pos, step in enumerate(steps):
        step = step if isinstance(step, dict) else {"description": str(step)}
        index = as_int(step.get("index"))
        rows.append(
            {
                **key,
                "step_index": index if index is not None else pos,
                "description": clip_text(step.get("description"), 10_000),
                "state": "pending",
                "updated_at": ev.ts,
            }
        )
    # One row per step index (the last wins, as it did when each step was its own
    # statement): a multi-row upsert must not touch a row twice.
    unique = list({r["step_index"]: r for r in rows}.values())
    if unique:
        conn.execute(_INSERT_PLANNED_STEP(conn), unique)


def _plan_step(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    run_id = ev.task_run_id or ""
    revision = as_int(data.get("plan_revision"))
    if revision is None:
        revision = (
            conn.execute(
                _NEWEST_REVISION,
                {"tenant_id": tenant_id, "agent_id": agent_id, "task_id": ev.task_id,
                 "task_run_id": run_id},
            ).scalar()
            or 1
        )  # fmt: skip
    state = data.get("action") if data.get("action") in (
        "started", "completed", "failed", "skipped") else "started"  # fmt: skip
    row = {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "task_id": ev.task_id,
        "task_run_id": run_id,
        "revision": revision,
        "step_index": data["step_index"],
        "description": clip_text(data.get("description"), 10_000) or ev.summary,
        "state": state,
        "updated_at": ev.ts,
        "turns": as_int(data.get("turns")),
        "tokens": as_int(data.get("tokens")),
    }
    conn.execute(_UPSERT_STEP_STATE(conn), [row])
