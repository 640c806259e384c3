"""Helpers shared by the write-side tests: tenants with keys, and wire-event builders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


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
