"""A realistic, reproducible stream of wire-format events for the server benchmarks.

Both ingest.py and queries.py need lots of events that look like what agents send (so
the derived tables do their real work: task runs, action trees, LLM calls with reported
and estimated costs, heartbeats, queue snapshots, failures), cheaply: no SDK, no random
module in the hot loop, ids from counters. A task cycle is about 11 events:

task_started, action_started (root), action_started (child), llm_call (cost reported),
action_completed, action_started (child), llm_call (tokens only: the server prices it),
action_completed, action_completed (root), task_completed or, one in 20, task_failed,
heartbeat; every 5th task adds a queue_snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

PROJECTS = ("sales-pipeline", "support", "billing", "research", "ops")
TASK_TYPES = ("lead", "ticket", "invoice", "report")
MODELS = ("claude-sonnet-4", "gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-latest")


def envelope(agent_id: str, index: int) -> dict[str, Any]:
    """The envelope of one simulated agent (groups and environments spread evenly)."""
    return {
        "agent_id": agent_id,
        "agent_type": TASK_TYPES[index % len(TASK_TYPES)],
        "agent_version": "1.0.0",
        "framework": "custom",
        "runtime": "python-3.11.7",
        "sdk_version": "hiveloop-0.3.0",
        "environment": "production" if index % 4 else "staging",
        "group": f"team-{index % 10}",
    }


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AgentSim:
    """One agent's event stream: ``take(n)`` returns its next ``n`` events.

    ``id_space`` must be unique per (run, agent) so that event ids never collide; the
    timestamps advance by ``step`` per event from ``start``.
    """

    def __init__(
        self, agent_id: str, index: int, id_space: int, start: datetime, step: timedelta
    ) -> None:
        self.agent_id = agent_id
        self.index = index
        self.envelope = envelope(agent_id, index)
        self._prefix = f"{id_space:08x}-{index & 0xFFFF:04x}-4000-8000-"
        self._counter = 0
        self._ts = start
        self._step = step
        self._task = 0
        self._pending: list[dict[str, Any]] = []

    def _id(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:012x}"

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        self._ts += self._step
        return {
            "event_id": self._id(),
            "timestamp": _iso(self._ts),
            "event_type": event_type,
            **fields,
        }

    def _cycle(self) -> list[dict[str, Any]]:
        n = self._task = self._task + 1
        i = self.index
        task = {
            "task_id": f"{self.agent_id}-task-{n}",
            "task_run_id": self._id(),
            "task_type": TASK_TYPES[(i + n) % len(TASK_TYPES)],
            "project_id": PROJECTS[(i + n) % len(PROJECTS)],
        }
        root, a, b = self._id(), self._id(), self._id()
        model_a = MODELS[n % len(MODELS)]
        model_b = MODELS[(n + 1) % len(MODELS)]
        tin, tout = 500 + (n * 37) % 3000, 50 + (n * 13) % 700
        failed = n % 20 == 0
        ev = self._event
        out = [
            ev("task_started", **task, payload={"summary": f"Task {task['task_id']} started"}),
            ev(
                "action_started",
                **task,
                action_id=root,
                payload={"action_name": "handle", "function": "agent.handle"},
            ),
            ev(
                "action_started",
                **task,
                action_id=a,
                parent_action_id=root,
                payload={"action_name": "research", "function": "agent.research"},
            ),
            ev(
                "custom",
                **task,
                action_id=a,
                payload={
                    "kind": "llm_call",
                    "summary": f"research → {model_a} ({tin} in / {tout} out, $0.0042)",
                    "data": {
                        "name": "research",
                        "model": model_a,
                        "tokens_in": tin,
                        "tokens_out": tout,
                        "cost": 0.0042,
                        "duration_ms": 800 + n % 900,
                        "prompt_preview": "Find facts about the lead...",
                        "response_preview": "The company was founded...",
                    },
                },
            ),
            ev(
                "action_completed",
                **task,
                action_id=a,
                parent_action_id=root,
                status="success",
                duration_ms=900,
                payload={"action_name": "research"},
            ),
            ev(
                "action_started",
                **task,
                action_id=b,
                parent_action_id=root,
                payload={"action_name": "decide", "function": "agent.decide"},
            ),
            ev(
                "custom",
                **task,
                action_id=b,
                payload={
                    "kind": "llm_call",
                    "summary": f"decide → {model_b} ({tout} in / {tin // 10} out)",
                    "data": {
                        "name": "decide",
                        "model": model_b,
                        "tokens_in": tout,
                        "tokens_out": tin // 10,
                        "duration_ms": 400 + n % 300,
                    },
                },
            ),
            ev(
                "action_completed",
                **task,
                action_id=b,
                parent_action_id=root,
                status="success",
                duration_ms=450,
                payload={"action_name": "decide"},
            ),
        ]
        if failed:
            out += [
                ev(
                    "action_failed",
                    **task,
                    action_id=root,
                    status="failure",
                    duration_ms=1500,
                    payload={
                        "action_name": "handle",
                        "exception_type": "TimeoutError",
                        "exception_message": "CRM did not answer in 30 s",
                    },
                ),
                ev(
                    "task_failed",
                    **task,
                    status="failure",
                    duration_ms=1600,
                    payload={
                        "summary": f"Task {task['task_id']} failed",
                        "exception_type": "TimeoutError",
                        "exception_message": "CRM did not answer in 30 s",
                    },
                ),
            ]
        else:
            out += [
                ev(
                    "action_completed",
                    **task,
                    action_id=root,
                    status="success",
                    duration_ms=1500,
                    payload={"action_name": "handle"},
                ),
                ev(
                    "task_completed",
                    **task,
                    status="success",
                    duration_ms=1600,
                    payload={"summary": f"Task {task['task_id']} completed", "score": n % 100},
                ),
            ]
        out.append(ev("heartbeat", payload={"summary": "alive"}))
        if n % 5 == 0:
            out.append(
                ev(
                    "custom",
                    payload={
                        "kind": "queue_snapshot",
                        "summary": f"Queue: {n % 17} items",
                        "data": {
                            "depth": n % 17,
                            "oldest_age_seconds": 30 + n % 300,
                            "items": [{"id": f"item-{n}", "priority": "normal"}],
                        },
                    },
                )
            )
        return out  # fmt: skip

    def registration(self) -> dict[str, Any]:
        """The agent_registered event an SDK sends first (stuck threshold: one hour)."""
        return self._event(
            "agent_registered",
            payload={
                "summary": f"Agent {self.agent_id} registered",
                "data": {"type": self.envelope["agent_type"], "version": "1.0.0",
                         "framework": "custom", "stuck_threshold": 3600,
                         "heartbeat_interval": 30},
            },
        )  # fmt: skip

    def take(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` events of this agent, in order."""
        while len(self._pending) < n:
            self._pending.extend(self._cycle())
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def fleet(
    agents: int, id_space: int, start: datetime, step: timedelta, first_index: int = 0
) -> list[AgentSim]:
    """``agents`` simulated agents named ``agent-0000``…, indexes from ``first_index``."""
    return [
        AgentSim(f"agent-{i:04d}", i, id_space, start, step)
        for i in range(first_index, first_index + agents)
    ]


def batches(sims: list[AgentSim], batch_size: int) -> Iterator[dict[str, Any]]:
    """Wire bodies round-robin over the agents, each starting with its registration."""
    for sim in sims:
        yield {"envelope": sim.envelope, "events": [sim.registration()]}
    while True:
        for sim in sims:
            yield {"envelope": sim.envelope, "events": sim.take(batch_size)}


def utcnow() -> datetime:
    return datetime.now(UTC)
