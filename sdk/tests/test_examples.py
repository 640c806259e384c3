"""The scripts in examples/ run as a user would run them, against a loopback server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from recorder import IngestRecorder

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_and_reports(script: os.PathLike[str], recorder: IngestRecorder) -> None:
    env = {
        **os.environ,
        "HIVELOOP_API_KEY": "hb_test_examples",
        "HIVELOOP_ENDPOINT": recorder.url,
        "EXAMPLE_RUN_SECONDS": "0.2",
    }
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    types = {event["event_type"] for _, event in recorder.events()}
    assert {"agent_registered", "heartbeat"} <= types


def test_every_example_is_exercised() -> None:
    assert {path.stem for path in EXAMPLES} >= {
        "three_line_agent",
        "full_story_agent",
        "asyncio_agent",
        "threaded_workers",
    }
