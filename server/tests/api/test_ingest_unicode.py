"""POST /v1/ingest with lone UTF-16 surrogate escapes, through the real app on both backends.

Python's ``json.dumps`` (ensure_ascii, the default) writes ``"\\udcff"`` for a string
decoded with ``surrogateescape``, e.g. a file name with invalid bytes inside an exception
message. orjson refuses such a body, which lost the whole batch with a 400.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hbtest import TenantKeys, body, ev

BAD = "bad \udcff name"  # what b"bad \xff name".decode(errors="surrogateescape") gives
FIXED = "bad \ufffd name"


def post_raw(client: TestClient, tenant: TenantKeys, raw: str | bytes) -> Any:
    """Send the text exactly as the stdlib encoder wrote it (ASCII, escapes kept)."""
    return client.post("/v1/ingest", content=raw, headers=tenant.auth())


def stored(client: TestClient, tenant: TenantKeys) -> dict[str, dict[str, Any]]:
    r = client.get("/v1/events", params={"limit": 100}, headers=tenant.auth(tenant.read))
    assert r.status_code == 200, r.json()
    return {e["event_id"]: e for e in r.json()["items"]}


def test_lone_surrogates_become_u_fffd_and_every_event_is_stored(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    failed = ev(
        "task_failed",
        task_id=f"task {BAD}",
        payload={
            "summary": f"OSError: {BAD}",
            "data": {"exception_message": BAD, "key \ud800": ["x", {"deep": "\udfff"}]},
        },
    )
    plain = ev("heartbeat", 1)
    emoji = ev("custom", 2, payload={"summary": "bee \U0001f41d then lone \ud83d"})
    raw = json.dumps(body(failed, plain, emoji, agent_id=f"agent {BAD}"))
    assert "\\udcff" in raw  # the body carries the escape itself, as a real client sends it

    r = post_raw(app_client, tenant, raw)

    assert r.status_code == 200, r.json()
    data = r.json()
    assert (data["accepted"], data["rejected"]) == (3, 0)
    assert len(data["warnings"]) == 1 and "U+FFFD" in data["warnings"][0]
    assert data["warnings"][0].startswith("7 lone UTF-16 surrogate")
    events = stored(app_client, tenant)
    got = events[failed["event_id"]]
    assert got["agent_id"] == f"agent {FIXED}"
    assert got["task_id"] == f"task {FIXED}"
    assert got["summary"] == f"OSError: {FIXED}"
    assert got["payload"]["data"] == {
        "exception_message": FIXED,
        "key \ufffd": ["x", {"deep": "\ufffd"}],
    }
    assert events[emoji["event_id"]]["summary"] == "bee \U0001f41d then lone \ufffd"
    assert plain["event_id"] in events


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    literal = "C:\\udcff\\dir"  # a backslash, then the letters u d c f f
    e = ev("custom", payload={"summary": f"{literal} and {BAD}"})
    r = post_raw(app_client, tenant, json.dumps(body(e)))
    assert r.status_code == 200, r.json()
    assert stored(app_client, tenant)[e["event_id"]]["summary"] == f"{literal} and {FIXED}"


def test_a_body_without_surrogates_gets_no_warning(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    r = post_raw(app_client, tenant, json.dumps(body(ev("custom", payload={"summary": "é 🐝"}))))
    assert r.status_code == 200 and r.json()["warnings"] == []


@pytest.mark.parametrize(
    "raw",
    [
        # Still not JSON once the surrogate is repaired: the 400 points at the real fault.
        '{"envelope": {"agent_id": "a"}, "events": [{"x": "\\udcff", "y": NaN}]}',
        '{"envelope": {"agent_id": "a"}, "events": [{"x": "\\udcff", "y": 1e400}]}',
        '{"envelope": {"agent_id": "a"}, "events": [{"x": "\\udcff"}',
        "\ufeff" + '{"envelope": {"agent_id": "a\\udcff"}, "events": []}',
    ],
)
def test_bodies_that_stay_invalid_keep_the_400(
    app_client: TestClient, tenant: TenantKeys, raw: str
) -> None:
    r = post_raw(app_client, tenant, raw.encode())
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    message = r.json()["message"]
    assert message.startswith("request body is not valid JSON: ")
    assert "surrogate" not in message and "char " in message
