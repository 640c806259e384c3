# ruff: noqa: E501  (one row per case reads better than wrapped rows)
"""POST /v1/ingest: status codes, idempotency and bad input, through the real app."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hbtest import TenantKeys, body, ev, llm
from hiveboard.ingest.ratelimit import RateLimiter
from hiveboard.storage.sql import SqlStorage

PROTOCOL = Path(__file__).resolve().parents[3] / "protocol" / "examples"


def nested(depth: int) -> dict[str, Any]:
    """A payload of ``depth`` nested objects (the payload itself is level 1)."""
    out: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        out = {"a": out}
    return out


DEEP_255 = nested(255)


def post(client: TestClient, tenant: TenantKeys, payload: Any, key: str | None = None) -> Any:
    return client.post("/v1/ingest", json=payload, headers=tenant.auth(key))


def test_all_good_events_answer_200(app_client: TestClient, tenant: TenantKeys) -> None:
    r = post(app_client, tenant, body(ev("heartbeat"), ev("task_started", 1, task_id="t")))
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "rejected": 0, "duplicates": 0, "errors": [], "warnings": []}


def test_test_key_may_ingest(app_client: TestClient, tenant: TenantKeys) -> None:
    assert post(app_client, tenant, body(ev("heartbeat")), tenant.test).status_code == 200


def test_retried_batch_counts_duplicates(app_client: TestClient, tenant: TenantKeys) -> None:
    b = body(ev("heartbeat"), ev("heartbeat", 1))
    post(app_client, tenant, b)
    r = post(app_client, tenant, b)
    assert r.status_code == 200 and r.json()["duplicates"] == 2 and r.json()["accepted"] == 2


def test_one_bad_event_never_rejects_its_99_neighbours(
    app_client: TestClient, tenant: TenantKeys, storage: SqlStorage
) -> None:
    events = [ev("heartbeat", i) for i in range(99)]
    bad = ev("not_a_type", 50)
    r = post(app_client, tenant, body(*events[:50], bad, *events[50:]))
    assert r.status_code == 207
    data = r.json()
    assert (data["accepted"], data["rejected"]) == (99, 1)
    assert data["errors"] == [
        {
            "event_id": bad["event_id"],
            "error": "invalid_event_type",
            "message": data["errors"][0]["message"],
        }
    ]


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"event_type": "heartbeat", "timestamp": "2026-03-01T09:00:00Z"}, "missing_field"),
        ({"event_id": "x", "event_type": "heartbeat"}, "missing_field"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "nope"}, "invalid_event_type"),
        ({"event_id": "x", "timestamp": "yesterday", "event_type": "heartbeat"}, "invalid_timestamp"),
        ({"event_id": "x", "timestamp": "2999-01-01T00:00:00Z", "event_type": "heartbeat"}, "invalid_timestamp"),
        ({"event_id": "x" * 300, "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat"}, "field_too_long"),
        ({"event_id": 7, "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat"}, "invalid_field"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat", "duration_ms": "5"}, "invalid_field"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat", "payload": []}, "invalid_field"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat", "payload": {"data": {"blob": "x" * 40_000}}}, "payload_too_large"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "custom", "payload": {"kind": "llm_call", "summary": "s", "data": {"model": "m"}}}, "missing_field"),
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat", "severity": ["x"]}, "invalid_field"),
        ("not an object", "invalid_field"),
        # Valid ISO 8601 whose UTC conversion leaves years 1..9999 (crashed with 500).
        ({"event_id": "x", "timestamp": "0001-01-01T00:00:00+14:00", "event_type": "heartbeat"}, "invalid_timestamp"),
        ({"event_id": "x", "timestamp": "9999-12-31T23:59:59-14:00", "event_type": "heartbeat"}, "invalid_timestamp"),
        # Deeper than the serializer that stores the payload allows (crashed with 500).
        ({"event_id": "x", "timestamp": "2026-03-01T09:00:00Z", "event_type": "heartbeat", "payload": DEEP_255}, "invalid_field"),
        # Integers that overflow a 64-bit column, or its per-task/per-minute sums (crashed with 500).
        (llm(0, tokens_in=2**62), "invalid_field"),
        (llm(0, tokens_out=2**64 - 1), "invalid_field"),
        (llm(0, duration_ms=2**64 - 1), "invalid_field"),
        (llm(0, cost=1.7e308), "invalid_field"),  # two of these sum to inf: cost totals went null
        (ev("custom", task_id="t", payload={"kind": "plan_created", "summary": "p", "data": {"steps": [{"index": 2**64 - 1, "description": "d"}]}}), "invalid_field"),
        (ev("custom", task_id="t", payload={"kind": "plan_created", "summary": "p", "data": {"steps": [], "revision": 2**64 - 1}}), "invalid_field"),
        (ev("custom", task_id="t", payload={"kind": "plan_step", "summary": "s", "data": {"step_index": 2**64 - 1, "action": "started"}}), "invalid_field"),
        (ev("custom", task_id="t", payload={"kind": "plan_step", "summary": "s", "data": {"step_index": 0, "action": "started", "turns": 2**64 - 1}}), "invalid_field"),
        (ev("custom", task_id="t", payload={"kind": "plan_step", "summary": "s", "data": {"step_index": 0, "action": "started", "tokens": 2**64 - 1}}), "invalid_field"),
        (ev("custom", task_id="t", payload={"kind": "plan_step", "summary": "s", "data": {"step_index": 0, "action": "started", "plan_revision": 2**64 - 1}}), "invalid_field"),
        (ev("custom", payload={"kind": "queue_snapshot", "summary": "q", "data": {"depth": 2**64 - 1}}), "invalid_field"),
        (ev("custom", payload={"kind": "issue", "summary": "i", "data": {"severity": "low", "occurrence_count": 2**64 - 1}}), "invalid_field"),
    ],
)  # fmt: skip
def test_bad_event_gets_its_code(
    app_client: TestClient, tenant: TenantKeys, event: Any, code: str
) -> None:
    r = post(app_client, tenant, body(event, ev("heartbeat")))
    assert r.status_code == 207
    assert [e["error"] for e in r.json()["errors"]] == [code]
    assert r.json()["accepted"] == 1


def test_payload_nested_to_the_limit_is_stored(app_client: TestClient, tenant: TenantKeys) -> None:
    r = post(app_client, tenant, body(ev("heartbeat", payload=nested(254))))
    assert r.status_code == 200, r.json()


def test_large_but_sane_token_counts_are_accepted(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    big = 10**12
    r = post(
        app_client,
        tenant,
        body(llm(0, task_id="t", tokens_in=big), llm(1, task_id="t", tokens_in=big)),
    )
    assert r.status_code == 200, r.json()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_body"),
        (orjson.dumps({"events": [ev("heartbeat")]}), "missing_envelope"),
        (orjson.dumps({"envelope": {}, "events": [ev("heartbeat")]}), "invalid_envelope"),
        (
            orjson.dumps({"envelope": {"agent_id": 5}, "events": [ev("heartbeat")]}),
            "invalid_envelope",
        ),
        (orjson.dumps({"envelope": {"agent_id": "a"}}), "missing_events"),
        (orjson.dumps({"envelope": {"agent_id": "a"}, "events": []}), "empty_batch"),
        (orjson.dumps(body(*[ev("heartbeat", i) for i in range(501)])), "too_many_events"),
    ],
)
def test_malformed_batch_answers_400(
    app_client: TestClient, tenant: TenantKeys, raw: bytes, code: str
) -> None:
    r = app_client.post("/v1/ingest", content=raw, headers=tenant.auth())
    assert r.status_code == 400
    assert r.json()["error"] == code and r.json()["message"]


def test_body_over_limit_answers_413(app_client: TestClient, tenant: TenantKeys) -> None:
    big = body(*[ev("heartbeat", i, payload={"data": {"x": "y" * 20_000}}) for i in range(100)])
    r = post(app_client, tenant, big)  # ~2 MB
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_gzip_body_is_accepted(app_client: TestClient, tenant: TenantKeys) -> None:
    raw = gzip.compress(orjson.dumps(body(ev("heartbeat"))))
    headers = {**tenant.auth(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert app_client.post("/v1/ingest", content=raw, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"Authorization": "Bearer hb_live_nope"}, 401, "invalid_api_key"),
        ({"Authorization": "Basic abc"}, 401, "missing_api_key"),
    ],
)
def test_missing_or_unknown_key_answers_401(
    app_client: TestClient, headers: dict[str, str], status: int, code: str
) -> None:
    r = app_client.post("/v1/ingest", json=body(ev("heartbeat")), headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, code)


def test_read_key_cannot_write(app_client: TestClient, tenant: TenantKeys) -> None:
    r = post(app_client, tenant, body(ev("heartbeat")), tenant.read)
    assert (r.status_code, r.json()["error"]) == (403, "read_only_key")


def test_revoked_key_answers_401(
    app_client: TestClient, tenant: TenantKeys, storage: SqlStorage
) -> None:
    key, secret = storage.create_api_key(tenant.tenant_id, "live")
    assert post(app_client, tenant, body(ev("heartbeat")), secret).status_code == 200
    storage.revoke_api_key(tenant.tenant_id, key.id)
    r = post(app_client, tenant, body(ev("heartbeat", 1)), secret)
    assert (r.status_code, r.json()["error"]) == (401, "revoked_api_key")


def test_rate_limit_answers_429_with_retry_after(make_client: Any, tenant: TenantKeys) -> None:
    client = make_client(rate_limit_per_key=1)
    statuses = [post(client, tenant, body(ev("heartbeat", i))).status_code for i in range(4)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    r = post(client, tenant, body(ev("heartbeat", 9)))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_rate_limit_is_split_across_the_hosts_worker_processes(
    make_client: Any, tenant: TenantKeys
) -> None:
    """With ``--workers 2`` each process enforces half of the host's per-key rate.

    A key's connections land on any worker, so a client spread over both gets the
    configured rate and no more; one keep-alive connection sees one worker's share.
    """
    client = make_client(rate_limit_per_key=2, workers=2)
    limiter = client.app.state.rate_limiter  # type: ignore[attr-defined]
    assert (limiter.rate, limiter.burst) == (1.0, 2.0)
    statuses = [post(client, tenant, body(ev("heartbeat", i))).status_code for i in range(4)]
    assert statuses[:2] == [200, 200] and 429 in statuses


def test_rate_limiter_refills_at_its_rate_and_tracks_keys_apart() -> None:
    clock = [0.0]
    limiter = RateLimiter(0.5, clock=lambda: clock[0])  # one worker's share of 1/s
    assert limiter.burst == 1.0
    assert limiter.check("a") == 0.0
    assert limiter.check("a") == pytest.approx(2.0)  # empty: the next token in 2 s
    assert limiter.check("b") == 0.0
    clock[0] = 2.0
    assert limiter.check("a") == 0.0
    assert RateLimiter(0).check("a") == 0.0


def test_nul_bytes_are_stripped_with_a_warning(app_client: TestClient, tenant: TenantKeys) -> None:
    r = post(app_client, tenant, body(ev("custom", payload={"summary": "a\x00b 🐝"})))
    assert r.status_code == 200 and "NUL" in r.json()["warnings"][0]


def test_sql_metacharacters_in_ids_are_plain_data(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    nasty = "'; DELETE FROM events; --"
    r = post(app_client, tenant, body(ev("task_started", task_id=nasty), agent_id=nasty))
    assert r.status_code == 200
    assert post(app_client, tenant, body(llm(1, task_id=nasty), agent_id=nasty)).status_code == 200


class RecordingBroker:
    """Stands in for the live broker: records what ingest publishes."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.published: list[tuple[str, dict[str, Any]]] = []

    def subscriber_count(self, tenant_id: str | None = None) -> int:
        return self.subscribers

    def publish(self, tenant_id: str, message: dict[str, Any]) -> None:
        self.published.append((tenant_id, message))


