"""Derived approvals and escalations: requests, their answers and how long each waited.

Written in event order (a receipt may answer a request of the same batch, and the
pending counts are re-read after the writes); statements are built once (``Prepared``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.sql import Select

from hiveboard.ingest.model import Event
from hiveboard.storage.derived_values import RunKey
from hiveboard.storage.dialect import Prepared
from hiveboard.storage.tables import approvals, events

_A = approvals.c
_SELECT_PENDING: Select[Any] = select(approvals).where(
    _A.tenant_id == bindparam("tenant_id"),
    _A.agent_id == bindparam("agent_id"),
    _A.state == "pending",
)
_RECEIVED = (
    update(approvals)
    .where(_A.tenant_id == bindparam("k_tenant"), _A.event_id == bindparam("k_event"))
    .values(
        state="received",
        received_at=bindparam("v_at"),
        received_event_id=bindparam("v_event"),
        wait_ms=bindparam("v_wait"),
    )
)
_INSERT = Prepared(
    lambda ins: ins(approvals).on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
)
_COUNT_PENDING: Select[Any] = (
    select(_A.task_id, _A.task_run_id, func.count().label("n"))
    .where(
        _A.tenant_id == bindparam("tenant_id"),
        _A.agent_id == bindparam("agent_id"),
        _A.state == "pending",
        _A.task_id.in_(bindparam("task_ids", expanding=True)),
    )
    .group_by(_A.task_id, _A.task_run_id)
)
_E = events.c
# Receipts stored earlier that matched no request: a retry may deliver their request late.
_UNMATCHED_RECEIPTS: Select[Any] = select(
    _E.event_id, _E.ts, _E.task_id, _E.task_run_id, _E.parent_event_id
).where(
    _E.tenant_id == bindparam("tenant_id"),
    _E.agent_id == bindparam("agent_id"),
    _E.ts >= bindparam("since"),
    _E.event_type == "approval_received",
    ~select(_A.event_id)
    .where(
        _A.tenant_id == _E.tenant_id,
        _A.agent_id == _E.agent_id,
        _A.received_event_id == _E.event_id,
    )
    .exists(),
)
_IN_RUN = (
    (_A.tenant_id == bindparam("k_tenant"))
    & (_A.agent_id == bindparam("k_agent"))
    & (_A.task_id == bindparam("k_task"))
    & (func.coalesce(_A.task_run_id, "") == bindparam("k_run"))
)
_EXPIRE = update(approvals).where(_IN_RUN, _A.state == "pending").values(state="expired")
_CLOSE = update(approvals).where(_IN_RUN, _A.state == "open").values(state="closed")


def apply_approvals(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    evs: list[Event],
    seen_before: datetime | None = None,
) -> set[RunKey]:
    """Record requests/escalations and match receipts; return the runs whose count changed.

    ``seen_before`` is the agent's newest event time before this batch: a request no newer
    than it may be a retry arriving after its answer, which is then looked up (only then,
    so in-order delivery costs no extra statement).
    """
    relevant = [
        ev for ev in evs
        if ev.event_type in ("approval_requested", "approval_received", "escalated")
    ]  # fmt: skip
    if not relevant:
        return set()
    pending = [
        dict(r)
        for r in conn.execute(
            _SELECT_PENDING, {"tenant_id": tenant_id, "agent_id": agent_id}
        ).mappings()
    ]
    inserts: list[dict[str, Any]] = []
    touched: set[RunKey] = set()
    orphans = _unmatched_receipts(conn, tenant_id, agent_id, relevant, seen_before)
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
            answer = _match_receipt(orphans, row) if row["kind"] == "approval" else None
            if answer is not None:
                orphans.remove(answer)
                _answer(row, answer["event_id"], answer["ts"])
            elif row["kind"] == "approval":
                pending.append(row)
        else:
            match = _match_request(pending, ev)
            if match is None:
                continue  # a receipt for a request we never saw; the raw event is kept
            _answer(match, ev.event_id, ev.ts)
            pending.remove(match)
            if match not in inserts:
                conn.execute(
                    _RECEIVED,
                    {"k_tenant": tenant_id, "k_event": match["event_id"], "v_at": ev.ts,
                     "v_event": ev.event_id, "v_wait": match["wait_ms"]},
                )  # fmt: skip
            if match["task_id"] is not None:
                touched.add((match["task_id"], match["task_run_id"] or ""))
        if run_key is not None:
            touched.add(run_key)
    if inserts:
        conn.execute(_INSERT(conn), inserts)
    return touched


def _answer(request: dict[str, Any], event_id: str, at: datetime) -> None:
    request["state"] = "received"
    request["received_at"] = at
    request["received_event_id"] = event_id
    request["wait_ms"] = max(0, int((at - request["requested_at"]).total_seconds() * 1000))


def _unmatched_receipts(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    relevant: list[Event],
    seen_before: datetime | None,
) -> list[dict[str, Any]]:
    late = [
        ev.ts for ev in relevant
        if ev.event_type == "approval_requested" and seen_before is not None
        and ev.ts <= seen_before
    ]  # fmt: skip
    if not late:
        return []
    own = {ev.event_id for ev in relevant}
    params = {"tenant_id": tenant_id, "agent_id": agent_id, "since": min(late)}
    found = conn.execute(_UNMATCHED_RECEIPTS, params).mappings()
    return [dict(r) for r in found if r["event_id"] not in own]


def _match_receipt(
    receipts: list[dict[str, Any]], request: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored receipt that answers a late request: the one linked to it, else the
    earliest of its run sent after it and not linked to another request."""
    for r in receipts:
        if r["parent_event_id"] == request["event_id"]:
            return r
    same_run = [
        r for r in receipts
        if not r["parent_event_id"] and r["task_id"] == request["task_id"]
        and (r["task_run_id"] or "") == (request["task_run_id"] or "")
        and r["ts"] >= request["requested_at"]
    ]  # fmt: skip
    return min(same_run, key=lambda r: r["ts"]) if same_run else None


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
            _COUNT_PENDING,
            {
                "tenant_id": tenant_id,
                "agent_id": agent_id,
                "task_ids": sorted({k[0] for k in keys}),
            },
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
        key = {"k_tenant": tenant_id, "k_agent": agent_id, "k_task": task_id, "k_run": task_run_id}
        closed = conn.execute(_EXPIRE, key).rowcount
        conn.execute(_CLOSE, key)
        if closed:
            changed.add((task_id, task_run_id))
    return changed
