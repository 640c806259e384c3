"""@agent.track and track_context: every kind of function, nesting, failures."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from conftest import sent_events
from recorder import IngestRecorder


def _by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == event_type]


def test_decorator_keeps_name_docstring_and_signature(hb: Any) -> None:
    agent = hb.agent("meta", heartbeat_interval=0)

    @agent.track("fetch")
    def fetch_crm_data(lead_id: str, *, verbose: bool = False) -> str:
        """Fetch a lead."""
        return lead_id

    assert fetch_crm_data.__name__ == "fetch_crm_data"
    assert fetch_crm_data.__doc__ == "Fetch a lead."
    signature = inspect.signature(fetch_crm_data)
    assert list(signature.parameters) == ["lead_id", "verbose"]
    assert signature == inspect.signature(fetch_crm_data.__wrapped__)  # type: ignore[attr-defined]
    assert fetch_crm_data("lead-1") == "lead-1"


def test_nested_sync_and_async_actions_form_a_tree(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("nesting", heartbeat_interval=0)

    @agent.track("fetch_crm_data")
    def fetch_crm_data(lead_id: str) -> dict[str, str]:
        return {"id": lead_id, "company": "BlueStar"}

    @agent.track("enrich_company")
    async def enrich_company(name: str) -> str:
        await asyncio.sleep(0)
        return name.upper()

    @agent.track("process_lead")
    async def process_lead(lead_id: str) -> str:
        lead = fetch_crm_data(lead_id)
        return await enrich_company(lead["company"])

    with agent.task("task-001"):
        assert asyncio.run(process_lead("lead-4821")) == "BLUESTAR"
    events = sent_events(recorder, hb)
    started = {e["payload"]["action_name"]: e for e in _by_type(events, "action_started")}
    root = started["process_lead"]
    assert "parent_action_id" not in root
    assert started["fetch_crm_data"]["parent_action_id"] == root["action_id"]
    assert started["enrich_company"]["parent_action_id"] == root["action_id"]
    assert root["payload"]["function"].endswith("process_lead")
    completed = _by_type(events, "action_completed")
    assert [e["payload"]["action_name"] for e in completed] == [
        "fetch_crm_data",
        "enrich_company",
        "process_lead",
    ]
    assert all(e["status"] == "success" and e["duration_ms"] >= 0 for e in completed)
    assert all(e["task_id"] == "task-001" for e in events)


def test_failure_is_recorded_and_reraised_unchanged(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("failing", heartbeat_interval=0)

    class CrmError(Exception):
        pass

    error = CrmError("403 from CRM")

    @agent.track("call_crm")
    def call_crm() -> None:
        raise error

    with agent.task("t") as task:
        with pytest.raises(CrmError) as raised:
            call_crm()
        task.retry("retrying CRM", attempt=1)
    assert raised.value is error
    events = sent_events(recorder, hb)
    failed = _by_type(events, "action_failed")[0]
    assert failed["status"] == "failure"
    assert failed["payload"]["exception_type"].endswith("CrmError")
    assert failed["payload"]["exception_message"] == "403 from CRM"
    retry = _by_type(events, "retry_started")[0]
    assert retry["parent_event_id"] == failed["event_id"]


def test_cancellation_closes_the_action_as_failed(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("cancelled", heartbeat_interval=0)

    @agent.track("slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        job = asyncio.ensure_future(slow())
        await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(main())
    failed = _by_type(sent_events(recorder, hb), "action_failed")
    assert failed[0]["payload"]["exception_type"] == "CancelledError"


def test_keyboard_interrupt_is_recorded_and_propagates(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("interrupted", heartbeat_interval=0)

    @agent.track()
    def work() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        work()
    failed = _by_type(sent_events(recorder, hb), "action_failed")[0]
    assert failed["payload"]["action_name"].endswith("work")
    assert failed["payload"]["exception_type"] == "KeyboardInterrupt"


def test_generator_action_spans_the_iteration_without_adopting_the_caller(
    hb: Any, recorder: IngestRecorder
) -> None:
    agent = hb.agent("gen", heartbeat_interval=0)

    @agent.track("inner")
    def inner() -> None:
        return None

    @agent.track("pages")
    def pages() -> Iterator[int]:
        inner()
        yield 1
        yield 2

    @agent.track("consumer_step")
    def consumer_step() -> None:
        return None

    with agent.task("t"):
        seen = []
        for page in pages():
            consumer_step()  # runs while pages() is suspended: not its child
            seen.append(page)
    assert seen == [1, 2]
    events = sent_events(recorder, hb)
    started = {e["payload"]["action_name"]: e for e in _by_type(events, "action_started")}
    assert started["inner"]["parent_action_id"] == started["pages"]["action_id"]
    assert "parent_action_id" not in started["consumer_step"]
    order = [(e["event_type"], e["payload"]["action_name"]) for e in events[1:-1]]
    assert order[-1] == ("action_completed", "pages")


def test_generator_closed_early_completes(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("gen-closed", heartbeat_interval=0)

    @agent.track("stream")
    def stream() -> Iterator[int]:
        yield from range(10)

    for item in stream():
        if item == 2:
            break
    completed = _by_type(sent_events(recorder, hb), "action_completed")
    assert completed[0]["payload"]["action_name"] == "stream"


def test_generator_failure_and_send(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("gen-fail", heartbeat_interval=0)

    @agent.track("echo")
    def echo() -> Iterator[Any]:
        received = yield "ready"
        raise ValueError(f"got {received}")

    gen = echo()
    assert next(gen) == "ready"
    with pytest.raises(ValueError, match="got ping"):
        gen.send("ping")
    failed = _by_type(sent_events(recorder, hb), "action_failed")[0]
    assert failed["payload"]["exception_message"] == "got ping"


def test_async_generator_action(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("agen", heartbeat_interval=0)

    @agent.track("inner")
    async def inner() -> int:
        return 1

    @agent.track("ticks")
    async def ticks() -> AsyncIterator[int]:
        yield await inner()
        yield 2

    async def main() -> list[int]:
        return [tick async for tick in ticks()]

    assert asyncio.run(main()) == [1, 2]
    events = sent_events(recorder, hb)
    started = {e["payload"]["action_name"]: e for e in _by_type(events, "action_started")}
    assert started["inner"]["parent_action_id"] == started["ticks"]["action_id"]
    assert _by_type(events, "action_completed")[-1]["payload"]["action_name"] == "ticks"


def test_track_context_with_payload_and_async_with(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("inline", heartbeat_interval=0)
    with agent.task("t"), agent.track_context("data_processing") as action:
        action.set_payload({"items_processed": 3})

    async def main() -> None:
        async with agent.track_context("async_block"):
            await asyncio.sleep(0)

    asyncio.run(main())
    completed = _by_type(sent_events(recorder, hb), "action_completed")
    assert completed[0]["payload"] == {"action_name": "data_processing", "items_processed": 3}
    assert completed[1]["payload"]["action_name"] == "async_block"
    assert "task_id" not in completed[1]
