"""Lone UTF-16 surrogates in what the user passes never cost an event or its batch.

A str decoded with ``surrogateescape`` (a file name with invalid bytes, often inside an
exception message) encodes to ``"\\udcff"``, which strict JSON parsers refuse: HiveBoard
answered such a batch with a 400, which the SDK does not retry, so all its events were lost.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sent_events
from hiveloop._unicode import replace_lone_surrogates
from recorder import IngestRecorder

BAD = b"bad \xff name".decode(errors="surrogateescape")  # "bad \udcff name"
FIXED = "bad \ufffd name"


def _strings(value: Any) -> list[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_lone_surrogates_reach_the_server_as_u_fffd(
    hb: Any, recorder: IngestRecorder, validate_body: Any
) -> None:
    agent = hb.agent(f"agent {BAD}", heartbeat_interval=0)

    @agent.track("open_file")
    def open_file() -> None:
        raise OSError(f"cannot open {BAD}")

    with pytest.raises(OSError), agent.task(f"task {BAD}") as task:
        task.event("custom", payload={"summary": BAD, "data": {f"key {BAD}": [BAD]}})
        task.llm_call(f"score {BAD}", "model", tokens_in=1)
        agent.event("custom", payload={"summary": "bee \U0001f41d, lone \ud83d"})
        open_file()

    events = sent_events(recorder, hb)
    assert {e["event_type"] for e in events} >= {"task_started", "custom", "action_failed"}
    bodies = [r.body for r in recorder.requests]
    assert bodies and not any(b"\\udcff" in b or b'\\ud83d"' in b for b in bodies)
    for body in recorder.bodies():
        validate_body(body)
        for text in _strings(body):
            text.encode("utf-8")  # strict: a lone surrogate would raise here
    assert {e["agent_id"] for e in events} == {f"agent {FIXED}"}
    assert {e["task_id"] for e in events if "task_id" in e} == {f"task {FIXED}"}
    by_summary = {e["payload"].get("summary"): e for e in events if e.get("payload")}
    assert by_summary[FIXED]["payload"]["data"] == {f"key {FIXED}": [FIXED]}
    assert "bee \U0001f41d, lone \ufffd" in by_summary
    failed = next(e for e in events if e["event_type"] == "action_failed")
    assert failed["payload"]["exception_message"] == f"cannot open {FIXED}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a"', '"a"'),
        ('"\\ud83d\\udc1d"', '"\\ud83d\\udc1d"'),  # a pair: one non-BMP character
        ('"\\udcff"', '"\\ufffd"'),
        ('"\\ud83d"', '"\\ufffd"'),
        ('"\\ud83d\\ud83d\\udc1d"', '"\\ufffd\\ud83d\\udc1d"'),
        ('"\\udc1d\\ud83d"', '"\\ufffd\\ufffd"'),  # low then high is no pair
        ('"\\ud83dx\\udc1d"', '"\\ufffdx\\ufffd"'),
        ('"\\\\udcff"', '"\\\\udcff"'),  # an escaped backslash, then the text udcff
        ('"\\\\\\udcff"', '"\\\\\\ufffd"'),
        ('"\\ud83d\\\\udc1d"', '"\\ufffd\\\\udc1d"'),
    ],
)
def test_only_lone_surrogate_escapes_are_replaced(text: str, expected: str) -> None:
    assert replace_lone_surrogates(text) == expected
