"""GET /v1/stream against a real uvicorn server on loopback (SSE needs a real socket)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from hiveboard.app import create_app
from hiveboard.config import load_settings
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.base import Storage
from hiveboard.storage.tables import events
from query_seed import LONG_LIVED, Tenant, ev

pytest_plugins = ("query_fixtures",)


@dataclass
class Message:
    event: str | None = None
    data: Any = None
    id: str | None = None
    comments: list[str] = field(default_factory=list)


class Live:
    """A running server plus helpers for tenants, ingest and SSE connections."""

    def __init__(self, base: str, storage: Storage) -> None:
        self.base = base
        self.storage = storage
        self.http = httpx.Client(base_url=base, timeout=10)

    def tenant(self, name: str) -> Tenant:
        t = self.storage.create_tenant(name)
        return Tenant(
            t.id,
            self.storage.create_api_key(t.id, "live")[1],
            self.storage.create_api_key(t.id, "read")[1],
        )

    def ingest(self, tenant: Tenant, agent_id: str, events: list[dict[str, Any]]) -> None:
        resp = self.http.post(
            "/v1/ingest",
            json={"envelope": {"agent_id": agent_id}, "events": events},
            headers={"Authorization": f"Bearer {tenant.ingest_key}"},
        )
        assert resp.status_code == 200, resp.text

    def connect(self, tenant: Tenant, headers: dict[str, str] | None = None, **params: Any) -> Sse:
        return Sse(self.base, {**tenant.headers, **(headers or {})}, params)


class Sse:
    """One SSE connection read on a background thread into a list of messages."""

    def __init__(self, base: str, headers: dict[str, str], params: dict[str, Any]) -> None:
        self.messages: list[Message] = []
        self.status: int | None = None
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=30))
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(headers, params), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "stream did not open"

    def _run(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        try:
            with self._client.stream("GET", "/v1/stream", headers=headers, params=params) as r:
                self.status = r.status_code
                self._ready.set()
                current = Message()
                for line in r.iter_lines():
                    if line == "":
                        self.messages.append(current)
                        current = Message()
                    elif line.startswith(":"):
                        current.comments.append(line[1:].strip())
                    else:
                        name, _, value = line.partition(": ")
                        if name == "data":
                            current.data = orjson.loads(value)
                        elif name in ("event", "id"):
                            setattr(current, name, value)
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._ready.set()

    def wait_for(self, predicate: Any, timeout: float = 10) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.messages):
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"condition not met; got {self.messages!r}")

    def events(self, kind: str = "event") -> list[Any]:
        return [m.data for m in self.messages if m.event == kind]

    def close(self) -> None:
        self._client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(storage: Storage, tmp_path: Path) -> Iterator[Live]:
    settings = load_settings(data_dir=tmp_path, bootstrap=False, rate_limit_per_key=0)
    app = create_app(settings, storage, run_detector=False)
    app.state.stream_heartbeat_seconds = 0.3
    app.state.stream_poll_seconds = 0.1
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    harness = Live(f"http://127.0.0.1:{port}", storage)
    try:
        yield harness
    finally:
        harness.http.close()
        server.should_exit = True
        thread.join(10)


def _connected(msgs: list[Message]) -> bool:
    return any("connected" in m.comments for m in msgs)


def test_stream_sends_new_events_and_transitions_but_not_old_ones(live: Live) -> None:
    alice = live.tenant("alice")
    live.ingest(alice, "w", [ev("heartbeat", 1, event_id="old")])
    sse = live.connect(alice)
    try:
        assert sse.status == 200
        sse.wait_for(_connected)
        live.ingest(
            alice,
            "w",
            [ev("agent_registered", 2, **LONG_LIVED), ev("task_started", 3, task_id="t")],
        )
        sse.wait_for(lambda m: len(sse.events()) >= 2 and sse.events("transition"))
        events = sse.events()
        assert [e["event_type"] for e in events] == ["agent_registered", "task_started"]
        assert "old" not in [e["event_id"] for e in events]
        assert events[1]["task_id"] == "t" and events[1]["agent_id"] == "w"
        transition = sse.events("transition")[-1]
        assert transition["agent_id"] == "w" and transition["to_status"] == "processing"
        ids = [m.id for m in sse.messages if m.event]
        assert all(ids) and len(set(ids)) == len(ids)
    finally:
        sse.close()


def test_stream_filters_by_agent_and_type(live: Live) -> None:
    alice = live.tenant("alice")
    sse = live.connect(alice, agent="a", type="task_started", include="events")
    try:
        sse.wait_for(_connected)
        live.ingest(alice, "b", [ev("task_started", 1, task_id="tb")])
        live.ingest(alice, "a", [ev("heartbeat", 1), ev("task_started", 2, task_id="ta")])
        sse.wait_for(lambda m: sse.events())
        time.sleep(0.3)  # give anything that should not come a chance to arrive
        assert [e["task_id"] for e in sse.events()] == ["ta"]
        assert sse.events("transition") == []
    finally:
        sse.close()


def test_heartbeat_comments_keep_the_connection_alive(live: Live) -> None:
    alice = live.tenant("alice")
    sse = live.connect(alice)
    try:
        msgs = sse.wait_for(lambda m: any("heartbeat" in x.comments for x in m))
        beat = next(m for m in msgs if "heartbeat" in m.comments)
        assert beat.id is not None  # carries the position, so a resume after it is exact
    finally:
        sse.close()


def test_last_event_id_resumes_without_losing_or_repeating(live: Live) -> None:
    alice = live.tenant("alice")
    sse = live.connect(alice, include="events")
    try:
        sse.wait_for(_connected)
        live.ingest(alice, "w", [ev("heartbeat", 1, event_id="e1")])
        sse.wait_for(lambda m: sse.events())
        last_id = next(m.id for m in sse.messages if m.event == "event")
    finally:
        sse.close()
    live.ingest(alice, "w", [ev("heartbeat", 2, event_id="e2"), ev("heartbeat", 3, event_id="e3")])
    resumed = live.connect(alice, headers={"Last-Event-ID": last_id}, include="events")
    try:
        resumed.wait_for(lambda m: len(resumed.events()) >= 2)
        assert [e["event_id"] for e in resumed.events()] == ["e2", "e3"]
    finally:
        resumed.close()
    bad = live.http.get("/v1/stream", headers={**alice.headers, "Last-Event-ID": "banana"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_parameter"


def test_events_committed_by_another_process_reach_the_stream(live: Live) -> None:
    """Ingest straight into storage (no broker publish, as another process would)."""
    alice = live.tenant("alice")
    sse = live.connect(alice)
    try:
        sse.wait_for(_connected)
        batch = validate_batch(
            {"envelope": {"agent_id": "elsewhere"}, "events": [ev("heartbeat", 1, event_id="x1")]}
        )
        live.storage.ingest(alice.id, batch, now=datetime.now(UTC))
        sse.wait_for(lambda m: sse.events())
        assert [e["event_id"] for e in sse.events()] == ["x1"]
    finally:
        sse.close()


def test_stream_never_shows_another_tenants_events(live: Live) -> None:
    alice, bob = live.tenant("alice"), live.tenant("bob")
    sse = live.connect(alice)
    try:
        sse.wait_for(_connected)
        live.ingest(bob, "w", [ev("task_started", 1, task_id="bob-secret")])
        live.ingest(alice, "w", [ev("heartbeat", 2, event_id="mine")])
        sse.wait_for(lambda m: sse.events())
        time.sleep(0.3)
        assert [e["event_id"] for e in sse.events()] == ["mine"]
        assert all(t["agent_id"] == "w" for t in sse.events("transition"))
        assert "bob-secret" not in str([m.data for m in sse.messages])
    finally:
        sse.close()
    assert live.http.get("/v1/stream").status_code == 401


@pytest.mark.parametrize(
    ("headers", "params", "parameter"),
    [
        ({"Last-Event-ID": "99999999999999999999999-1"}, {}, "Last-Event-ID"),
        ({"Last-Event-ID": "1-9223372036854775808"}, {}, "Last-Event-ID"),
        ({"Last-Event-ID": "-1"}, {}, "Last-Event-ID"),
        ({}, {"resume": "9223372036854775808"}, "resume"),
        ({}, {"resume": "x-1"}, "resume"),
        ({"Last-Event-ID": "5~0-1"}, {}, "Last-Event-ID"),  # a gap at the position itself
        ({"Last-Event-ID": "5~5-1"}, {}, "Last-Event-ID"),  # id 0
        ({"Last-Event-ID": "5~2.1-1"}, {}, "Last-Event-ID"),  # runs out of order
        ({}, {"resume": "5-3~1_9"}, "resume"),  # below id 1
        ({}, {"resume": "99~" + ".".join(str(2 * i + 1) for i in range(40))}, "resume"),
    ],
)
def test_a_position_this_stream_cannot_have_sent_is_a_400_before_streaming(
    live: Live, headers: dict[str, str], params: dict[str, str], parameter: str
) -> None:
    """Past 64 bits the database driver fails: that must not be a 200 cut off mid-body."""
    alice = live.tenant("alice")
    resp = live.http.get("/v1/stream", headers={**alice.headers, **headers}, params=params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_parameter" and body["details"] == {"parameter": parameter}


def test_event_filters_leave_transitions_alone_and_project_leaves_them_out(live: Live) -> None:
    """What docs/query-api.md says of the stream's filters."""
    alice = live.tenant("alice")
    by_type = live.connect(alice, type="task_started")
    by_project = live.connect(alice, project="crm")
    try:
        by_type.wait_for(_connected)
        by_project.wait_for(_connected)
        run = {"task_id": "t", "project_id": "crm"}
        live.ingest(
            alice, "w", [ev("agent_registered", 1, **LONG_LIVED), ev("task_started", 2, **run)]
        )
        by_type.wait_for(lambda m: by_type.events() and by_type.events("transition"))
        assert [e["event_type"] for e in by_type.events()] == ["task_started"]
        by_project.wait_for(lambda m: by_project.events())
        time.sleep(0.3)  # give a transition that should not come a chance to arrive
        assert [e["event_type"] for e in by_project.events()] == ["task_started"]
        assert by_project.events("transition") == []
    finally:
        by_type.close()
        by_project.close()


