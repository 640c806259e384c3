"""hiveloop.testing: users assert on their agent's events without a server."""

from __future__ import annotations

from typing import Any

import hiveloop
from hiveloop.testing import Capture, capture


def test_capture_collects_the_agent_story(validate_body: Any) -> None:
    with capture() as captured:
        agent = captured.client.agent("scorer", heartbeat_interval=0)
        with agent.task("t-1") as task:
            task.llm_call("score", "gpt-4o", tokens_in=10, tokens_out=2)
        assert captured.event_types() == ["task_started", "custom", "task_completed"]
        assert captured.kinds() == ["llm_call"]
        assert captured.events("task_completed")[0]["agent_id"] == "scorer"
        assert len(captured.events(include_heartbeats=True)) == 4
        for body in captured.bodies():
            validate_body(body)
    assert hiveloop.get_client() is None


def test_pytest_fixture_is_registered(hiveloop_capture: Capture) -> None:
    agent = hiveloop_capture.client.agent("fixture-agent", heartbeat_interval=0)
    agent.report_issue("disk almost full", severity="medium")
    assert hiveloop_capture.kinds() == ["issue"]