def test_ingest_publishes_events_and_transitions_after_commit(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    broker = RecordingBroker(subscribers=1)
    app_client.app.state.broker = broker  # type: ignore[attr-defined]
    post(app_client, tenant, body(ev("heartbeat")))
    kinds = [m["type"] for _, m in broker.published]
    assert kinds == ["event", "transition"]
    assert {t for t, _ in broker.published} == {tenant.tenant_id}


def test_ingest_builds_no_live_messages_for_a_tenant_nobody_watches(
    app_client: TestClient, tenant: TenantKeys
) -> None:
    broker = RecordingBroker(subscribers=0)
    app_client.app.state.broker = broker  # type: ignore[attr-defined]
    assert post(app_client, tenant, body(ev("heartbeat"))).status_code == 200
    assert broker.published == []


def golden_examples() -> list[Path]:
    return sorted(PROTOCOL.glob("*.json")) if PROTOCOL.is_dir() else []


@pytest.mark.parametrize("path", golden_examples(), ids=lambda p: p.name)
def test_golden_examples_are_accepted(
    app_client: TestClient, tenant: TenantKeys, path: Path
) -> None:
    r = app_client.post("/v1/ingest", content=path.read_bytes(), headers=tenant.auth())
    assert r.status_code == 200, r.json()


def invalid_examples() -> list[Path]:
    return sorted((PROTOCOL / "invalid").glob("*.json")) if PROTOCOL.is_dir() else []


@pytest.mark.parametrize("path", invalid_examples(), ids=lambda p: p.name)
def test_invalid_examples_are_refused(
    app_client: TestClient, tenant: TenantKeys, path: Path
) -> None:
    r = app_client.post("/v1/ingest", content=path.read_bytes(), headers=tenant.auth())
    assert r.status_code in (400, 207), r.json()
    if r.status_code == 207:
        assert r.json()["rejected"] >= 1


def test_protocol_examples_exist() -> None:
    # The golden examples are the contract: their absence would silently skip the checks.
    assert golden_examples() and invalid_examples()
