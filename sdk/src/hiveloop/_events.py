"""Turning what the caller recorded into wire-format events.

The caller's thread only stores a builder function and its arguments (see
``Agent._emit``); everything here runs on the sender thread: ids, timestamps,
summaries, severities and the payload layout of protocol/events.schema.json.
"""

from __future__ import annotations

import json
import json.encoder
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _ids
from ._log import RateLimitedWarning, logger

if TYPE_CHECKING:
    from ._actions import Action
    from ._task import Task

EVENT_TYPES = frozenset(
    {
        "agent_registered",
        "heartbeat",
        "task_started",
        "task_completed",
        "task_failed",
        "action_started",
        "action_completed",
        "action_failed",
        "retry_started",
        "escalated",
        "approval_requested",
        "approval_received",
        "custom",
    }
)
SEVERITIES = frozenset({"debug", "info", "warn", "error"})
MAX_SUMMARY_CHARS = 512
MAX_ID_CHARS = 256
MAX_PAYLOAD_BYTES = 32 * 1024
FITTED_DATA_BYTES = 4 * 1024  # what an oversized payload keeps of its data

_SEVERITY_BY_TYPE = {
    "heartbeat": "debug",
    "task_failed": "error",
    "action_failed": "error",
    "retry_started": "warn",
    "escalated": "warn",
}
_SEVERITY_BY_ISSUE = {"critical": "error", "high": "error", "medium": "warn", "low": "info"}

_oversize_warning = RateLimitedWarning()

Event = dict[str, Any]
Builder = Callable[..., Event]


def default_severity(event_type: str, payload: Mapping[str, Any] | None) -> str:
    """The wire format's severity defaults, refined by well-known payload kinds."""
    kind = payload.get("kind") if payload else None
    if kind is not None and payload is not None:
        data = payload.get("data") or {}
        if kind == "queue_snapshot":
            return "debug"
        if kind == "todo" and data.get("action") == "failed":
            return "warn"
        if kind == "plan_step" and data.get("action") == "failed":
            return "error"
        if kind == "issue":
            return _SEVERITY_BY_ISSUE.get(str(data.get("severity")), "info")
    return _SEVERITY_BY_TYPE.get(event_type, "info")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


_second_cache: list[Any] = [-1, ""]


def format_timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-03-01T09:15:02.118Z``.

    Events come in bursts within the same second, so that part is formatted once.
    """
    seconds = int(epoch)
    cached_second, prefix = _second_cache
    if seconds != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache[:] = [seconds, prefix]
    return f"{prefix}.{int((epoch - seconds) * 1000):03d}Z"


def _make_encode() -> Callable[[Any], str]:
    """A compact, ASCII-only JSON encoder without per-call setup.

    ``JSONEncoder.encode`` builds a new C encoder on every call and goes through
    two Python-level calls first, which costs about as much as the encoding of a
    small event. The C encoder itself is reusable: built once here, without
    circular-reference markers (a shared markers dict would keep stale entries
    after a failed call; a cycle still fails, with RecursionError). ASCII output,
    so a string's length is its size in bytes.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str).encode
    encoder = make(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )
    join = "".join

    def encode(value: Any) -> str:
        return join(encoder(value, 0))

    return encode


_encode = _make_encode()


def finish(seq: int, epoch: float, event: Event) -> str:
    """Add id, timestamp and severity to a built event and serialize it.

    The payload is measured on its own only when the whole event is larger
    than the payload limit, so the common case encodes once.
    """
    event["event_id"] = _ids.as_uuid(seq)
    event["timestamp"] = format_timestamp(epoch)
    payload = event.get("payload")
    if "severity" not in event:
        event["severity"] = default_severity(event["event_type"], payload)
    if payload is not None:
        summary = payload.get("summary")
        if isinstance(summary, str) and len(summary) > MAX_SUMMARY_CHARS:
            event["payload"] = payload = {
                **payload,
                "summary": truncate(summary, MAX_SUMMARY_CHARS),
            }
    encoded = _dumps(event)
    if payload is not None and len(encoded) > MAX_PAYLOAD_BYTES:
        size = len(_dumps(payload))
        if size > MAX_PAYLOAD_BYTES:
            event["payload"] = _replace_oversized(payload, event["event_type"], size)
            encoded = _dumps(event)
    return encoded


