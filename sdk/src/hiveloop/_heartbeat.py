"""One thread that sends every agent's heartbeats on its own interval.

The first heartbeat goes out with the registration (see ``HiveBoard.agent``),
then this thread sends one every ``heartbeat_interval`` seconds. User
callbacks run on this thread, so a slow callback delays heartbeats but never
the agent or event delivery.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ._log import logger

if TYPE_CHECKING:
    from ._agent import Agent


class HeartbeatScheduler:
    def __init__(self) -> None:
        self._reset_state()

    def _reset_state(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[Agent, float] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, agent: Agent) -> None:
        """Beat for ``agent`` every interval from now on (0 or less: never)."""
        if agent.heartbeat_interval <= 0:
            return
        with self._cond:
            if self._stopped:
                return
            self._due[agent] = time.monotonic() + agent.heartbeat_interval
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hiveloop-heartbeat", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)

    def after_fork(self) -> None:
        """In a forked child the thread is gone: start again for the same agents."""
        agents = list(self._due)
        stopped = self._stopped
        self._reset_state()
        if not stopped:
            for agent in agents:
                self.add(agent)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                due = [agent for agent, at in self._due.items() if at <= now]
                for agent in due:
                    self._due[agent] = now + agent.heartbeat_interval
                if not due:
                    self._cond.wait(min(self._due.values(), default=now + 60.0) - now)
                    continue
            for agent in due:
                try:
                    agent._beat()
                except Exception:
                    logger.warning("heartbeat of agent %s failed", agent.agent_id, exc_info=True)