def test_revoking_the_key_ends_an_open_stream(live: Live) -> None:
    """A stream outlives the request that opened it: revoking a leaked read key must stop
    the data flowing, not only refuse the next request."""
    t = live.storage.create_tenant("alice")
    read_key, read_secret = live.storage.create_api_key(t.id, "read")
    alice = Tenant(t.id, live.storage.create_api_key(t.id, "live")[1], read_secret)
    sse = live.connect(alice, include="events")
    try:
        sse.wait_for(_connected)
        live.ingest(alice, "w", [ev("heartbeat", 1, event_id="before")])
        sse.wait_for(lambda m: sse.events())
        assert live.storage.revoke_api_key(t.id, read_key.id)
        sse.wait_for(lambda m: any("credentials no longer valid" in x.comments for x in m))
        sse._thread.join(10)
        assert not sse._thread.is_alive()  # the server ended the response
        live.ingest(alice, "w", [ev("heartbeat", 2, event_id="after")])
        assert [e["event_id"] for e in sse.events()] == ["before"]
    finally:
        sse.close()
    again = live.http.get("/v1/stream", headers=alice.headers)
    assert again.status_code == 401 and again.json()["error"] == "revoked_api_key"


def test_resume_gets_an_event_that_committed_after_a_later_one_exactly_once(live: Live) -> None:
    """PostgreSQL takes ids at insert time: an open transaction holds id N while N+1
    commits and is sent. A client that resumes from N+1 must still get N when it
    commits, once, and nothing it already had. SQLite gives ids at commit: its
    positions stay plain ``<events>-<transitions>``."""
    alice = live.tenant("alice")
    engine = live.storage.engine
    slow = engine.connect() if engine.dialect.name == "postgresql" else None
    sse = live.connect(alice, include="events")
    try:
        sse.wait_for(_connected)
        if slow is not None:
            slow.begin()
            slow.execute(  # takes its id now; commits only after the resume
                events.insert().values(
                    tenant_id=alice.id,
                    event_id="early",
                    ts=datetime.now(UTC),
                    received_at=datetime.now(UTC),
                    event_type="heartbeat",
                    severity="debug",
                    agent_id="w",
                    environment="production",
                    group_name="default",
                )
            )
        live.ingest(alice, "w", [ev("heartbeat", 1, event_id="later")])
        sse.wait_for(lambda m: sse.events())
        assert [e["event_id"] for e in sse.events()] == ["later"]
        last_id = next(m.id for m in sse.messages if m.event == "event")
        assert last_id is not None
    finally:
        sse.close()
    if slow is None:
        assert re.fullmatch(r"\d+-\d+", last_id)
        live.ingest(alice, "w", [ev("heartbeat", 2, event_id="early")])
    else:
        assert "~1-" in last_id  # the id just below is carried as still missing
    resumed = live.connect(alice, headers={"Last-Event-ID": last_id}, include="events")
    try:
        resumed.wait_for(_connected)
        if slow is not None:
            slow.commit()
        live.ingest(alice, "w", [ev("heartbeat", 3, event_id="after")])
        resumed.wait_for(lambda m: "after" in [e["event_id"] for e in resumed.events()])
        assert [e["event_id"] for e in resumed.events()] == ["early", "after"]
        if slow is None:
            assert all(re.fullmatch(r"\d+-\d+", m.id or "") for m in resumed.messages)
    finally:
        resumed.close()
        if slow is not None:
            slow.close()
