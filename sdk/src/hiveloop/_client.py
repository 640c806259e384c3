"""The client ``hiveloop.init()`` returns: configuration, agents, sender, heartbeats."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from . import _events
from ._agent import Agent, Callback
from ._config import Config
from ._heartbeat import HeartbeatScheduler
from ._log import logger
from ._transport import HttpTransport, Transport
from ._worker import BackgroundWorker, DeliveryStats
from .errors import HiveLoopError


class HiveBoard:
    """A connection to one HiveBoard server, shared by all agents of the process."""

    def __init__(self, config: Config, transport: Transport | None = None) -> None:
        self.config = config
        self._transport = transport or HttpTransport(config.endpoint, config.api_key)
        self._worker = BackgroundWorker(
            self._transport,
            batch_size=config.batch_size,
            flush_interval=config.flush_interval,
            max_queue_size=config.max_queue_size,
        )
        self._heartbeats = HeartbeatScheduler()
        self._agents: dict[str, Agent] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"HiveBoard(endpoint={self.config.endpoint!r}, agents={len(self._agents)})"

    @property
    def closed(self) -> bool:
        return self._closed

    def agent(
        self,
        agent_id: str,
        type: str = "general",
        version: str | None = None,
        framework: str = "custom",
        heartbeat_interval: float = 30.0,
        stuck_threshold: int = 300,
        heartbeat_payload: Callback | None = None,
        queue_provider: Callback | None = None,
    ) -> Agent:
        """Register an agent (or return the one already registered under ``agent_id``).

        Registration sends ``agent_registered`` and the first heartbeat (its
        callbacks run here, once), then heartbeats every ``heartbeat_interval``
        seconds from a background thread; 0 disables them. Asking again for
        the same id returns the same agent with its metadata updated.
        """
        _check_agent_arguments(agent_id, heartbeat_interval, stuck_threshold)
        _check_envelope_strings(type=type, version=version, framework=framework)
        with self._lock:
            existing = self._agents.get(agent_id)
            if existing is not None:
                existing._update(
                    agent_type=type,
                    version=version,
                    framework=framework,
                    heartbeat_payload=heartbeat_payload,
                    queue_provider=queue_provider,
                )
                return existing
            agent = Agent(
                agent_id,
                self._worker.submit,
                environment=self.config.environment,
                group=self.config.group,
                type=type,
                version=version,
                framework=framework,
                heartbeat_interval=heartbeat_interval,
                stuck_threshold=stuck_threshold,
                heartbeat_payload=heartbeat_payload,
                queue_provider=queue_provider,
            )
            self._agents[agent_id] = agent
        agent._register()
        if heartbeat_interval > 0:
            agent._beat()  # the first heartbeat goes out with the registration
            self._heartbeats.add(agent)
        return agent

    def get_agent(self, agent_id: str) -> Agent | None:
        """The agent registered under ``agent_id``, or None."""
        return self._agents.get(agent_id)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far is delivered (True) or ``timeout`` passes."""
        return self._worker.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop heartbeats and deliver what remains within ``timeout`` seconds.

        Each agent reports that it shut down cleanly, so HiveBoard shows it
        offline at once instead of waiting for its heartbeats to go missing.
        Returns True when nothing was lost. Calling it again does nothing.
        """
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        self._heartbeats.stop()
        for agent in list(self._agents.values()):
            agent._announce_shutdown()
        delivered = self._worker.close(timeout)
        self._transport.close()
        if not delivered:
            logger.warning("hiveloop shut down with undelivered events: %s", self.stats())
        return delivered

    def stats(self) -> DeliveryStats:
        """Counters explaining where events went: queued, sent, retried, dropped by reason."""
        return self._worker.stats()

    def _after_fork(self) -> None:
        self._worker.after_fork()
        self._heartbeats.after_fork()


def _check_agent_arguments(agent_id: Any, heartbeat_interval: Any, stuck_threshold: Any) -> None:
    if not isinstance(agent_id, str) or not 1 <= len(agent_id) <= _events.MAX_ID_CHARS:
        raise HiveLoopError(
            f"agent_id must be a string of 1 to {_events.MAX_ID_CHARS} characters "
            f"(got {agent_id!r:.80})"
        )
    if isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, int | float):
        raise HiveLoopError(
            f"heartbeat_interval must be a number of seconds, 0 to disable "
            f"(got {heartbeat_interval!r})"
        )
    if (
        isinstance(stuck_threshold, bool)
        or not isinstance(stuck_threshold, int | float)
        or (stuck_threshold <= 0)
    ):
        raise HiveLoopError(
            f"stuck_threshold must be a number of seconds greater than 0 (got {stuck_threshold!r})"
        )


def _check_envelope_strings(**values: Any) -> None:
    """Metadata the envelope carries: the server refuses every batch of an agent whose
    envelope has a non-string or over-long field, so refuse it here, where it shows."""
    for name, value in values.items():
        if value is None:  # left out of the envelope: the server's default applies
            continue
        if not isinstance(value, str) or len(value) > _events.MAX_ID_CHARS:
            raise HiveLoopError(
                f"{name} must be a string of at most {_events.MAX_ID_CHARS} characters or None "
                f"(got {value!r:.80})"
            )


def ignored_arguments(config: Config, explicit: Mapping[str, Any]) -> list[str]:
    """Arguments of a repeated ``init`` that differ from the running client's."""
    return sorted(
        name
        for name, value in explicit.items()
        if value is not None and getattr(config, name, value) != value
    )
