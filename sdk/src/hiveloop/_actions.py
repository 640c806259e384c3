"""Actions: timed steps inside a task, nested by the context they run in.

An action is current for its agent only in the thread or asyncio task that
runs it. Generator and async-generator actions span the whole iteration but
are current only while their own code runs, never while they are suspended
at a ``yield``: the caller's own actions must not become their children.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from . import _events, _ids
from ._task import Task, exception_info

if TYPE_CHECKING:
    from ._agent import Agent

P = ParamSpec("P")
R = TypeVar("R")


class Action:
    """A tracked step; ``agent.track_context(name)`` returns one to use with ``with``."""

    __slots__ = (
        "_agent",
        "_id",
        "_payload",
        "_seq",
        "_started",
        "_token",
        "function",
        "name",
        "parent",
        "task",
    )

    def __init__(self, agent: Agent, name: str, function: str | None = None) -> None:
        self._agent = agent
        self.name = name
        self.function = function
        self._seq = _ids.next_seq()
        self._id: str | None = None
        self.parent: Action | None = None
        self.task: Task | None = None
        self._started = 0.0
        self._token: Token[Action | None] | None = None
        self._payload: Mapping[str, Any] | None = None

    @property
    def action_id(self) -> str:
        if self._id is None:
            self._id = _ids.as_uuid(self._seq)
        return self._id

    def base_payload(self) -> dict[str, Any]:
        if self.function is None:
            return {"action_name": self.name}
        return {"action_name": self.name, "function": self.function}

    def set_payload(self, payload: Mapping[str, Any]) -> None:
        """Data merged into the payload of the completion (or failure) event."""
        self._payload = payload

    # -- lifecycle, shared by the context manager and the decorator ---------------

    def begin(self) -> None:
        """Start timing and record ``action_started``, under the current task and action."""
        agent = self._agent
        self.parent = agent._action_var.get()
        self.task = agent._current_task()
        self._started = time.perf_counter()
        agent._emit(_events.action_started, (self,))

    def end(self, exc: BaseException | None) -> None:
        """Record ``action_completed``, or ``action_failed`` with the exception's details."""
        duration_ms = int((time.perf_counter() - self._started) * 1000)
        exc_info = exception_info(exc) if exc is not None else None
        seq = self._agent._emit(_events.action_ended, (self, duration_ms, self._payload, exc_info))
        if exc_info is not None and self.task is not None:
            self.task.last_failure_seq = seq

    def activate(self) -> Token[Action | None]:
        return self._agent._action_var.set(self)

    def deactivate(self, token: Token[Action | None]) -> None:
        self._agent._action_var.reset(token)

    def __enter__(self) -> Action:
        self.begin()
        self._token = self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            self.deactivate(self._token)
            self._token = None
        self.end(_failure(exc))

    async def __aenter__(self) -> Action:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _failure(exc: BaseException | None) -> BaseException | None:
    """Closing a generator early (GeneratorExit) is the consumer's choice, not a failure."""
    return None if isinstance(exc, GeneratorExit) else exc


def track(agent: Agent, action_name: str | None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Build the ``@agent.track`` decorator for every kind of function."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        name = action_name or fn.__qualname__
        function = f"{fn.__module__}.{fn.__qualname__}"
        if inspect.isasyncgenfunction(fn):
            wrapper: Callable[..., Any] = _async_generator_wrapper(agent, name, function, fn)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _coroutine_wrapper(agent, name, function, fn)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _generator_wrapper(agent, name, function, fn)
        else:
            wrapper = _function_wrapper(agent, name, function, fn)
        return cast(Callable[P, R], functools.wraps(fn)(wrapper))

    return decorate


def _function_wrapper(
    agent: Agent, name: str, function: str, fn: Callable[..., Any]
) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        action = Action(agent, name, function)
        action.begin()
        token = action.activate()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            action.deactivate(token)
            action.end(exc)
            raise
        action.deactivate(token)
        action.end(None)
        return result

    return run


def _coroutine_wrapper(
    agent: Agent, name: str, function: str, fn: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        action = Action(agent, name, function)
        action.begin()
        token = action.activate()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            action.deactivate(token)
            action.end(exc)
            raise
        action.deactivate(token)
        action.end(None)
        return result

    return run


def _generator_wrapper(
    agent: Agent, name: str, function: str, fn: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Generator[Any, Any, Any]]:
    def run(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        action = Action(agent, name, function)
        action.begin()
        inner = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = action.activate()
                try:
                    item = inner.throw(thrown) if thrown is not None else inner.send(sent)
                finally:
                    action.deactivate(token)
                try:
                    sent, thrown = (yield item), None
                except GeneratorExit:
                    inner.close()
                    raise
                except BaseException as exc:
                    sent, thrown = None, exc
        except StopIteration as stop:
            action.end(None)
            return stop.value
        except BaseException as exc:
            action.end(_failure(exc))
            raise

    return run


def _async_generator_wrapper(
    agent: Agent, name: str, function: str, fn: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def run(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        action = Action(agent, name, function)
        action.begin()
        inner = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = action.activate()
                try:
                    if thrown is not None:
                        item = await inner.athrow(thrown)
                    else:
                        item = await inner.asend(sent)
                finally:
                    action.deactivate(token)
                try:
                    sent, thrown = (yield item), None
                except GeneratorExit:
                    await inner.aclose()
                    raise
                except BaseException as exc:
                    sent, thrown = None, exc
        except StopAsyncIteration:
            action.end(None)
        except BaseException as exc:
            action.end(_failure(exc))
            raise

    return run
