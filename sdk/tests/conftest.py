"""Shared fixtures for the SDK suite: the loopback ingest recorder and the wire-format schema."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The schema helper lives outside any distribution so both suites share one definition.
sys.path.insert(0, str(REPO_ROOT / "protocol"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hiveprotocol  # noqa: E402
from recorder import IngestRecorder  # noqa: E402


@pytest.fixture
def recorder() -> Iterator[IngestRecorder]:
    """A started IngestRecorder, closed at teardown."""
    with IngestRecorder() as rec:
        yield rec


@pytest.fixture
def validate_body() -> Callable[[dict[str, Any]], None]:
    """The wire-format validator: raises jsonschema.ValidationError on a non-conforming body."""
    return hiveprotocol.validate_body


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A loopback URL that refuses connections.

    The socket stays bound but never listens, so the port cannot be reused by anyone else
    during the test and every connect gets an immediate refusal.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def _fresh_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without a client and without HIVELOOP_* variables."""
    import hiveloop

    for name in ("HIVELOOP_API_KEY", "HIVELOOP_ENDPOINT", "HIVELOOP_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    hiveloop.reset()
    yield
    hiveloop.reset()


@pytest.fixture
def hb(recorder: IngestRecorder) -> Iterator[Any]:
    """A client reporting to the recorder, flushing quickly; shut down before the recorder."""
    import hiveloop

    yield hiveloop.init(api_key="hb_test_sdk", endpoint=recorder.url, flush_interval=0.05)
    hiveloop.reset()


def sent_events(recorder: IngestRecorder, client: Any, *, skip_housekeeping: bool = True) -> list:
    """Flush, then the recorded events (each with its envelope's agent_id)."""
    assert client.flush(5.0), client.stats()
    events = []
    for envelope, event in recorder.events():
        kind = (event.get("payload") or {}).get("kind")
        housekeeping = event["event_type"] in ("agent_registered", "heartbeat")
        if skip_housekeeping and (housekeeping or kind == "queue_snapshot"):
            continue
        events.append({"agent_id": envelope["agent_id"], **event})
    return events
