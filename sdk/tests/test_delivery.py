"""The sender against a real loopback server: batching, retries, errors, flush, shutdown."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import hiveloop
import pytest
from conftest import REPO_ROOT
from hiveloop._transport import HttpTransport
from hiveloop._worker import RETRY_DELAYS, BackgroundWorker
from recorder import IngestRecorder


class RecordingSleep:
    """Stands in for the retry wait: remembers each delay instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def worker_client(recorder: IngestRecorder, sleeps: RecordingSleep) -> Iterator[Any]:
    """A client whose sender records retry delays instead of sleeping them."""
    client = hiveloop.init(api_key="hb_test_x", endpoint=recorder.url, flush_interval=0.05)
    client._worker = BackgroundWorker(
        HttpTransport(recorder.url, "hb_test_x"),
        batch_size=100,
        flush_interval=0.05,
        max_queue_size=10_000,
        sleep=sleeps,
    )
    yield client
    hiveloop.reset()


def _one_event(client: Any, name: str = "a") -> Any:
    agent = client.agent(name, heartbeat_interval=0)
    return agent


def test_sends_authorization_and_json(hb: Any, recorder: IngestRecorder) -> None:
    hb.agent("auth", heartbeat_interval=0)
    assert hb.flush(5)
    request = recorder.requests[0]
    assert request.method == "POST" and request.path == "/v1/ingest"
    assert request.headers["authorization"] == "Bearer hb_test_sdk"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("hiveloop-python/")


def test_batches_respect_batch_size_and_group_by_agent(recorder: IngestRecorder) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, batch_size=10, flush_interval=30)
    first = client.agent("first", heartbeat_interval=0)
    second = client.agent("second", heartbeat_interval=0)
    for n in range(25):
        first.llm_call(f"c{n}", "m")
        second.llm_call(f"c{n}", "m")
    assert client.flush(5)
    bodies = recorder.bodies()
    assert all(len(body["events"]) <= 10 for body in bodies)
    for body in bodies:
        agent_id = body["envelope"]["agent_id"]
        assert agent_id in ("first", "second")
    per_agent = {"first": 0, "second": 0}
    for body in bodies:
        per_agent[body["envelope"]["agent_id"]] += len(body["events"])
    assert per_agent == {"first": 26, "second": 26}
    assert client.stats().sent == 52


def test_batches_stay_under_the_body_size_limit(recorder: IngestRecorder) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=30)
    agent = client.agent("bulky", heartbeat_interval=0)
    for n in range(40):  # about 30 KB each: 1.2 MB in all, over one body's limit
        agent.llm_call(f"c{n}", "m", prompt_preview="p" * 30_000)
    assert client.flush(10)
    sizes = [len(r.body) for r in recorder.wait_for_requests(1) if r.path == "/v1/ingest"]
    assert len(sizes) >= 2 and max(sizes) < 1_000_000
    assert sum(len(body["events"]) for body in recorder.bodies()) == 41
    assert client.stats().sent == 41


def test_a_full_batch_is_sent_without_waiting_for_the_interval(recorder: IngestRecorder) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, batch_size=5, flush_interval=60)
    agent = client.agent("eager", heartbeat_interval=0)
    for n in range(5):
        agent.llm_call(f"c{n}", "m")
    recorder.wait_for_events(6, timeout=5)


def test_events_go_out_every_flush_interval(recorder: IngestRecorder) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=0.1)
    client.agent("periodic", heartbeat_interval=0)
    recorder.wait_for_events(1, timeout=5)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retryable_statuses_follow_the_backoff_schedule(
    worker_client: Any, recorder: IngestRecorder, sleeps: RecordingSleep, status: int
) -> None:
    recorder.respond(status, times=3)
    _one_event(worker_client)
    assert worker_client.flush(5)
    assert sleeps.delays == [1.0, 2.0, 4.0]
    stats = worker_client.stats()
    assert (stats.sent, stats.retried) == (1, 3)
    assert str(status) in (stats.last_error or "")
    ids = {body["events"][0]["event_id"] for body in recorder.bodies()}
    assert len(ids) == 1  # the same batch, byte for byte, so the server can deduplicate


