"""GET /v1/events."""

from __future__ import annotations

from typing import Any

from query_seed import Api, Tenant, custom, ev, seed_fleet

pytest_plugins = ("query_fixtures",)


def _types(api: Api, tenant: Tenant, **params: Any) -> list[str]:
    return [e["event_type"] for e in api.get(tenant, "/v1/events", **params)["items"]]


def test_events_are_newest_first_with_envelope_fields(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    items = api.get(alice, "/v1/events", limit=500)["items"]
    assert len(items) == 20
    stamps = [e["timestamp"] for e in items]
    assert stamps == sorted(stamps, reverse=True)
    newest = items[0]
    assert newest["event_type"] == "approval_requested" and newest["event_id"] == "appr-1"
    assert newest["environment"] == "staging" and newest["group"] == "support"
    assert newest["agent_id"] == "support-bot" and newest["payload"]["summary"] == "refund?"


def test_event_filters(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    assert _types(api, alice, type="task_failed,action_failed") == ["task_failed", "action_failed"]
    # A high-severity issue is an error too (wire-format.md, severity by payload kind).
    assert set(_types(api, alice, severity="error")) == {"task_failed", "action_failed", "custom"}
    kinds = api.get(alice, "/v1/events", kind="llm_call")["items"]
    assert [e["payload_kind"] for e in kinds] == ["llm_call", "llm_call"]
    assert set(_types(api, alice, task_id="lead-2")) == {
        "task_started",
        "action_started",
        "action_failed",
        "task_failed",
    }
    assert "agent_registered" not in _types(api, alice, agent="lead-qualifier", since="9m")
    assert _types(api, alice, environment="staging", type="agent_registered") == [
        "agent_registered"
    ]
    assert _types(api, alice, group="nope") == []


def test_event_pages_stay_stable_while_new_events_arrive(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(alice, "w", [custom(i, "issue", f"n{i}", {"severity": "low"}) for i in range(6)])
    first = api.get(alice, "/v1/events", limit=4)
    assert [e["summary"] for e in first["items"]] == ["n5", "n4", "n3", "n2"]
    api.ingest(alice, "w", [custom(9, "issue", "late", {"severity": "low"})])
    second = api.get(alice, "/v1/events", limit=4, cursor=first["next_cursor"])
    assert [e["summary"] for e in second["items"]] == ["n1", "n0"]
    assert second["next_cursor"] is None


def test_cursor_of_one_listing_is_rejected_by_another(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(alice, "w", [ev("heartbeat", i) for i in range(3)])
    cursor = api.get(alice, "/v1/events", limit=1)["next_cursor"]
    status, body = api.get_status(alice, "/v1/tasks", cursor=cursor)
    assert status == 400 and body["error"] == "invalid_cursor"


def test_bad_time_range_is_a_clear_error(api: Api) -> None:
    alice = api.tenant("alice")
    status, body = api.get_status(alice, "/v1/events", since="yesterday-ish")
    assert status == 400 and body["details"]["parameter"] == "since"
    status, _ = api.get_status(alice, "/v1/events", since="1h", until="2h")
    assert status == 400
    status, _ = api.get_status(alice, "/v1/events", limit=100000)
    assert status == 422


def test_events_never_cross_tenants(api: Api) -> None:
    alice, bob = api.tenant("alice"), api.tenant("bob")
    api.ingest(bob, "w", [ev("heartbeat", 1), ev("task_started", 2, task_id="t")])
    api.ingest(alice, "w", [ev("heartbeat", 1)])
    assert _types(api, alice) == ["heartbeat"]
    assert _types(api, alice, task_id="t") == []
    # SQL metacharacters in filters are just values.
    assert _types(api, alice, agent="w' OR '1'='1") == []
