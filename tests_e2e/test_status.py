"""An agent walks idle → processing → stuck → idle → offline, seen through the query API.

``stuck`` is a task with no event for longer than ``stuck_threshold`` while heartbeats keep
arriving; ``offline`` is a process that exits without ``shutdown`` (no goodbye), so only
the server's background detector can notice either: nothing is ingested when they
become due. The agent uses a 3 s threshold and 1 s heartbeats; the server's detector
runs every 0.2 s (conftest.py), so each wait is bounded by threshold + a few seconds.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests_e2e.hbserver import HiveBoardProcess, wait_for

SCRIPT = Path(__file__).with_name("agent_hang.py")
DUE_S = 15.0  # threshold (3 s) + heartbeat, batching and detector slack, generously


def _status(server: HiveBoardProcess, agent_id: str) -> dict[str, Any] | None:
    items = server.get("/v1/agents", agent=agent_id)["items"]
    return items[0] if items else None


def _reaches(server: HiveBoardProcess, agent_id: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        agent = _status(server, agent_id)
        return agent if agent is not None and agent["status"] == status else None

    return wait_for(probe, DUE_S, f"{agent_id} to become {status}")


def _send(proc: subprocess.Popen[str], command: str, answer: str | None = None) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    if answer is not None:
        line = proc.stdout.readline().strip()
        assert line == answer, f"agent answered {line!r} to {command!r}"


def test_idle_processing_stuck_offline(
    hiveboard: HiveBoardProcess, sdk_python: Path, tmp_path: Path
) -> None:
    agent_id = f"hang-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [str(sdk_python), str(SCRIPT), hiveboard.url, hiveboard.key, agent_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "registered"
        _reaches(hiveboard, agent_id, "idle")

        _send(proc, "start", "started")
        processing = _reaches(hiveboard, agent_id, "processing")
        assert processing["current_task_id"] == f"{agent_id}-hang"

        stuck = _reaches(hiveboard, agent_id, "stuck")
        assert "no event for" in stuck["status_reason"]
        assert "alive" in stuck["status_reason"], stuck["status_reason"]  # heartbeats go on
        assert stuck["heartbeat_age_seconds"] is not None
        assert stuck["heartbeat_age_seconds"] < 3, "heartbeats stopped while the task hung"
        (run,) = hiveboard.get("/v1/tasks", agent=agent_id)["items"]
        assert run["status"] == "stuck", run

        _send(proc, "release", "released")
        _reaches(hiveboard, agent_id, "idle")
        (run,) = hiveboard.get("/v1/tasks", agent=agent_id)["items"]
        assert run["status"] == "completed", run
        assert run["duration_ms"] >= 3000

        _send(proc, "exit")
        assert proc.wait(10) == 0
        offline = _reaches(hiveboard, agent_id, "offline")
        assert "no task open" in offline["status_reason"], offline["status_reason"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    history = hiveboard.get(f"/v1/agents/{agent_id}")["status_history"]
    walked = [h["to_status"] for h in reversed(history)]
    assert walked == ["idle", "processing", "stuck", "idle", "offline"], history
    assert all(h["reason"] for h in history)