def test_batch_is_dropped_after_the_fifth_retry(
    worker_client: Any, recorder: IngestRecorder, sleeps: RecordingSleep
) -> None:
    recorder.respond(503, times=6)
    _one_event(worker_client)
    assert worker_client.flush(5) is False
    assert sleeps.delays == list(RETRY_DELAYS) == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert worker_client.stats().dropped == {"retries_exhausted": 1}
    assert len(recorder.requests) == 6


def test_retry_after_is_honoured(
    worker_client: Any, recorder: IngestRecorder, sleeps: RecordingSleep
) -> None:
    recorder.respond(429, headers={"Retry-After": "7"})
    _one_event(worker_client)
    assert worker_client.flush(5)
    assert sleeps.delays == [7.0]


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_other_client_errors_are_not_retried(
    worker_client: Any, recorder: IngestRecorder, sleeps: RecordingSleep, status: int
) -> None:
    recorder.respond(status, body={"error": "nope", "message": "api key revoked"})
    _one_event(worker_client)
    assert worker_client.flush(5) is False
    assert sleeps.delays == []
    stats = worker_client.stats()
    assert stats.dropped == {"rejected": 1}
    assert stats.last_error == f"HTTP {status}: api key revoked"


def test_413_splits_the_batch_in_halves(
    worker_client: Any, recorder: IngestRecorder, sleeps: RecordingSleep
) -> None:
    recorder.respond(413)
    agent = _one_event(worker_client)
    for n in range(9):
        agent.llm_call(f"c{n}", "m")
    assert worker_client.flush(5)
    sizes = [len(body["events"]) for body in recorder.bodies()]
    assert sizes[0] == 10 and sorted(sizes[1:]) == [5, 5]
    assert worker_client.stats().sent == 10


def test_partial_rejection_is_counted(worker_client: Any, recorder: IngestRecorder) -> None:
    recorder.respond(
        207,
        body={
            "accepted": 1,
            "rejected": 1,
            "errors": [{"event_id": "x", "error": "invalid_field", "message": "bad depth"}],
        },
    )
    agent = _one_event(worker_client)
    agent.llm_call("c", "m")
    assert worker_client.flush(5) is False
    stats = worker_client.stats()
    assert (stats.sent, stats.dropped) == (1, {"rejected": 1})
    assert "invalid_field" in (stats.last_error or "")


def test_connection_refused_is_retried(closed_port_url: str, sleeps: RecordingSleep) -> None:
    worker = BackgroundWorker(
        HttpTransport(closed_port_url, "hb_x"),
        batch_size=100,
        flush_interval=0.05,
        max_queue_size=100,
        retry_delays=(0.0, 0.0),
        sleep=sleeps,
    )
    client = hiveloop.init(api_key="hb_x", endpoint=closed_port_url)
    client._worker = worker
    client.agent("lonely", heartbeat_interval=0)
    assert client.flush(5) is False
    stats = client.stats()
    assert stats.dropped == {"retries_exhausted": 1}
    assert stats.retried == 2
    assert "connection error" in (stats.last_error or "")


def test_read_timeout_is_retried(recorder: IngestRecorder, sleeps: RecordingSleep) -> None:
    recorder.delay = 1.0
    transport = HttpTransport(recorder.url, "hb_x")
    result = transport.send(b'{"envelope":{"agent_id":"a"},"events":[]}', 0, timeout=0.2)
    assert result.retryable and "timeout" in (result.error or "")


def test_queue_overflow_drops_the_oldest_and_counts(closed_port_url: str) -> None:
    client = hiveloop.init(
        api_key="hb_x", endpoint=closed_port_url, max_queue_size=50, flush_interval=60
    )
    agent = client.agent("flood", heartbeat_interval=0)
    for n in range(200):
        agent.llm_call(f"c{n}", "m")
    stats = client.stats()
    assert stats.queued == 50
    assert stats.dropped["queue_full"] == 151  # 200 calls + registration - 50 kept
    client.shutdown(timeout=0.1)


