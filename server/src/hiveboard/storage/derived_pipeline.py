"""Derived pipeline state (queue, TODOs, scheduled work, issues) and time-bucket rollups.

"Latest" rows are upserts guarded by ``WHERE stored.ts <= new.ts``, so an older event
delivered late cannot overwrite newer state. Rollups are additive upserts: each new event
adds to its minute bucket exactly once, in any order.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from hiveboard.ingest.model import Event
from hiveboard.storage import derived_hourly
from hiveboard.storage.derived_tasks import TaskEffects
from hiveboard.storage.dialect import insert
from hiveboard.storage.tables import (
    ROLLUP_COUNTERS,
    issues,
    queue_snapshots,
    rollups,
    scheduled_items,
    todos,
)

CLOSING_TODO_ACTIONS = frozenset({"completed", "dismissed"})
ISSUE_STATES = {"reported": "open", "resolved": "resolved", "dismissed": "dismissed"}
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


@dataclass
class PipelineEffects:
    issues_touched: bool = False


def apply(
    conn: Connection, tenant_id: str, agent_id: str, evs: list[Event], tasks: TaskEffects
) -> PipelineEffects:
    effects = PipelineEffects()
    issue_events = []
    for ev in evs:
        kind = ev.payload_kind if ev.event_type == "custom" else None
        if kind == "queue_snapshot":
            _queue(conn, tenant_id, agent_id, ev)
        elif kind == "scheduled":
            _scheduled(conn, tenant_id, agent_id, ev)
        elif kind == "todo":
            _todo(conn, tenant_id, agent_id, ev)
        elif kind == "issue":
            issue_events.append(ev)
    if issue_events:
        _issues(conn, tenant_id, agent_id, issue_events)
        effects.issues_touched = True
    _rollups(conn, tenant_id, agent_id, evs, tasks)
    derived_hourly.apply(conn, tenant_id, agent_id, evs, tasks)
    return effects


def _newer_wins(
    conn: Connection, table: Any, row: dict[str, Any], ts_col: str, key: list[str]
) -> None:
    stmt = insert(conn, table).values(**row)
    set_ = {c: stmt.excluded[c] for c in row if c not in key}
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=key,
            set_=set_,
            where=table.c[ts_col] <= stmt.excluded[ts_col],
        )
    )


def _queue(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    oldest = data.get("oldest_age_seconds")
    row = {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "ts": ev.ts,
        "depth": data["depth"],
        "oldest_age_seconds": float(oldest) if isinstance(oldest, int | float) else None,
        "items": data.get("items") if isinstance(data.get("items"), list) else None,
        "processing": data.get("processing") if isinstance(data.get("processing"), dict) else None,
    }
    _newer_wins(conn, queue_snapshots, row, "ts", ["tenant_id", "agent_id"])


def _scheduled(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    items = ev.data.get("items")
    row = {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "ts": ev.ts,
        "items": items if isinstance(items, list) else [],
    }
    _newer_wins(conn, scheduled_items, row, "ts", ["tenant_id", "agent_id"])


def _str(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value)[:limit]


def _todo(conn: Connection, tenant_id: str, agent_id: str, ev: Event) -> None:
    data = ev.data
    todo_id = _str(data.get("todo_id"), 256) or f"summary:{normalize_summary(ev.summary)}"[:256]
    action = _str(data.get("action"), 16) or "created"
    row = {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "todo_id": todo_id,
        "summary": ev.summary,
        "last_action": action,
        "is_open": action not in CLOSING_TODO_ACTIONS,
        "priority": _str(data.get("priority"), 64),
        "source": _str(data.get("source"), 256),
        "context": data.get("context"),
        "due_by": _str(data.get("due_by"), 64),
        "created_at": ev.ts,
        "updated_at": ev.ts,
    }
    stmt = insert(conn, todos).values(**row)
    ex = stmt.excluded
    key = ["tenant_id", "agent_id", "todo_id"]
    set_ = {c: ex[c] for c in row if c not in (*key, "created_at")}
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=key, set_=set_, where=todos.c.updated_at <= ex.updated_at
        )
    )
    # created_at is the earliest sighting, whatever order events arrive in.
    conn.execute(
        todos.update()
        .where(
            todos.c.tenant_id == tenant_id,
            todos.c.agent_id == agent_id,
            todos.c.todo_id == todo_id,
            todos.c.created_at > ev.ts,
        )
        .values(created_at=ev.ts)
    )


def normalize_summary(summary: str | None) -> str:
    """Group recurring issues without an id: case, spacing and numbers do not matter."""
    text = (summary or "").lower().strip()
    return _SPACE.sub(" ", _DIGITS.sub("#", text))[:500]


def _issues(conn: Connection, tenant_id: str, agent_id: str, evs: list[Event]) -> None:
    keyed = []
    for ev in evs:
        issue_id = _str(ev.data.get("issue_id"), 256)
        key = issue_id or f"summary:{normalize_summary(ev.summary)}"
        keyed.append((key, issue_id, ev))
    existing = {
        r["issue_key"]: dict(r)
        for r in conn.execute(
            select(issues).where(
                issues.c.tenant_id == tenant_id,
                issues.c.agent_id == agent_id,
                issues.c.issue_key.in_({k for k, _, _ in keyed}),
            )
        ).mappings()
    }
    new: dict[str, dict[str, Any]] = {}
    for key, issue_id, ev in keyed:
        data = ev.data
        action = data.get("action") if data.get("action") in ISSUE_STATES else "reported"
        given = data.get("occurrence_count")
        given = given if isinstance(given, int) and not isinstance(given, bool) else None
        row = new.get(key) or existing.get(key)
        if row is None:
            row = new[key] = {
                "tenant_id": tenant_id,
                "agent_id": agent_id,
                "issue_key": key,
                "issue_id": issue_id,
                "summary": ev.summary,
                "severity": _str(data.get("severity"), 16) or "medium",
                "category": _str(data.get("category"), 256),
                "context": data.get("context"),
                "state": ISSUE_STATES[action],
                "occurrence_count": 0,
                "first_seen_at": ev.ts,
                "last_seen_at": ev.ts,
                "updated_at": ev.ts,
            }
        row["_dirty"] = True
        if action == "reported":
            row["occurrence_count"] = max(row["occurrence_count"] + 1, given or 0)
            row["first_seen_at"] = min(row["first_seen_at"], ev.ts)
            row["last_seen_at"] = max(row["last_seen_at"], ev.ts)
        if ev.ts >= row["updated_at"]:
            row["updated_at"] = ev.ts
            row["state"] = ISSUE_STATES[action]
            if action == "reported":
                row["summary"] = ev.summary or row["summary"]
                row["severity"] = _str(data.get("severity"), 16) or row["severity"]
                row["category"] = _str(data.get("category"), 256) or row["category"]
                if data.get("context") is not None:
                    row["context"] = data.get("context")
    cols = [c.name for c in issues.columns]
    if new:
        conn.execute(issues.insert(), [{c: r[c] for c in cols} for r in new.values()])
    for key, row in existing.items():
        if row.get("_dirty"):
            conn.execute(
                issues.update()
                .where(
                    issues.c.tenant_id == tenant_id,
                    issues.c.agent_id == agent_id,
                    issues.c.issue_key == key,
                )
                .values(
                    {c: row[c] for c in cols if c not in ("tenant_id", "agent_id", "issue_key")}
                )
            )


def bucket_of(ts: datetime) -> datetime:
    """The start of the minute ``ts`` falls in (rollup bucket)."""
    return ts.replace(second=0, microsecond=0)


def _rollups(
    conn: Connection, tenant_id: str, agent_id: str, evs: list[Event], tasks: TaskEffects
) -> None:
    buckets: dict[datetime, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(ROLLUP_COUNTERS, 0)
    )
    for ev in evs:
        b = buckets[bucket_of(ev.ts)]
        b["events"] += 1
        if ev.severity == "error":
            b["errors"] += 1
        if ev.event_type == "task_started":
            b["tasks_started"] += 1
        elif ev.event_id in tasks.durations:
            b["tasks_completed" if ev.event_type == "task_completed" else "tasks_failed"] += 1
            duration = tasks.durations[ev.event_id]
            if duration is not None:
                b["task_duration_ms_sum"] += duration
                b["task_duration_count"] += 1
        llm = tasks.llm.get(ev.event_id)
        if llm is not None:
            cost, tin, tout = llm
            b["llm_calls"] += 1
            b["tokens_in"] += tin
            b["tokens_out"] += tout
            b["cost_usd"] += cost or 0.0
    rows = [
        {"tenant_id": tenant_id, "agent_id": agent_id, "bucket": bucket, **counters}
        for bucket, counters in buckets.items()
    ]
    stmt = insert(conn, rollups)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "agent_id", "bucket"],
            set_={c: rollups.c[c] + stmt.excluded[c] for c in ROLLUP_COUNTERS},
        ),
        rows,
    )
