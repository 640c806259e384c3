"""Helpers shared by the write-side tests: tenants with keys, wire-event builders, and
ingest/read-back through a storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.base import IngestResult
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import agents
from sqlalchemy import select


@dataclass
class TenantKeys:
    tenant_id: str
    live: str
    read: str
    test: str

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.live}"}


# -- event builders -------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def ev(event_type: str, at: float = 0.0, **fields: Any) -> dict[str, Any]:
    """One wire event ``at`` seconds after T0 (override ``timestamp`` to send raw text)."""
    out: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "timestamp": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
        "event_type": event_type,
    }
    out.update(fields)
    return out


def body(*events: dict[str, Any], agent_id: str = "agent-1", **envelope: Any) -> dict[str, Any]:
    return {"envelope": {"agent_id": agent_id, **envelope}, "events": list(events)}


def llm(at: float, model: str = "claude-sonnet-4", **data: Any) -> dict[str, Any]:
    fields = {k: data.pop(k) for k in ("task_id", "action_id", "task_run_id") if k in data}
    payload = {
        "kind": "llm_call",
        "summary": f"call {model}",
        "data": {"name": "n", "model": model, **data},
    }
    return ev("custom", at, payload=payload, **fields)


# -- through a storage ----------------------------------------------------------------


def ingest(storage: SqlStorage, tenant_id: str, b: dict[str, Any], at: float = 0) -> IngestResult:
    """Validate and store ``b`` as if received ``at`` seconds after ``T0``."""
    now = T0 + timedelta(seconds=at)
    return storage.ingest(tenant_id, validate_batch(b, now=now), now=now)


def rows(storage: SqlStorage, table: Any, **where: Any) -> list[dict[str, Any]]:
    """The rows of ``table`` whose columns equal ``where``, as dicts."""
    stmt = select(table)
    for k, v in where.items():
        stmt = stmt.where(table.c[k] == v)
    with storage.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def agent(storage: SqlStorage, tenant_id: str, agent_id: str = "agent-1") -> dict[str, Any]:
    """One agent's derived row."""
    return rows(storage, agents, tenant_id=tenant_id, agent_id=agent_id)[0]
