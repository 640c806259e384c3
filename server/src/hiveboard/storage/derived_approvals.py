"""Derived approvals and escalations: requests, their answers and how long each waited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from hiveboard.ingest.model import Event
from hiveboard.storage.derived_values import RunKey
from hiveboard.storage.dialect import insert
from hiveboard.storage.tables import approvals


def apply_approvals(
    conn: Connection, tenant_id: str, agent_id: str, evs: list[Event]
) -> set[RunKey]:
    """Record requests/escalations and match receipts; return the runs whose count changed."""
    relevant = [
        ev for ev in evs
        if ev.event_type in ("approval_requested", "approval_received", "escalated")
    ]  # fmt: skip
    if not relevant:
        return set()
    pending = [
        dict(r)
        for r in conn.execute(
            select(approvals).where(
                approvals.c.tenant_id == tenant_id,
                approvals.c.agent_id == agent_id,
                approvals.c.state == "pending",
            )
        ).mappings()
    ]
    inserts: list[dict[str, Any]] = []
    touched: set[RunKey] = set()
    for ev in relevant:
        run_key = ev.run_key
        if ev.event_type in ("approval_requested", "escalated"):
            row = {
                "tenant_id": tenant_id,
                "event_id": ev.event_id,
                "kind": "approval" if ev.event_type == "approval_requested" else "escalation",
                "agent_id": agent_id,
                "task_id": ev.task_id,
                "task_run_id": ev.task_run_id or ("" if ev.task_id else None),
                "summary": ev.summary,
                "payload": ev.payload,
                "requested_at": ev.ts,
                "received_at": None,
                "received_event_id": None,
                "wait_ms": None,
                "state": "pending" if ev.event_type == "approval_requested" else "open",
            }
            inserts.append(row)
            if row["kind"] == "approval":
                pending.append(row)
        else:
            match = _match_request(pending, ev)
            if match is None:
                continue  # a receipt for a request we never saw; the raw event is kept
            match["state"] = "received"
            match["received_at"] = ev.ts
            match["received_event_id"] = ev.event_id
            match["wait_ms"] = max(0, int((ev.ts - match["requested_at"]).total_seconds() * 1000))
            pending.remove(match)
            if match not in inserts:
                conn.execute(
                    update(approvals)
                    .where(
                        approvals.c.tenant_id == tenant_id,
                        approvals.c.event_id == match["event_id"],
                    )
                    .values(
                        state="received",
                        received_at=ev.ts,
                        received_event_id=ev.event_id,
                        wait_ms=match["wait_ms"],
                    )
                )
            if match["task_id"] is not None:
                touched.add((match["task_id"], match["task_run_id"] or ""))
        if run_key is not None:
            touched.add(run_key)
    if inserts:
        conn.execute(
            insert(conn, approvals).on_conflict_do_nothing(
                index_elements=["tenant_id", "event_id"]
            ),
            inserts,
        )
    return touched


def _match_request(pending: list[dict[str, Any]], ev: Event) -> dict[str, Any] | None:
    if ev.parent_event_id:
        for row in pending:
            if row["event_id"] == ev.parent_event_id:
                return row
    same_run = [
        row for row in pending
        if row["task_id"] == ev.task_id and (row["task_run_id"] or "") == (ev.task_run_id or "")
    ]  # fmt: skip
    return min(same_run, key=lambda r: r["requested_at"]) if same_run else None


def recount_pending(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    runs: dict[RunKey, dict[str, Any]],
    keys: set[RunKey],
) -> None:
    counts = {
        (r.task_id, r.task_run_id or ""): r.n
        for r in conn.execute(
            select(approvals.c.task_id, approvals.c.task_run_id, func.count().label("n"))
            .where(
                approvals.c.tenant_id == tenant_id,
                approvals.c.agent_id == agent_id,
                approvals.c.state == "pending",
                approvals.c.task_id.in_({k[0] for k in keys}),
            )
            .group_by(approvals.c.task_id, approvals.c.task_run_id)
        )
    }
    for key in keys:
        run = runs.get(key)
        if run is not None:
            run["pending_approvals"] = counts.get(key, 0)
            run["_dirty"] = True


def close_for_ended_runs(
    conn: Connection, tenant_id: str, agent_id: str, ended: set[RunKey]
) -> set[RunKey]:
    """A run that ended cannot receive its answer any more: its open requests close.

    Pending approvals become ``expired`` and open escalations ``closed``, so they stop
    counting as waiting in the pipeline. Returns the runs whose counts changed.
    """
    changed: set[RunKey] = set()
    for task_id, task_run_id in ended:
        in_run = (
            (approvals.c.tenant_id == tenant_id)
            & (approvals.c.agent_id == agent_id)
            & (approvals.c.task_id == task_id)
            & (func.coalesce(approvals.c.task_run_id, "") == task_run_id)
        )
        closed = conn.execute(
            update(approvals).where(in_run, approvals.c.state == "pending").values(state="expired")
        ).rowcount
        conn.execute(
            update(approvals).where(in_run, approvals.c.state == "open").values(state="closed")
        )
        if closed:
            changed.add((task_id, task_run_id))
    return changed