def test_drops_are_logged_at_a_bounded_rate(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = hiveloop.init(
        api_key="hb_x", endpoint=closed_port_url, max_queue_size=10, flush_interval=60
    )
    agent = client.agent("flood", heartbeat_interval=0)
    with caplog.at_level(logging.WARNING, logger="hiveloop"):
        for n in range(5_000):
            agent.llm_call(f"c{n}", "m")
    dropped_lines = [r for r in caplog.records if "dropped events" in r.getMessage()]
    assert 1 <= len(dropped_lines) <= 2
    client.shutdown(timeout=0.1)


def test_calls_never_block_while_the_server_hangs(recorder: IngestRecorder) -> None:
    recorder.delay = 3.0
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, batch_size=1, flush_interval=0.01)
    agent = client.agent("patient", heartbeat_interval=0)
    recorder.wait_for_requests(1, timeout=5)  # the sender is now stuck in a slow request
    started = time.perf_counter()
    for n in range(1_000):
        agent.llm_call(f"c{n}", "m")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"1,000 calls took {elapsed:.2f}s while the server hung"
    assert client.stats().queued >= 900
    recorder.delay = 0
    client.shutdown(timeout=0.5)


def test_flush_waits_for_delivery_with_a_slow_server(recorder: IngestRecorder) -> None:
    recorder.delay = 0.3
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=60)
    client.agent("slow", heartbeat_interval=0)
    assert client.flush(5) is True
    assert len(recorder.events()) == 1


def test_batches_on_their_way_still_count_as_queued(recorder: IngestRecorder) -> None:
    recorder.delay = 0.3
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, batch_size=5, flush_interval=60)
    agent = client.agent("pipelined", heartbeat_interval=0)
    for n in range(39):
        agent.llm_call(f"c{n}", "m")
    recorder.wait_for_requests(1, timeout=5)  # the first batch is out, the next one encoded
    during = client.stats()
    assert during.queued + during.sent == 40
    assert client.flush(10) is True
    stats = client.stats()
    assert (stats.queued, stats.sent, stats.batches_sent) == (0, 40, 8)
    names = [event["payload"]["data"].get("name") for _, event in recorder.events()]
    assert names == [None] + [f"c{n}" for n in range(39)]  # batches arrive in order


def test_flush_returns_false_at_its_timeout(recorder: IngestRecorder) -> None:
    recorder.delay = 2.0
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=60)
    client.agent("slow", heartbeat_interval=0)
    started = time.monotonic()
    assert client.flush(0.3) is False
    assert time.monotonic() - started < 1.0
    client.shutdown(timeout=0.1)


def test_shutdown_delivers_what_is_queued(recorder: IngestRecorder) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=60)
    agent = client.agent("closing", heartbeat_interval=0)
    for n in range(30):
        agent.llm_call(f"c{n}", "m")
    assert client.shutdown(timeout=5) is True
    events = [event for _, event in recorder.events()]
    assert len(events) == 32
    assert events[-1]["payload"]["kind"] == "agent_shutdown"  # so HiveBoard shows it offline
    agent.llm_call("late", "m")  # after shutdown: counted, never raised
    assert client.stats().dropped == {"closed": 1}


def test_shutdown_returns_within_its_timeout_when_the_server_is_down(
    closed_port_url: str,
) -> None:
    client = hiveloop.init(api_key="hb_x", endpoint=closed_port_url, flush_interval=0.05)
    client.agent("down", heartbeat_interval=0)
    time.sleep(0.2)  # the sender is now between retries
    started = time.monotonic()
    assert client.shutdown(timeout=1.0) is False
    assert time.monotonic() - started < 2.0
    assert client.stats().dropped.get("shutdown") == 2  # registration and shutdown notice


def test_shutdown_returns_within_its_timeout_when_the_server_hangs(
    recorder: IngestRecorder,
) -> None:
    recorder.delay = 5.0
    client = hiveloop.init(api_key="hb_x", endpoint=recorder.url, flush_interval=60)
    client.agent("hung", heartbeat_interval=0)
    started = time.monotonic()
    client.shutdown(timeout=0.5)
    assert time.monotonic() - started < 2.0
    recorder.delay = 0