def _dumps(value: Any) -> str:
    try:
        return _encode(value)
    except ValueError:  # NaN or infinity in user data: JSON has no spelling for it
        return _encode(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def render(record: tuple[Any, ...]) -> str:
    """One queued record ``(seq, epoch, source, builder, *args)`` as event JSON.

    A builder with a direct renderer (the frequent ``llm_call``) is written
    straight to text, from the record as it is (no argument list per event);
    anything its renderer declines takes the general path.
    """
    direct = _DIRECT.get(record[3])
    if direct is not None:
        text = direct(*record)
        if text is not None:
            return text
    seq, epoch, _source, build, *args = record
    return finish(seq, epoch, build(*args))


def _replace_oversized(payload: Mapping[str, Any], event_type: str, size: int) -> Event:
    """Keep the event (and its summary) when its data is over the server's limit."""
    _oversize_warning.warn(
        "%s payload is %d bytes, over the %d byte limit: its data was cut down to a note",
        event_type,
        size,
        MAX_PAYLOAD_BYTES,
    )
    fitted = {k: payload[k] for k in ("kind", "summary", "tags") if k in payload}
    fitted["data"] = _cut_down(payload.get("data"), size)
    return fitted


def _cut_down(data: Any, size: int) -> Event:
    """Oversized data as a note, with its members shrunk while they fit in a few KB.

    Long text is truncated and lists and objects emptied, so a well-known kind
    keeps the members its schema requires (an llm_call its name and model).
    """
    fitted: Event = {}
    budget = FITTED_DATA_BYTES
    for key, value in data.items() if isinstance(data, Mapping) else ():
        small = _shrink(value)
        budget -= len(str(key)) + len(_dumps(small)) + 4
        if budget < 0:
            break
        fitted[str(key)] = small
    fitted.update(truncated=True, original_bytes=size)
    return fitted


def _shrink(value: Any) -> Any:
    if isinstance(value, str):
        return truncate(value, MAX_ID_CHARS)
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, Mapping):
        return {}
    if value is None or isinstance(value, int | float):
        return value
    return truncate(str(value), MAX_ID_CHARS)


# -- task and action scope ---------------------------------------------------


def scope_fields(task: Task | None, action: Action | None) -> Event:
    """The task and action fields shared by every event recorded in their scope."""
    fields: Event = dict(task.wire_fields()) if task is not None else {}
    if action is not None:
        fields["action_id"] = action.action_id
    return fields


def _exception_fields(exc_info: tuple[str, str] | None) -> Event:
    if exc_info is None:
        return {}
    return {"exception_type": exc_info[0], "exception_message": exc_info[1]}


# -- builders: one per kind of record, called as builder(*args) ----------------


def agent_registered(data: Event) -> Event:
    return {
        "event_type": "agent_registered",
        "payload": {"summary": f"Agent {data['agent_id']} registered", "data": data["meta"]},
    }


def heartbeat(payload: Event | None) -> Event:
    event: Event = {"event_type": "heartbeat"}
    if payload:
        event["payload"] = payload
    return event


def task_started(task: Task, action: Action | None) -> Event:
    return {
        "event_type": "task_started",
        **scope_fields(task, action),
        "payload": {"summary": f"Task {task.task_id} started"},
    }


def task_ended(
    task: Task,
    status: str,
    duration_ms: int,
    user_payload: Mapping[str, Any] | None,
    exc_info: tuple[str, str] | None,
) -> Event:
    failed = status == "failure"
    verb = "failed" if failed else "completed"
    payload: Event = {"summary": f"Task {task.task_id} {verb}", **_exception_fields(exc_info)}
    if user_payload:
        payload.update(user_payload)
    return {
        "event_type": "task_failed" if failed else "task_completed",
        **scope_fields(task, None),
        "status": status,
        "duration_ms": duration_ms,
        "payload": payload,
    }


