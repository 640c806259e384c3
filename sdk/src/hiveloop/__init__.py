"""HiveLoop: observability for AI agents, reported to a HiveBoard server.

    import hiveloop

    hb = hiveloop.init(api_key="hb_live_...", endpoint="http://localhost:8080")
    agent = hb.agent("lead-qualifier", type="sales")

    with agent.task("task-001") as task:
        task.llm_call("score", "claude-sonnet-4", tokens_in=1800, tokens_out=250)

Every call returns immediately: events are queued and delivered by one
background thread. Exceptions: only ``HiveLoopError``, raised by ``init`` and
``hb.agent`` for arguments that cannot work; nothing raises once agents run.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from . import _config
from ._actions import Action
from ._agent import Agent
from ._client import HiveBoard, ignored_arguments
from ._log import logger
from ._payloads import tool_payload
from ._task import Task
from ._transport import Transport
from ._version import SDK_VERSION, __version__
from ._worker import DeliveryStats
from .errors import HiveLoopError

__all__ = [
    "SDK_VERSION",
    "Action",
    "Agent",
    "DeliveryStats",
    "HiveBoard",
    "HiveLoopError",
    "Task",
    "__version__",
    "flush",
    "get_client",
    "init",
    "reset",
    "shutdown",
    "tool_payload",
]

_client: HiveBoard | None = None
_client_lock = threading.Lock()
_atexit_registered = False


def init(
    api_key: str | None = None,
    environment: str | None = None,
    group: str | None = None,
    endpoint: str | None = None,
    flush_interval: float | None = None,
    batch_size: int | None = None,
    max_queue_size: int | None = None,
    debug: bool | None = None,
    *,
    transport: Transport | None = None,
) -> HiveBoard:
    """Create the process-wide client, or return the one already running.

    Defaults: environment ``"production"``, group ``"default"``, endpoint
    ``https://api.hiveboard.io``, flush_interval 5.0 s, batch_size 100 (at most
    500), max_queue_size 10,000, debug False. ``api_key``, ``endpoint`` and
    ``environment`` fall back to ``HIVELOOP_API_KEY``, ``HIVELOOP_ENDPOINT`` and
    ``HIVELOOP_ENVIRONMENT`` when not passed. ``transport`` replaces HTTP
    delivery (see ``hiveloop.testing``).

    Raises HiveLoopError naming the argument when a value cannot work.
    """
    global _client, _atexit_registered
    explicit: dict[str, Any] = {
        "api_key": api_key,
        "environment": environment,
        "group": group,
        "endpoint": endpoint,
        "flush_interval": flush_interval,
        "batch_size": batch_size,
        "max_queue_size": max_queue_size,
        "debug": debug,
    }
    with _client_lock:
        if _client is not None and not _client.closed:
            ignored = ignored_arguments(_client.config, explicit)
            logger.warning(
                "hiveloop.init() was already called; returning the running client%s. "
                "Call hiveloop.reset() first to start over with new settings.",
                f" and ignoring {', '.join(ignored)}" if ignored else "",
            )
            return _client
        config = _config.resolve(explicit)
        if config.debug:
            _enable_debug_logging()
        _client = HiveBoard(config, transport)
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
        return _client


def get_client() -> HiveBoard | None:
    """The client ``init`` created, or None before ``init`` (and after ``reset``)."""
    return _client


def flush(timeout: float = 5.0) -> bool:
    """Deliver everything queued so far; True when all of it went out within ``timeout``."""
    return _client.flush(timeout) if _client is not None else True


def shutdown(timeout: float = 5.0) -> bool:
    """Stop heartbeats, deliver what remains within ``timeout`` seconds, stop the sender.

    Runs by itself at interpreter exit. A later ``init`` starts a new client.
    """
    return _client.shutdown(timeout) if _client is not None else True


def reset() -> None:
    """Shut the client down and forget it, so that ``init`` can start afresh."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None:
        client.shutdown()


def _shutdown_at_exit() -> None:
    if _client is not None and not _client.closed:
        _client.shutdown()


def _after_fork_in_child() -> None:
    global _client_lock
    _client_lock = threading.Lock()
    if _client is not None and not _client.closed:
        _client._after_fork()


def _enable_debug_logging() -> None:
    """debug=True: log every batch; to stderr when the application configured no logging."""
    logger.setLevel(logging.DEBUG)
    has_output = any(not isinstance(h, logging.NullHandler) for h in logger.handlers)
    if not has_output and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("hiveloop %(levelname)s: %(message)s"))
        logger.addHandler(handler)


os.register_at_fork(after_in_child=_after_fork_in_child)
