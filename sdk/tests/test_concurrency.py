"""Tasks and actions stay in their own thread or asyncio task: nothing lands under another."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

import hiveloop
from conftest import sent_events
from recorder import IngestRecorder


def _check_trees(events: list[dict[str, Any]], expected_runs: int) -> None:
    """Every action sits in the task its name says, under the parent its name says."""
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_run[event["task_run_id"]].append(event)
    assert len(by_run) == expected_runs
    for run_events in by_run.values():
        task_id = run_events[0]["task_id"]
        assert {e["task_id"] for e in run_events} == {task_id}
        starts = {
            e["payload"]["action_name"]: e
            for e in run_events
            if e["event_type"] == "action_started"
        }
        assert set(starts) == {f"{task_id}/outer", f"{task_id}/inner", f"{task_id}/leaf"}
        outer, inner, leaf = (starts[f"{task_id}/{n}"] for n in ("outer", "inner", "leaf"))
        assert "parent_action_id" not in outer
        assert inner["parent_action_id"] == outer["action_id"]
        assert leaf["parent_action_id"] == inner["action_id"]
        llm = [e for e in run_events if e.get("payload", {}).get("kind") == "llm_call"]
        assert [e["action_id"] for e in llm] == [leaf["action_id"]]
        assert llm[0]["payload"]["data"]["name"] == task_id
        kinds = [e["event_type"] for e in run_events]
        assert kinds[0] == "task_started" and kinds[-1] == "task_completed"


def test_hundred_concurrent_asyncio_tasks(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("async-fleet", heartbeat_interval=0)

    async def run_one(n: int) -> None:
        task_id = f"job-{n}"
        with agent.task(task_id) as task:
            async with agent.track_context(f"{task_id}/outer"):
                await asyncio.sleep(0.001 * (n % 7))
                async with agent.track_context(f"{task_id}/inner"):
                    await asyncio.sleep(0)
                    async with agent.track_context(f"{task_id}/leaf"):
                        await asyncio.sleep(0.001 * (n % 3))
                        task.llm_call(task_id, "gpt-4o", tokens_in=1, tokens_out=1)

    async def main() -> None:
        await asyncio.gather(*(run_one(n) for n in range(100)))

    asyncio.run(main())
    _check_trees(sent_events(recorder, hb), expected_runs=100)


def test_eight_threads_running_tasks_with_nested_tracked_actions(
    hb: Any, recorder: IngestRecorder
) -> None:
    agent = hb.agent("threaded", heartbeat_interval=0)
    barrier = threading.Barrier(8)

    def worker(thread_no: int) -> None:
        barrier.wait()
        for round_no in range(10):
            task_id = f"t{thread_no}-{round_no}"

            @agent.track(f"{task_id}/leaf")
            def leaf(task: hiveloop.Task, task_id: str = task_id) -> None:
                task.llm_call(task_id, "gpt-4o")

            @agent.track(f"{task_id}/inner")
            def inner(task: hiveloop.Task) -> None:
                leaf(task)

            @agent.track(f"{task_id}/outer")
            def outer(task: hiveloop.Task) -> None:
                inner(task)

            with agent.task(task_id) as task:
                outer(task)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    _check_trees(sent_events(recorder, hb), expected_runs=80)


def test_nested_task_restores_its_parent(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("nested-tasks", heartbeat_interval=0)
    with agent.task("parent"):
        with agent.task("child"):
            agent.llm_call("in-child", "m")
        agent.llm_call("in-parent", "m")
    llm = [e for e in sent_events(recorder, hb) if e["event_type"] == "custom"]
    assert [(e["payload"]["data"]["name"], e["task_id"]) for e in llm] == [
        ("in-child", "child"),
        ("in-parent", "parent"),
    ]


def test_task_started_in_one_thread_and_ended_in_another(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("handoff", heartbeat_interval=0)
    task = agent.start_task("long-job")
    ender = threading.Thread(target=task.complete)
    ender.start()
    ender.join(5)
    agent.llm_call("after", "m")  # the task has ended: the call belongs to no task
    events = sent_events(recorder, hb)
    assert [e["event_type"] for e in events] == ["task_started", "task_completed", "custom"]
    assert "task_id" not in events[2]


def test_threads_do_not_see_each_others_tasks(hb: Any, recorder: IngestRecorder) -> None:
    agent = hb.agent("isolated", heartbeat_interval=0)
    inside = threading.Event()
    release = threading.Event()

    def hold_task() -> None:
        with agent.task("held"):
            inside.set()
            release.wait(5)

    holder = threading.Thread(target=hold_task)
    holder.start()
    inside.wait(5)
    agent.llm_call("outside", "m")
    release.set()
    holder.join(5)
    llm = [e for e in sent_events(recorder, hb) if e["event_type"] == "custom"]
    assert "task_id" not in llm[0]