def action_started(action: Action) -> Event:
    event = {"event_type": "action_started", **scope_fields(action.task, action)}
    if action.parent is not None:
        event["parent_action_id"] = action.parent.action_id
    event["payload"] = action.base_payload()
    return event


def action_ended(
    action: Action,
    duration_ms: int,
    user_payload: Mapping[str, Any] | None,
    exc_info: tuple[str, str] | None,
) -> Event:
    event = {
        "event_type": "action_failed" if exc_info else "action_completed",
        **scope_fields(action.task, action),
    }
    if action.parent is not None:
        event["parent_action_id"] = action.parent.action_id
    payload = {**action.base_payload(), **_exception_fields(exc_info)}
    if user_payload:
        payload.update(user_payload)
    event["status"] = "failure" if exc_info else "success"
    event["duration_ms"] = duration_ms
    event["payload"] = payload
    return event


def llm_summary(
    name: str, model: str, tokens_in: int | None, tokens_out: int | None, cost: float | None
) -> str:
    details = []
    if tokens_in is not None or tokens_out is not None:
        details.append(f"{tokens_in or 0} in / {tokens_out or 0} out")
    if cost is not None:
        details.append(f"${cost:g}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{name} → {model}{suffix}"


def llm_call(
    task: Task | None,
    action: Action | None,
    name: str,
    model: str,
    tokens_in: int | None,
    tokens_out: int | None,
    cost: float | None,
    duration_ms: int | None,
    prompt_preview: str | None,
    response_preview: str | None,
    metadata: Mapping[str, Any] | None,
) -> Event:
    # A NaN figure is left out, like a missing one: the schema wants numbers there.
    data = drop_none(
        {
            "name": name,
            "model": model,
            "tokens_in": _finite(tokens_in),
            "tokens_out": _finite(tokens_out),
            "cost": _finite(cost),
            "duration_ms": _finite(duration_ms),
            "prompt_preview": prompt_preview,
            "response_preview": response_preview,
            "metadata": metadata,
        }
    )
    return kind_event(
        task,
        action,
        "llm_call",
        llm_summary(name, model, tokens_in, tokens_out, cost),
        data,
        ["llm"],
    )


def kind_event(
    task: Task | None,
    action: Action | None,
    kind: str,
    summary: str,
    data: Event,
    tags: list[str],
) -> Event:
    """A ``custom`` event carrying one of the well-known payload kinds."""
    return {
        "event_type": "custom",
        **scope_fields(task, action),
        "payload": {"kind": kind, "summary": summary, "data": data, "tags": tags},
    }


# -- direct renderers: JSON text without the event dict, for the hot event types --

_json_string = json.encoder.encode_basestring_ascii  # quoted and escaped, ASCII only
_INT_OR_NONE = frozenset({int, type(None)})
_STR_OR_NONE = frozenset({str, type(None)})
# The last task and action seen and the JSON text of their fields (sender thread only).
_scope_cache: list[Any] = [None, None, ""]


def _scope_json(task: Task | None, action: Action | None) -> str:
    """``scope_fields`` as JSON members with a trailing comma; events come in runs of one scope."""
    cached_task, cached_action, text = _scope_cache
    if task is not cached_task or action is not cached_action:
        fields = scope_fields(task, action)
        text = _encode(fields)[1:-1] + "," if fields else ""
        _scope_cache[:] = [task, action, text]
    return str(text)


def _llm_call_json(
    seq: int,
    epoch: float,
    _source: object,
    _build: object,
    task: Task | None,
    action: Action | None,
    name: Any,
    model: Any,
    tokens_in: Any,
    tokens_out: Any,
    cost: Any,
    duration_ms: Any,
    prompt_preview: Any,
    response_preview: Any,
    metadata: Any,
) -> str | None:
    """What ``finish(llm_call(...))`` returns, for the usual argument types; else None.

    None (the general path) for metadata, unusual types (bool, NaN, str numbers),
    a summary over its limit or an event near the payload limit, so truncation
    and trimming stay in one place.
    """
    if (
        metadata is not None
        or type(name) is not str
        or type(model) is not str
        or type(tokens_in) not in _INT_OR_NONE
        or type(tokens_out) not in _INT_OR_NONE
        or type(duration_ms) not in _INT_OR_NONE
        or type(prompt_preview) not in _STR_OR_NONE
        or type(response_preview) not in _STR_OR_NONE
        or not (cost is None or type(cost) is int or (type(cost) is float and math.isfinite(cost)))
    ):
        return None
    summary = llm_summary(name, model, tokens_in, tokens_out, cost)
    if len(summary) > MAX_SUMMARY_CHARS:
        return None
    data = f'"name":{_json_string(name)},"model":{_json_string(model)}'
    if tokens_in is not None:
        data += f',"tokens_in":{tokens_in}'
    if tokens_out is not None:
        data += f',"tokens_out":{tokens_out}'
    if cost is not None:
        data += f',"cost":{cost!r}'
    if duration_ms is not None:
        data += f',"duration_ms":{duration_ms}'
    if prompt_preview is not None:
        data += f',"prompt_preview":{_json_string(prompt_preview)}'
    if response_preview is not None:
        data += f',"response_preview":{_json_string(response_preview)}'
    text = (
        f'{{"event_id":"{_ids.as_uuid(seq)}","timestamp":"{format_timestamp(epoch)}",'
        f'"severity":"info","event_type":"custom",{_scope_json(task, action)}'
        f'"payload":{{"kind":"llm_call","summary":{_json_string(summary)},'
        f'"data":{{{data}}},"tags":["llm"]}}}}'
    )
    return text if len(text) <= MAX_PAYLOAD_BYTES else None


_DIRECT: dict[Builder, Callable[..., str | None]] = {llm_call: _llm_call_json}


def narrative(
    task: Task | None,
    action: Action | None,
    event_type: str,
    summary: str,
    data: Event,
    parent_event_seq: int | str | None,
) -> Event:
    """Retries, escalations and approvals: a summary, optional data, an optional cause."""
    event: Event = {"event_type": event_type, **scope_fields(task, action)}
    if parent_event_seq is not None:
        event["parent_event_id"] = (
            parent_event_seq
            if isinstance(parent_event_seq, str)
            else _ids.as_uuid(parent_event_seq)
        )
    payload: Event = {"summary": summary}
    if data:
        payload["data"] = data
    event["payload"] = payload
    return event


def custom(
    task: Task | None,
    action: Action | None,
    event_type: str,
    payload: Mapping[str, Any] | None,
    severity: str | None,
    parent_event_id: str | None,
) -> Event:
    event: Event = {"event_type": event_type, **scope_fields(task, action)}
    if severity is not None:
        event["severity"] = severity
    if parent_event_id is not None:
        event["parent_event_id"] = parent_event_id
    if payload is not None:
        event["payload"] = dict(payload)
    return event


def queue_snapshot(
    depth: int,
    oldest_age_seconds: float | None,
    items: list[Mapping[str, Any]] | None,
    processing: Mapping[str, Any] | None,
) -> Event:
    data = drop_none(
        {
            "depth": depth,
            "oldest_age_seconds": oldest_age_seconds,
            "items": items,
            "processing": processing,
        }
    )
    return queue_snapshot_from(data)


def queue_snapshot_from(data: Mapping[str, Any]) -> Event:
    """A queue snapshot from a dict with ``depth`` (what a queue_provider returns)."""
    summary = f"Queue: {data['depth']} items"
    if data.get("oldest_age_seconds") is not None:
        summary += f", oldest {data['oldest_age_seconds']}s"
    return kind_event(None, None, "queue_snapshot", summary, dict(data), ["queue"])


def as_list(values: Any, what: str) -> list[Any]:
    """A list from any iterable; an empty one (and a warning) from anything else.

    Runs on the caller's thread, which a wrong argument type must not break.
    """
    try:
        return list(values)
    except TypeError:
        logger.warning("%s must be a list, got %s; sent as empty", what, type(values).__name__)
        return []


def scheduled_summary(items: list[Mapping[str, Any]]) -> str:
    mappings = [item for item in items if isinstance(item, Mapping)]
    runs = [str(item["next_run"]) for item in mappings if item.get("next_run")]
    summary = f"{len(items)} scheduled items"
    if runs:
        summary += f", next at {min(runs)}"
    return summary
