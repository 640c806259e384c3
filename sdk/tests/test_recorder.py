"""The recorder is test infrastructure other suites lean on, so check it against real HTTP."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import jsonschema
import pytest
from recorder import IngestRecorder


def _post(
    url: str, body: Any, *, gzip_it: bool = False, timeout: float = 5.0
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer hb_test_x"}
    if gzip_it:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(f"{url}/v1/ingest", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def _body(n: int, agent: str = "a1") -> dict[str, Any]:
    events = [
        {"event_id": f"e{i}", "timestamp": "2026-03-01T09:15:02.118Z", "event_type": "heartbeat"}
        for i in range(n)
    ]
    return {"envelope": {"agent_id": agent}, "events": events}


def test_default_answer_counts_events_and_records_request(recorder: IngestRecorder) -> None:
    assert recorder.url.startswith("http://127.0.0.1:") and not recorder.url.endswith("/")
    status, _, answer = _post(recorder.url, _body(3))
    assert status == 200
    assert answer == {"accepted": 3, "rejected": 0, "duplicates": 0, "errors": [], "warnings": []}
    [req] = recorder.requests
    assert (req.method, req.path) == ("POST", "/v1/ingest")
    assert req.headers["authorization"] == "Bearer hb_test_x"
    assert req.json == _body(3) and json.loads(req.body) == _body(3)
    assert req.received_at <= time.monotonic()


def test_gzip_body_is_decoded(recorder: IngestRecorder) -> None:
    status, _, answer = _post(recorder.url, _body(2), gzip_it=True)
    assert status == 200 and answer["accepted"] == 2
    req = recorder.requests[0]
    assert req.headers["content-encoding"] == "gzip"
    assert req.body[:2] == b"\x1f\x8b"  # the wire bytes stay compressed
    assert recorder.bodies() == [_body(2)]


def test_scripted_responses_are_consumed_in_order(recorder: IngestRecorder) -> None:
    recorder.respond(503, times=2)
    recorder.respond(429, headers={"Retry-After": "2"})
    recorder.respond(207, body={"accepted": 0, "rejected": 1})
    statuses = []
    for _ in range(5):
        status, headers, answer = _post(recorder.url, _body(1))
        statuses.append(status)
        if status == 429:
            assert headers["Retry-After"] == "2"
            assert "error" in answer
    assert statuses == [503, 503, 429, 207, 200]
    assert [r.response_status for r in recorder.requests] == statuses


def test_events_pair_envelopes_and_wait_returns_them(recorder: IngestRecorder) -> None:
    def later() -> None:
        _post(recorder.url, _body(1, "a1"))
        _post(recorder.url, _body(2, "a2"))

    threading.Thread(target=later).start()
    events = recorder.wait_for_events(3, timeout=5)
    assert [(env["agent_id"], ev["event_id"]) for env, ev in events] == [
        ("a1", "e0"),
        ("a2", "e0"),
        ("a2", "e1"),
    ]


def test_wait_for_events_times_out_with_clear_message(recorder: IngestRecorder) -> None:
    _post(recorder.url, _body(1))
    with pytest.raises(AssertionError, match=r"at least 5 ingested events within 0.2s, got 1"):
        recorder.wait_for_events(5, timeout=0.2)


def test_delay_makes_a_slow_server(recorder: IngestRecorder) -> None:
    recorder.delay = 0.3
    start = time.monotonic()
    status, _, _ = _post(recorder.url, _body(1))
    assert status == 200 and time.monotonic() - start >= 0.3
    recorder.delay = 1.0
    with pytest.raises(TimeoutError):
        _post(recorder.url, _body(1), timeout=0.2)
    assert len(recorder.requests) == 2  # recorded even though the client gave up


def test_bad_json_gets_400_and_closed_port_refuses(closed_port_url: str) -> None:
    with IngestRecorder() as rec:
        req = urllib.request.Request(f"{rec.url}/v1/ingest", data=b"{nope", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 400
        assert rec.requests[0].json is None and rec.bodies() == []
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{closed_port_url}/v1/ingest", data=b"{}", timeout=5)
    assert isinstance(refused.value.reason, ConnectionRefusedError)


def test_validate_body_fixture_checks_the_schema(validate_body: Any) -> None:
    validate_body(_body(1))
    bad = _body(1)
    bad["events"][0]["event_type"] = "nonsense"
    with pytest.raises(jsonschema.ValidationError, match="events/0/event_type"):
        validate_body(bad)


def test_chunked_body_and_keep_alive(recorder: IngestRecorder) -> None:
    port = int(recorder.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for n in (1, 2):
            data = json.dumps(_body(n)).encode()
            chunks = iter([data[:10], data[10:]])
            conn.request("POST", "/v1/ingest", body=chunks, encode_chunked=True)
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["accepted"] == n
    finally:
        conn.close()
    assert [len(b["events"]) for b in recorder.bodies()] == [1, 2]
    assert recorder.requests[0].headers["transfer-encoding"] == "chunked"
