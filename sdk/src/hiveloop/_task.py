"""One run of a task: its lifecycle and the events recorded inside it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _events, _ids
from ._log import RateLimitedWarning, logger

if TYPE_CHECKING:
    from ._agent import Agent

_long_id_warning = RateLimitedWarning()


def exception_info(exc: BaseException) -> tuple[str, str]:
    """Type name and message of an exception, without ever raising."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the agent
        message = f"<{type(exc).__name__}: message unavailable>"
    return type(exc).__qualname__, message


class Task:
    """A run of ``task_id``, used as a context manager or started with ``agent.start_task``.

    On a clean exit the run completes; when an exception escapes it fails with
    the exception's type and message, and the exception propagates unchanged.
    Inside the ``with`` block the task is the current one for its agent, in
    this thread or asyncio task only; a nested task restores its parent on exit.
    """

    __slots__ = (
        "_agent",
        "_approval_seq",
        "_payload",
        "_plan_revision",
        "_plan_steps",
        "_run_id",
        "_started_at",
        "_token",
        "_wire",
        "correlation_id",
        "ended",
        "last_failure_seq",
        "parent",
        "project_id",
        "task_id",
        "task_type",
    )

    def __init__(
        self,
        agent: Agent,
        task_id: str,
        project_id: str | None = None,
        task_type: str | None = None,
        task_run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self._agent = agent
        self.task_id = task_id
        self.project_id = project_id
        self.task_type = task_type
        self.correlation_id = correlation_id
        self._run_id: str | int = task_run_id if task_run_id is not None else _ids.next_seq()
        self._wire: dict[str, Any] | None = None
        self._token: Token[Task | None] | None = None
        self.parent: Task | None = None
        self._started_at: float | None = None
        self.ended = False
        self._payload: Mapping[str, Any] | None = None
        self._plan_steps: int | None = None
        self._plan_revision = 0
        self.last_failure_seq: int | None = None
        self._approval_seq: int | None = None

    @property
    def task_run_id(self) -> str:
        """Distinguishes runs of the same ``task_id``; generated when not given."""
        if isinstance(self._run_id, int):
            self._run_id = _ids.as_uuid(self._run_id)
        return self._run_id

    def wire_fields(self) -> dict[str, Any]:
        """The task fields every event in this run carries (built once, on the sender)."""
        if self._wire is None:
            task_id = str(self.task_id)
            if len(task_id) > _events.MAX_ID_CHARS:
                _long_id_warning.warn(
                    "task_id is %d characters, over the limit of %d: truncated",
                    len(task_id),
                    _events.MAX_ID_CHARS,
                )
                task_id = task_id[: _events.MAX_ID_CHARS]
            self._wire = _events.drop_none(
                {
                    "task_id": task_id,
                    "project_id": self.project_id,
                    "task_type": self.task_type,
                    "task_run_id": self.task_run_id,
                    "correlation_id": self.correlation_id,
                }
            )
        return self._wire

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> Task:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.complete()
        else:
            self.fail(exc)

    def _start(self) -> None:
        var = self._agent._task_var
        self.parent = var.get()
        self._token = var.set(self)
        self._started_at = time.perf_counter()
        self._agent._emit(_events.task_started, (self, None))

    def complete(self, status: str = "success", payload: Mapping[str, Any] | None = None) -> None:
        """End the run with ``status`` (a second end of the same run is ignored)."""
        if payload:
            self._payload = payload
        self._end(status, None)

    def fail(
        self, exception: BaseException | None = None, payload: Mapping[str, Any] | None = None
    ) -> None:
        """End the run as failed, recording the exception's type and message if given."""
        if payload:
            self._payload = payload
        self._end("failure", exception_info(exception) if exception is not None else None)

    def set_payload(self, payload: Mapping[str, Any]) -> None:
        """Data merged into the payload of the completion (or failure) event."""
        self._payload = payload

    def _end(self, status: str, exc_info: tuple[str, str] | None) -> None:
        if self.ended:
            return
        self.ended = True
        started = self._started_at
        duration_ms = 0 if started is None else int((time.perf_counter() - started) * 1000)
        self._agent._emit(_events.task_ended, (self, status, duration_ms, self._payload, exc_info))
        self._restore_parent()

    def _restore_parent(self) -> None:
        var = self._agent._task_var
        token, self._token = self._token, None
        if token is None:
            return
        try:
            var.reset(token)
        except (ValueError, RuntimeError):
            # Ended from another thread or asyncio task than the one that started
            # it (manual lifecycle): only undo what this task did to that context.
            if var.get() is self:
                var.set(self.parent)

    # -- events inside the run ---------------------------------------------------

    def _action(self) -> Any:
        return self._agent._action_var.get()

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
        """Record one LLM call (cost in USD) under this task and the current action."""
        self._agent._emit_llm_call(
            self,
            (name, model, tokens_in, tokens_out, cost, duration_ms),
            (prompt_preview, response_preview, metadata),
        )

    def plan(self, goal: str, steps: list[str], revision: int = 0) -> None:
        """Record the plan for this run; later ``plan_step`` calls refer to its steps.

        ``steps`` may be any iterable of descriptions (a generator included).
        """
        steps = _events.as_list(steps, "plan steps")
        self._plan_steps = len(steps)
        self._plan_revision = revision
        data = {
            "goal": goal,
            "steps": [{"index": i, "description": step} for i, step in enumerate(steps)],
            "revision": revision,
        }
        self._kind("plan_created", goal, data, ["plan", "created"])

    def plan_step(
        self,
        index: int | None = None,
        action: str | None = None,
        summary: str = "",
        *,
        total_steps: int | None = None,
        turns: int | None = None,
        tokens: int | None = None,
        plan_revision: int | None = None,
        step_index: int | None = None,
    ) -> None:
        """Record a step's state: ``started``, ``completed``, ``failed`` or ``skipped``.

        ``step_index=`` is accepted as another name for ``index`` (hiveloop 0.2).
        """
        position = step_index if step_index is not None else index
        if position is None or action is None:
            logger.warning("plan_step needs a step index and an action; nothing was recorded")
            return
        data = _events.drop_none(
            {
                "step_index": position,
                "total_steps": total_steps if total_steps is not None else self._plan_steps,
                "action": action,
                "turns": turns,
                "tokens": tokens,
                "plan_revision": plan_revision
                if plan_revision is not None
                else self._plan_revision,
            }
        )
        text = f"Step {position} {action}" + (f": {summary}" if summary else "")
        self._kind("plan_step", text, data, ["plan", f"step_{action}"])

    def _kind(self, kind: str, summary: str, data: dict[str, Any], tags: list[str]) -> None:
        self._agent._emit(_events.kind_event, (self, self._action(), kind, summary, data, tags))

    def escalate(
        self,
        summary: str,
        *,
        assigned_to: str | None = None,
        reason: str | None = None,
        parent_event_id: str | None = None,
    ) -> None:
        """Hand the task to a human or another agent; linked to the latest failure."""
        data = _events.drop_none({"assigned_to": assigned_to, "reason": reason})
        self._narrative("escalated", summary, data, parent_event_id or self.last_failure_seq)

    def request_approval(
        self, summary: str, *, approver: str | None = None, parent_event_id: str | None = None
    ) -> None:
        """Record that the task now waits for a human decision."""
        data = _events.drop_none({"approver": approver})
        self._approval_seq = self._narrative("approval_requested", summary, data, parent_event_id)

    def approval_received(
        self,
        summary: str,
        *,
        approved_by: str | None = None,
        decision: str = "approved",
        parent_event_id: str | None = None,
    ) -> None:
        """Record the decision; linked to the request it answers."""
        data = _events.drop_none({"decision": decision, "approved_by": approved_by})
        cause = parent_event_id or self._approval_seq
        self._approval_seq = None
        self._narrative("approval_received", summary, data, cause)

    def retry(
        self,
        summary: str,
        *,
        attempt: int | None = None,
        backoff_seconds: float | None = None,
        parent_event_id: str | None = None,
    ) -> None:
        """Record a retry; linked to the latest failed action of this task."""
        data = _events.drop_none({"attempt": attempt, "backoff_seconds": backoff_seconds})
        self._narrative("retry_started", summary, data, parent_event_id or self.last_failure_seq)

    def _narrative(
        self, event_type: str, summary: str, data: dict[str, Any], cause: int | str | None
    ) -> int:
        return self._agent._emit(
            _events.narrative, (self, self._action(), event_type, summary, data, cause)
        )

    def event(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        severity: str | None = None,
        parent_event_id: str | None = None,
    ) -> None:
        """Record any of the 13 event types (usually ``custom``) in this task."""
        self._agent._custom(self, event_type, payload, severity, parent_event_id)