def _run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def test_events_are_flushed_at_interpreter_exit(recorder: IngestRecorder) -> None:
    result = _run_script(
        f"""
        import hiveloop
        hb = hiveloop.init(api_key="hb_x", endpoint="{recorder.url}", flush_interval=60)
        agent = hb.agent("exiting", heartbeat_interval=0)
        with agent.task("last-task") as task:
            task.llm_call("final", "gpt-4o")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # the SDK never prints
    types = [event["event_type"] for _, event in recorder.events()]
    assert types == ["agent_registered", "task_started", "custom", "task_completed", "custom"]


def test_a_forked_child_gets_a_working_transport(recorder: IngestRecorder) -> None:
    result = _run_script(
        f"""
        import os, hiveloop
        hb = hiveloop.init(api_key="hb_x", endpoint="{recorder.url}", flush_interval=0.05)
        agent = hb.agent("forking", heartbeat_interval=0)
        agent.llm_call("parent-before", "m")
        assert hb.flush(5)
        pid = os.fork()
        if pid == 0:
            agent.llm_call("child", "m")
            ok = hiveloop.flush(5)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        agent.llm_call("parent-after", "m")
        assert hiveloop.flush(5)
        raise SystemExit(os.waitstatus_to_exitcode(status))
        """
    )
    assert result.returncode == 0, result.stderr
    names = [
        event["payload"]["data"]["name"]
        for _, event in recorder.events()
        if event.get("payload", {}).get("kind") == "llm_call"
    ]
    assert sorted(names) == ["child", "parent-after", "parent-before"]


class _CutOffServer:
    """A loopback server whose first answer is a 503 cut off mid-body, then plain 200s.

    Written on a raw socket because a well-behaved HTTP server cannot send a body
    shorter than its Content-Length; proxies that drop the connection do.
    """

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if self.requests == 1:
                    answer = b'HTTP/1.1 503 Unavailable\r\nContent-Length: 100\r\n\r\n{"err'
                else:
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                conn.sendall(answer)

    def close(self) -> None:
        self._sock.close()


def test_a_5xx_whose_body_is_cut_off_is_still_retried(sleeps: RecordingSleep) -> None:
    server = _CutOffServer()
    try:
        client = hiveloop.init(api_key="hb_x", endpoint=server.url)
        client._worker = BackgroundWorker(
            HttpTransport(server.url, "hb_x"),
            batch_size=100,
            flush_interval=0.05,
            max_queue_size=100,
            sleep=sleeps,
        )
        client.agent("cut-off", heartbeat_interval=0)
        assert client.flush(5)
        stats = client.stats()
        assert (stats.sent, stats.retried, stats.dropped) == (1, 1, {})
        assert sleeps.delays == [1.0]
        assert server.requests == 2
    finally:
        hiveloop.reset()
        server.close()


def test_a_308_redirect_is_followed_on_the_same_host(
    worker_client: Any, recorder: IngestRecorder
) -> None:
    recorder.respond(308, headers={"Location": "/moved/v1/ingest"})
    recorder.respond(200, times=2)
    agent = _one_event(worker_client, "redirected")
    assert worker_client.flush(5)
    agent.llm_call("after", "m")
    assert worker_client.flush(5)
    paths = [request.path for request in recorder.requests]
    assert paths == ["/v1/ingest", "/moved/v1/ingest", "/moved/v1/ingest"]
    moved = recorder.requests[1]
    assert moved.headers["authorization"] == "Bearer hb_test_x"
    assert moved.json == recorder.requests[0].json
    assert worker_client.stats().sent == 2


def test_a_redirect_to_another_host_is_not_followed_with_the_key(
    worker_client: Any, recorder: IngestRecorder
) -> None:
    with IngestRecorder() as elsewhere:
        recorder.respond(307, headers={"Location": elsewhere.url + "/v1/ingest"})
        _one_event(worker_client, "not-redirected")
        assert worker_client.flush(5) is False
        assert elsewhere.requests == []
    stats = worker_client.stats()
    assert stats.dropped == {"rejected": 1}
    assert "HTTP 307" in (stats.last_error or "")
