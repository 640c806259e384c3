"""An instrumented agent: registration, heartbeats, tasks, actions and agent-level events."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import _events, _ids
from ._actions import Action, track
from ._log import logger
from ._task import Task
from ._version import SDK_VERSION

if TYPE_CHECKING:
    from ._worker import Record

P = ParamSpec("P")
R = TypeVar("R")

Callback = Callable[[], Mapping[str, Any] | None]
_RUNTIME = f"python-{platform.python_version()}"


class Agent:
    """A long-lived worker reporting to HiveBoard; create it with ``hb.agent(...)``.

    Every method returns at once: events are queued for the background sender
    and nothing here raises into the agent because of delivery problems.
    """

    def __init__(
        self,
        agent_id: str,
        submit: Callable[[Record], None],
        *,
        environment: str,
        group: str,
        type: str = "general",
        version: str | None = None,
        framework: str = "custom",
        heartbeat_interval: float = 30.0,
        stuck_threshold: int = 300,
        heartbeat_payload: Callback | None = None,
        queue_provider: Callback | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._submit = submit
        self._environment = environment
        self._group = group
        self.agent_type = type
        self.version = version
        self.framework = framework
        self.heartbeat_interval = heartbeat_interval
        self.stuck_threshold = stuck_threshold
        self.heartbeat_payload = heartbeat_payload
        self.queue_provider = queue_provider
        self._envelope: str | None = None
        # The current task and action of this agent, per thread and per asyncio task.
        self._task_var: ContextVar[Task | None] = ContextVar(
            f"hiveloop_task_{agent_id}", default=None
        )
        self._action_var: ContextVar[Action | None] = ContextVar(
            f"hiveloop_action_{agent_id}", default=None
        )

    def __repr__(self) -> str:
        return f"Agent({self.agent_id!r}, type={self.agent_type!r})"

    # -- plumbing -------------------------------------------------------------------

    def _emit(self, build: _events.Builder, args: tuple[Any, ...]) -> int:
        """Queue a record for the sender; returns its id number. The hot path: keep it tiny."""
        seq = _ids.next_seq()
        # Concatenation, not (..., *args): that builds a list first, twice the cost.
        self._submit((seq, time.time(), self, build) + args)  # noqa: RUF005
        return seq

    def envelope_json(self) -> str:
        """This agent's batch envelope, serialized once (the sender asks for it per batch)."""
        if self._envelope is None:
            envelope = {
                "agent_id": self.agent_id,
                "agent_type": self.agent_type,
                "agent_version": self.version,
                "framework": self.framework,
                "runtime": _RUNTIME,
                "sdk_version": SDK_VERSION,
                "environment": self._environment,
                "group": self._group,
            }
            self._envelope = json.dumps(_events.drop_none(envelope), separators=(",", ":"))
        return self._envelope

    def _update(self, **metadata: Any) -> None:
        """Apply metadata from a repeated ``hb.agent()`` call for the same id."""
        for name, value in metadata.items():
            setattr(self, name, value)
        self._envelope = None

    def _current_task(self) -> Task | None:
        """The open task of this context; skips tasks already ended from another thread."""
        task = self._task_var.get()
        while task is not None and task.ended:
            task = task.parent
        return task

    def _register(self) -> None:
        meta = {
            "type": self.agent_type,
            "version": self.version,
            "framework": self.framework,
            "stuck_threshold": self.stuck_threshold,
            "heartbeat_interval": self.heartbeat_interval,
        }
        self._emit(_events.agent_registered, ({"agent_id": self.agent_id, "meta": meta},))

    def _announce_shutdown(self) -> None:
        self._emit(
            _events.kind_event,
            (None, None, "agent_shutdown", f"Agent {self.agent_id} shut down", {}, ["lifecycle"]),
        )

    def _beat(self) -> None:
        """Send one heartbeat (and a queue snapshot when a provider is set).

        Runs on the heartbeat thread. A callback that raises or returns
        something unusable is logged and skipped; the heartbeat still goes out.
        """
        payload = _call_callback(self.heartbeat_payload, "heartbeat_payload", self.agent_id)
        self._emit(_events.heartbeat, (payload,))
        queue = _call_callback(self.queue_provider, "queue_provider", self.agent_id)
        if queue is None:
            return
        if "depth" not in queue:
            logger.warning(
                "queue_provider for agent %s returned no 'depth': snapshot skipped", self.agent_id
            )
            return
        self._emit(_events.queue_snapshot_from, (queue,))

    # -- tasks and actions --------------------------------------------------------

    def task(
        self,
        task_id: str,
        project: str | None = None,
        type: str | None = None,
        task_run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Task:
        """A task run to use as a context manager: ``with agent.task("t-1") as task:``."""
        return Task(self, task_id, project, type, task_run_id, correlation_id)

    def start_task(
        self,
        task_id: str,
        project: str | None = None,
        type: str | None = None,
        task_run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Task:
        """Start a task run now; end it with ``task.complete()`` or ``task.fail()``."""
        task = self.task(task_id, project, type, task_run_id, correlation_id)
        task._start()
        return task

    def track(self, action_name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator recording each call as an action (sync, async, generators).

        The function keeps its name, docstring and signature; exceptions are
        recorded and re-raised unchanged.
        """
        return track(self, action_name)

    def track_context(self, action_name: str) -> Action:
        """An action as a context manager (``with`` or ``async with``)."""
        return Action(self, action_name)

    # -- agent-level events -------------------------------------------------------

    def _kind(
        self, kind: str, summary: str, data: dict[str, Any], tags: list[str], scoped: bool = True
    ) -> None:
        task = self._current_task() if scoped else None
        action = self._action_var.get() if scoped else None
        self._emit(_events.kind_event, (task, action, kind, summary, data, tags))

    def _custom(
        self,
        task: Task | None,
        event_type: str,
        payload: Mapping[str, Any] | None,
        severity: str | None,
        parent_event_id: str | None,
    ) -> None:
        if not isinstance(event_type, str) or event_type not in _events.EVENT_TYPES:
            logger.warning(
                "event_type %r is not one of the 13 HiveBoard event types; event not sent",
                event_type,
            )
            return
        if severity is not None and severity not in _events.SEVERITIES:
            logger.warning("severity %r is not debug/info/warn/error; using the default", severity)
            severity = None
        action = self._action_var.get()
        self._emit(_events.custom, (task, action, event_type, payload, severity, parent_event_id))

    def llm_call(
        self,
        name: str,
        model: str,
        *,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        duration_ms: int | None = None,
        prompt_preview: str | None = None,
        response_preview: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an LLM call; inside a task or action it is attributed to them."""
        self._emit_llm_call(
            self._current_task(),
            (name, model, tokens_in, tokens_out, cost, duration_ms),
            (prompt_preview, response_preview, metadata),
        )

    def _emit_llm_call(
        self, task: Task | None, figures: tuple[Any, ...], details: tuple[Any, ...]
    ) -> None:
        """Shared by ``agent.llm_call`` and ``task.llm_call``; the sender builds the event.

        The most frequent call: its record is built here in one go, not through ``_emit``.
        """
        action = self._action_var.get()
        record = (_ids.next_seq(), time.time(), self, _events.llm_call, task, action)
        self._submit(record + figures + details)

    def queue_snapshot(
        self,
        depth: int,
        *,
        oldest_age_seconds: float | None = None,
        items: list[Mapping[str, Any]] | None = None,
        processing: Mapping[str, Any] | None = None,
    ) -> None:
        """Report the agent's work queue: depth, oldest item's age, items, current item."""
        self._emit(_events.queue_snapshot, (depth, oldest_age_seconds, items, processing))

    def todo(
        self,
        todo_id: str,
        action: str,
        summary: str,
        *,
        priority: str | None = None,
        source: str | None = None,
        context: str | None = None,
        due_by: str | None = None,
    ) -> None:
        """A TODO's lifecycle: created, completed, failed, dismissed or deferred."""
        data = _events.drop_none(
            {
                "todo_id": todo_id,
                "action": action,
                "priority": priority,
                "source": source,
                "context": context,
                "due_by": due_by,
            }
        )
        self._kind("todo", summary, data, ["todo", action], scoped=False)

    def scheduled(self, items: list[Mapping[str, Any]]) -> None:
        """The agent's recurring work: ``id``, ``name``, ``next_run``, ``interval``, ``enabled``."""
        items = _events.as_list(items, "scheduled items")
        data = {"items": items}
        self._kind("scheduled", _events.scheduled_summary(items), data, ["scheduled"], scoped=False)

    def report_issue(
        self,
        summary: str,
        severity: str,
        *,
        issue_id: str | None = None,
        category: str | None = None,
        context: Mapping[str, Any] | None = None,
        occurrence_count: int | None = None,
    ) -> None:
        """Self-report a problem (``critical``, ``high``, ``medium``, ``low``)."""
        data = _events.drop_none(
            {
                "severity": severity,
                "action": "reported",
                "issue_id": issue_id,
                "category": category,
                "context": context,
                "occurrence_count": occurrence_count,
            }
        )
        tags = ["issue"] + ([category] if category else [])
        self._kind("issue", summary, data, tags, scoped=False)

    def resolve_issue(self, summary: str, *, issue_id: str | None = None) -> None:
        """Close an issue reported earlier (matched by ``issue_id``, else by summary)."""
        data = _events.drop_none({"severity": "low", "action": "resolved", "issue_id": issue_id})
        self._kind("issue", summary, data, ["issue", "resolved"], scoped=False)

    def event(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        severity: str | None = None,
        parent_event_id: str | None = None,
    ) -> None:
        """Record any of the 13 event types; inside a task it belongs to that task."""
        self._custom(self._current_task(), event_type, payload, severity, parent_event_id)


def _call_callback(callback: Callback | None, name: str, agent_id: str) -> dict[str, Any] | None:
    if callback is None:
        return None
    try:
        value: object = callback()
    except Exception:
        logger.warning("%s callback of agent %s raised; skipped", name, agent_id, exc_info=True)
        return None
    if value is None:
        return None
    if not isinstance(value, Mapping):
        logger.warning(
            "%s callback of agent %s returned %s, not a dict; skipped",
            name,
            agent_id,
            type(value).__name__,
        )
        return None
    return dict(value)
