"""Derived plans: each revision's steps, and every step's latest state."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from hiveboard.ingest.model import Event
from hiveboard.storage.derived_values import as_int, clip_text
from hiveboard.storage.dialect import insert
from hiveboard.storage.tables import plan_steps, plans


def apply_plans(conn: Connection, tenant_id: str, agent_id: str, scoped: list[Event]) -> None:
    for ev in scoped:
        if ev.payload_kind == "plan_created":
            _plan_created(conn, tenant_id, agent_id, ev)
        elif ev.payload_kind == "plan_step":
            _plan_step(conn, tenant_id, agent_id, ev)


def _plan_created(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    revision = as_int(data.get("revision")) or 1
    key = {"tenant_id": tenant_id, "agent_id": agent_id, "task_id": ev.task_id,
           "task_run_id": ev.task_run_id or "", "revision": revision}  # fmt: skip
    conn.execute(
        insert(conn, plans)
        .values(**key, created_at=ev.ts, total_steps=len(steps), steps=steps)
        .on_conflict_do_nothing(index_elements=list(key))
    )
    for pos, step in enumerate(steps):
        step = step if isinstance(step, dict) else {"description": str(step)}
        index = as_int(step.get("index"))
        stmt = insert(conn, plan_steps).values(
            **key,
            step_index=index if index is not None else pos,
            description=clip_text(step.get("description"), 10_000),
            state="pending",
            updated_at=ev.ts,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[*key, "step_index"],
                set_={"description": stmt.excluded.description},
            )
        )


def _plan_step(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    run_id = ev.task_run_id or ""
    revision = as_int(data.get("plan_revision"))
    if revision is None:
        revision = (
            conn.execute(
                select(func.max(plans.c.revision)).where(
                    plans.c.tenant_id == tenant_id,
                    plans.c.agent_id == agent_id,
                    plans.c.task_id == ev.task_id,
                    plans.c.task_run_id == run_id,
                )
            ).scalar()
            or 1
        )
    state = data.get("action") if data.get("action") in (
        "started", "completed", "failed", "skipped") else "started"  # fmt: skip
    stmt = insert(conn, plan_steps).values(
        tenant_id=tenant_id,
        agent_id=agent_id,
        task_id=ev.task_id,
        task_run_id=run_id,
        revision=revision,
        step_index=data["step_index"],
        description=clip_text(data.get("description"), 10_000) or ev.summary,
        state=state,
        updated_at=ev.ts,
        turns=as_int(data.get("turns")),
        tokens=as_int(data.get("tokens")),
    )
    t = plan_steps.c
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                "tenant_id",
                "agent_id",
                "task_id",
                "task_run_id",
                "revision",
                "step_index",
            ],
            set_={
                "state": stmt.excluded.state,
                "updated_at": stmt.excluded.updated_at,
                "turns": func.coalesce(stmt.excluded.turns, t.turns),
                "tokens": func.coalesce(stmt.excluded.tokens, t.tokens),
            },
            # Newest state per step wins; the "pending" placeholder always yields.
            where=(t.updated_at <= stmt.excluded.updated_at) | (t.state == "pending"),
        )
    )
