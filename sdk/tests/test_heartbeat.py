"""Heartbeats: the first at once, then on the agent's interval, with callback data."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from recorder import IngestRecorder


def _heartbeats(recorder: IngestRecorder, agent_id: str) -> list[dict[str, Any]]:
    return [
        event
        for envelope, event in recorder.events()
        if event["event_type"] == "heartbeat" and envelope["agent_id"] == agent_id
    ]


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_first_heartbeat_goes_out_at_registration(hb: Any, recorder: IngestRecorder) -> None:
    hb.agent("prompt", heartbeat_interval=3600)
    assert hb.flush(5)
    beats = _heartbeats(recorder, "prompt")
    assert len(beats) == 1
    assert beats[0]["severity"] == "debug"
    assert "payload" not in beats[0]


def test_heartbeats_repeat_on_the_interval_with_payload_and_queue(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    depth = iter(range(100))
    hb.agent(
        "pulsing",
        heartbeat_interval=0.1,
        heartbeat_payload=lambda: {"crm_sync": True, "queue_depth": 4},
        queue_provider=lambda: {"depth": next(depth), "oldest_age_seconds": 12},
    )
    _wait_for(lambda: len(_heartbeats(recorder, "pulsing")) >= 3)
    beat = _heartbeats(recorder, "pulsing")[0]
    assert beat["payload"] == {"crm_sync": True, "queue_depth": 4}
    snapshots = [
        event
        for _, event in recorder.events()
        if (event.get("payload") or {}).get("kind") == "queue_snapshot"
    ]
    assert [s["payload"]["data"]["depth"] for s in snapshots[:3]] == [0, 1, 2]
    assert snapshots[0]["payload"]["summary"] == "Queue: 0 items, oldest 12s"
    for body in recorder.bodies():
        validate_body(body)


def test_failing_callbacks_are_skipped_and_heartbeats_continue(
    hb: Any, recorder: IngestRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("metrics backend down")

    with caplog.at_level(logging.WARNING, logger="hiveloop"):
        hb.agent(
            "resilient",
            heartbeat_interval=0.05,
            heartbeat_payload=broken,
            queue_provider=lambda: ["not", "a", "dict"],  # type: ignore[arg-type,return-value]
        )
        _wait_for(lambda: len(_heartbeats(recorder, "resilient")) >= 3)
    assert all("payload" not in beat for beat in _heartbeats(recorder, "resilient"))
    assert "metrics backend down" in caplog.text
    assert "returned list, not a dict" in caplog.text
    kinds = [(e.get("payload") or {}).get("kind") for _, e in recorder.events()]
    assert "queue_snapshot" not in kinds


def test_queue_provider_without_depth_is_skipped(
    hb: Any, recorder: IngestRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    hb.agent("shallow", heartbeat_interval=3600, queue_provider=lambda: {"oldest_age_seconds": 3})
    assert hb.flush(5)
    kinds = [(e.get("payload") or {}).get("kind") for _, e in recorder.events()]
    assert "queue_snapshot" not in kinds
    assert "no 'depth'" in caplog.text


def test_zero_interval_disables_heartbeats(hb: Any, recorder: IngestRecorder) -> None:
    hb.agent("silent", heartbeat_interval=0)
    assert hb.flush(5)
    assert _heartbeats(recorder, "silent") == []


def test_shutdown_stops_heartbeats(hb: Any, recorder: IngestRecorder) -> None:
    hb.agent("stopping", heartbeat_interval=0.05)
    _wait_for(lambda: len(_heartbeats(recorder, "stopping")) >= 2)
    hb.shutdown(timeout=2)
    count = len(_heartbeats(recorder, "stopping"))
    time.sleep(0.2)
    assert len(_heartbeats(recorder, "stopping")) == count
