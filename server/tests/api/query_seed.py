"""Seeding helpers for the Query API tests (the ``api`` fixture is in query_fixtures.py).

Data is seeded the way production gets it: real ingest bodies POSTed to ``/v1/ingest``
of the same app, so the read side is tested against whatever the write side derives.
Two tenants (Alice and Bob) make isolation checks obvious.  The app's clock is pinned to
``NOW`` (``app.state.clock``), so ages and wait times are deterministic.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hiveboard.storage.base import Storage

# Timestamps must be near the real clock: ingest rejects events far in the future, and
# derives status from the real clock (events older than the stuck threshold mean offline).
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(minutes=10)
LONG_LIVED = {"payload": {"data": {"heartbeat_interval": 30, "stuck_threshold": 3600}}}
"""``agent_registered`` fields that keep a test agent from going offline or stuck."""


def at(minutes: float) -> str:
    """ISO timestamp ``minutes`` after T0, as the SDK sends it."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def ev(event_type: str, minutes: float, **fields: Any) -> dict[str, Any]:
    """One wire-format event with a fresh id."""
    return {
        "event_id": fields.pop("event_id", None) or str(uuid.uuid4()),
        "timestamp": at(minutes),
        "event_type": event_type,
        **fields,
    }


def custom(minutes: float, kind: str, summary: str, data: Any, **fields: Any) -> dict[str, Any]:
    """A ``custom`` event of a well-known payload kind."""
    return ev("custom", minutes, payload={"kind": kind, "summary": summary, "data": data}, **fields)


def llm(minutes: float, model: str, **data: Any) -> dict[str, Any]:
    task_fields = {
        k: data.pop(k)
        for k in ("task_id", "task_run_id", "action_id", "task_type", "project_id")
        if k in data
    }
    return ev(
        "custom",
        minutes,
        payload={
            "kind": "llm_call",
            "summary": f"call {model}",
            "data": {"name": data.pop("name", "step"), "model": model, **data},
        },
        **task_fields,
    )


@dataclass
class Tenant:
    id: str
    ingest_key: str
    read_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_key}"}


class Api:
    """The app under test plus helpers to seed it through ``/v1/ingest``."""

    def __init__(self, client: TestClient, storage: Storage) -> None:
        self.client = client
        self.storage = storage

    def tenant(self, name: str) -> Tenant:
        tenant = self.storage.create_tenant(name)
        _, ingest_key = self.storage.create_api_key(tenant.id, "live")
        _, read_key = self.storage.create_api_key(tenant.id, "read")
        return Tenant(tenant.id, ingest_key, read_key)

    def ingest(
        self, tenant: Tenant, agent_id: str, events: list[dict[str, Any]], **envelope: Any
    ) -> dict[str, Any]:
        body = {"envelope": {"agent_id": agent_id, **envelope}, "events": events}
        resp = self.client.post(
            "/v1/ingest", json=body, headers={"Authorization": f"Bearer {tenant.ingest_key}"}
        )
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def get(self, tenant: Tenant, path: str, **params: Any) -> Any:
        resp = self.client.get(path, params=params, headers=tenant.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def get_status(self, tenant: Tenant | None, path: str, **params: Any) -> tuple[int, Any]:
        headers = tenant.headers if tenant else {}
        resp = self.client.get(path, params=params, headers=headers)
        return resp.status_code, resp.json()


def seed_fleet(api: Api, tenant: Tenant) -> None:
    """A small fleet: a sales agent with a completed and a failed run, and a support
    agent in staging with a queue, a TODO, an open issue and a pending approval."""
    register = LONG_LIVED
    run1 = {"task_id": "lead-1", "task_run_id": "r1", "task_type": "qualify", "project_id": "crm"}
    a1 = {**run1, "action_id": "a1"}
    api.ingest(
        tenant,
        "lead-qualifier",
        [
            ev("agent_registered", 0, **register),
            ev("heartbeat", 0.5),
            ev("task_started", 1, **run1),
            ev("action_started", 1.1, action_id="a1", payload={"action_name": "score"}, **run1),
            ev(
                "custom",
                1.2,
                payload={
                    "kind": "plan_created",
                    "summary": "plan",
                    "data": {"steps": [{"index": 0, "description": "fetch"}, {"index": 1}]},
                },
                **run1,
            ),
            llm(1.3, "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004, **a1),
            custom(1.4, "plan_step", "s0", {"step_index": 0, "action": "completed"}, **run1),
            ev("action_completed", 1.5, action_id="a1", duration_ms=24000, **run1),
            ev("task_completed", 2, duration_ms=60000, status="success", **run1),
        ],
        environment="production",
        group="sales",
    )
    failure = {"exception_type": "TimeoutError", "exception_message": "crm down"}
    run2 = {"task_id": "lead-2", "task_run_id": "r1", "task_type": "qualify", "project_id": "crm"}
    api.ingest(
        tenant,
        "lead-qualifier",
        [
            ev("task_started", 3, **run2),
            ev("action_started", 3.1, action_id="b1", payload={"action_name": "enrich"}, **run2),
            ev(
                "action_failed",
                3.2,
                action_id="b1",
                payload={
                    "action_name": "enrich",
                    "exception_type": "TimeoutError",
                    "exception_message": "crm down",
                },
                **run2,
            ),
            ev(
                "task_failed",
                3.3,
                duration_ms=18000,
                status="failure",
                payload=failure,
                **run2,
            ),
        ],
        environment="production",
        group="sales",
    )
    run3 = {"task_id": "ticket-9", "task_run_id": "r1", "task_type": "support"}
    api.ingest(
        tenant,
        "support-bot",
        [
            ev("agent_registered", 5, **register),
            ev(
                "custom",
                5.1,
                payload={
                    "kind": "queue_snapshot",
                    "summary": "queue",
                    "data": {"depth": 3, "oldest_age_seconds": 120, "items": [{"id": "q1"}]},
                },
            ),
            ev(
                "custom",
                5.2,
                payload={
                    "kind": "todo",
                    "summary": "call back",
                    "data": {"todo_id": "td1", "action": "created"},
                },
            ),
            ev(
                "custom",
                5.3,
                payload={
                    "kind": "issue",
                    "summary": "CRM 503s",
                    "data": {"severity": "high", "issue_id": "i1"},
                },
            ),
            ev("task_started", 6, **run3),
            llm(6.5, "gpt-4o", tokens_in=1000, tokens_out=100, **run3),
            ev("approval_requested", 7, event_id="appr-1", payload={"summary": "refund?"}, **run3),
        ],
        environment="staging",
        group="support",
    )
