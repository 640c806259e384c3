"""Validation of ingest bodies, exactly per wire-format.md.

Two levels, with different consequences:

* **Batch errors** (``BatchError``) reject the whole request with 400: the body is not
  JSON, has no envelope, or carries more than 500 events. The message names the field
  and the limit so an SDK author can fix it.
* **Event errors** (``EventError``) reject one event and never its neighbours; they are
  reported in the 207 body with the codes ``missing_field``, ``invalid_event_type``,
  ``invalid_timestamp``, ``field_too_long``, ``payload_too_large``, ``invalid_field``.

Unknown extra fields are ignored. NUL characters are stripped from every string
(PostgreSQL cannot store them in text or JSON) and the response carries a warning saying
so; a lone UTF-16 surrogate escape, which orjson refuses, becomes U+FFFD with a warning
too (see ``body.parse_body``); everything else in the text is kept as sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import orjson

from hiveboard.ingest.body import BatchError
from hiveboard.ingest.model import EVENT_TYPES, SEVERITIES, Batch, Envelope, Event, EventError

MAX_EVENTS = 500
MAX_PAYLOAD_BYTES = 32 * 1024
MAX_SUMMARY = 512
MAX_ID = 256
MAX_FUTURE = timedelta(days=1)
# Integers in well-known payloads land in 64-bit columns and are summed into counters
# (tokens per task, per minute, per model): capping each value keeps the sums in range.
MAX_COUNT = 10**12
MAX_DEPTH = 254  # orjson's nesting limit when it serializes the payload for storage

ENVELOPE_LIMITS = {
    "agent_id": MAX_ID,
    "agent_type": MAX_ID,
    "agent_version": MAX_ID,
    "framework": MAX_ID,
    "runtime": MAX_ID,
    "sdk_version": MAX_ID,
    "environment": 64,
    "group": 128,
}
OPTIONAL_STRINGS = (
    "project_id",
    "agent_id",
    "agent_type",
    "task_id",
    "task_type",
    "task_run_id",
    "correlation_id",
    "action_id",
    "parent_action_id",
    "status",
    "parent_event_id",
)
WELL_KNOWN_KINDS = frozenset(
    {"llm_call", "plan_created", "plan_step", "queue_snapshot", "todo", "scheduled", "issue"}
)
TASK_SCOPED_KINDS = frozenset({"plan_created", "plan_step"})
PLAN_STEP_ACTIONS = ("started", "completed", "failed", "skipped")
TODO_ACTIONS = ("created", "completed", "failed", "dismissed", "deferred")
ISSUE_ACTIONS = ("reported", "resolved", "dismissed")
ISSUE_SEVERITY = {"critical": "error", "high": "error", "medium": "warn", "low": "info"}


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def validate_batch(body: Any, *, now: datetime | None = None, may_hold_nul: bool = True) -> Batch:
    """Validate a decoded body; BatchError for batch-level faults, else a Batch.

    ``may_hold_nul=False`` skips the walk that strips NUL characters from every string:
    the caller knows there are none (JSON can only carry one escaped as ``\\u0000``, so
    a raw body without that text has none). The walk is most of validation's cost.
    """
    if not isinstance(body, dict):
        raise BatchError(
            "invalid_body", "request body must be a JSON object with envelope and events"
        )
    envelope = _envelope(body.get("envelope"))
    events = body.get("events")
    if events is None:
        raise BatchError("missing_events", "field 'events' is required: a list of 1..500 events")
    if not isinstance(events, list):
        raise BatchError("invalid_events", "field 'events' must be a list of 1..500 events")
    if not events:
        raise BatchError("empty_batch", "field 'events' must hold at least 1 event")
    if len(events) > MAX_EVENTS:
        raise BatchError(
            "too_many_events",
            f"field 'events' holds {len(events)} events; the limit is {MAX_EVENTS} per batch",
            {"limit": MAX_EVENTS, "received": len(events)},
        )
    now = now or datetime.now(UTC)
    batch = Batch(envelope=envelope, received=len(events))
    nul_events = 0
    for raw in events:
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        event_id = event_id if isinstance(event_id, str) else None
        try:
            event, had_nul = _event(raw, envelope, now, may_hold_nul)
        except _Reject as rej:
            batch.errors.append(EventError(event_id, rej.code, rej.message))
            continue
        nul_events += had_nul
        batch.events.append(event)
    if nul_events:
        batch.warnings.append(
            f"{nul_events} event(s) contained NUL characters (\\u0000); they were removed "
            "because the database cannot store them"
        )
    return batch


def _envelope(raw: Any) -> Envelope:
    if raw is None:
        raise BatchError("missing_envelope", "field 'envelope' is required (with agent_id)")
    if not isinstance(raw, dict):
        raise BatchError("invalid_envelope", "field 'envelope' must be a JSON object")
    values: dict[str, str] = {}
    for name, limit in ENVELOPE_LIMITS.items():
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BatchError(
                "invalid_envelope", f"envelope.{name} must be a string", {"field": name}
            )
        value = value.replace("\x00", "")
        if len(value) > limit:
            raise BatchError(
                "invalid_envelope",
                f"envelope.{name} is {len(value)} characters; the limit is {limit}",
                {"field": name, "limit": limit},
            )
        values[name] = value
    if not values.get("agent_id"):
        raise BatchError(
            "invalid_envelope",
            "envelope.agent_id is required: a string of 1..256 characters",
            {"field": "agent_id"},
        )
    return Envelope(
        agent_id=values["agent_id"],
        agent_type=values.get("agent_type") or "general",
        agent_version=values.get("agent_version"),
        framework=values.get("framework"),
        runtime=values.get("runtime"),
        sdk_version=values.get("sdk_version"),
        environment=values.get("environment") or "production",
        group=values.get("group") or "default",
    )


def _strip_nul(value: Any) -> tuple[Any, bool]:
    """Remove NUL characters from every string (keys included); report whether any were."""
    if isinstance(value, str):
        if "\x00" in value:
            return value.replace("\x00", ""), True
        return value, False
    if isinstance(value, dict):
        found = False
        out = {}
        for k, v in value.items():
            k2, f1 = _strip_nul(k)
            v2, f2 = _strip_nul(v)
            out[k2] = v2
            found = found or f1 or f2
        return out, found
    if isinstance(value, list):
        found = False
        items = []
        for v in value:
            v2, f = _strip_nul(v)
            items.append(v2)
            found = found or f
        return items, found
    return value, False


def _event(
    raw: Any, envelope: Envelope, now: datetime, may_hold_nul: bool = True
) -> tuple[Event, bool]:
    if not isinstance(raw, dict):
        raise _Reject("invalid_field", "each event must be a JSON object")
    had_nul = False
    if may_hold_nul:
        raw, had_nul = _strip_nul(raw)
    event_id = _required_string(raw, "event_id")
    ts = _timestamp(raw.get("timestamp"), now)
    event_type = raw.get("event_type")
    if event_type is None:
        raise _Reject("missing_field", "field 'event_type' is required")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _Reject(
            "invalid_event_type",
            f"event_type {str(event_type)[:64]!r} is not one of: {', '.join(sorted(EVENT_TYPES))}",
        )
    fields = _optional_strings(raw)
    duration = _duration(raw.get("duration_ms"))
    payload = _payload(raw.get("payload"), event_type, fields.get("task_id"))
    kind = payload.get("kind") if payload else None
    summary = payload.get("summary") if payload else None
    severity = raw.get("severity")
    if severity is None:
        severity = default_severity(event_type, kind, payload)
    elif not isinstance(severity, str) or severity not in SEVERITIES:
        raise _Reject("invalid_field", "field 'severity' must be one of: debug, info, warn, error")
    event = Event(
        event_id=event_id,
        ts=ts,
        event_type=event_type,
        severity=severity,
        agent_id=fields.pop("agent_id", "") or envelope.agent_id,
        agent_type=fields.pop("agent_type", "") or envelope.agent_type,
        envelope=envelope,
        duration_ms=duration,
        payload=payload,
        payload_kind=kind[:64] if isinstance(kind, str) else None,
        summary=summary if isinstance(summary, str) else None,
        **fields,
    )
    return event, had_nul


def _required_string(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise _Reject("missing_field", f"field '{name}' is required")
    if not isinstance(value, str) or not value:
        raise _Reject("invalid_field", f"field '{name}' must be a non-empty string")
    if len(value) > MAX_ID:
        raise _Reject(
            "field_too_long", f"field '{name}' is {len(value)} characters; limit {MAX_ID}"
        )
    return value


def _optional_strings(raw: dict[str, Any]) -> dict[str, str]:
    """The ``OPTIONAL_STRINGS`` that ``raw`` carries (absent or empty ones left out).

    Eleven fields per event on every ingest request: the common case (absent, or a
    short plain string) is checked inline; anything else takes ``_optional_string``,
    which rejects it with the precise message.
    """
    fields: dict[str, str] = {}
    for name in OPTIONAL_STRINGS:
        value = raw.get(name)
        if value is None:
            continue
        if value.__class__ is not str or not value or len(value) > MAX_ID:
            value = _optional_string(raw, name)
            if value is None:
                continue
        fields[name] = value
    return fields


def _optional_string(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Reject("invalid_field", f"field '{name}' must be a string")
    if len(value) > MAX_ID:
        raise _Reject(
            "field_too_long", f"field '{name}' is {len(value)} characters; limit {MAX_ID}"
        )
    return value or None


def _timestamp(value: Any, now: datetime) -> datetime:
    if value is None:
        raise _Reject("missing_field", "field 'timestamp' is required (ISO 8601 with timezone)")
    if not isinstance(value, str) or len(value) > 64:
        raise _Reject("invalid_timestamp", "field 'timestamp' must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(
            "invalid_timestamp",
            f"timestamp {value!r} is not ISO 8601 (e.g. 2026-03-01T09:15:02.118Z)",
        ) from None
    if ts.tzinfo is None:
        raise _Reject(
            "invalid_timestamp",
            f"timestamp {value!r} has no timezone; send UTC with 'Z' or an offset",
        )
    if ts.tzinfo is not UTC:  # "Z" parses to UTC itself: no conversion needed
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 falls before year 1 in UTC
            raise _Reject(
                "invalid_timestamp", f"timestamp {value!r} is outside the years 1..9999 in UTC"
            ) from None
    if ts - now > MAX_FUTURE:
        raise _Reject("invalid_timestamp", f"timestamp {value!r} is more than 1 day in the future")
    return ts


def _duration(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Reject("invalid_field", "field 'duration_ms' must be an integer >= 0")
    if value > 2**62:
        raise _Reject("invalid_field", "field 'duration_ms' is too large")
    return int(value)


def _payload(value: Any, event_type: str, task_id: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Reject("invalid_field", "field 'payload' must be a JSON object")
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:  # nested deeper than storage's serializer allows
        raise _Reject(
            "invalid_field",
            f"field 'payload' nests objects/lists deeper than {MAX_DEPTH} levels",
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise _Reject(
            "payload_too_large",
            f"payload is {size} bytes serialized; the limit is {MAX_PAYLOAD_BYTES} bytes",
        )
    summary = value.get("summary")
    # Built-in types carry free-form payloads (a heartbeat callback's dict, the user's
    # set_payload merged in), so only a string summary's length is checked for them.
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        raise _Reject(
            "field_too_long",
            f"payload.summary is {len(summary)} characters; the limit is {MAX_SUMMARY}",
        )
    kind = value.get("kind")
    if event_type == "custom" and isinstance(kind, str) and kind in WELL_KNOWN_KINDS:
        _check_kind(kind, value, task_id)
    return value


def _fail(code: str, message: str) -> NoReturn:
    raise _Reject(code, message)


def _nonneg_int(data: dict[str, Any], name: str, *, required: bool = False) -> None:
    v = data.get(name)
    if v is None:
        if required:
            _fail("missing_field", f"payload.data.{name} is required")
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > MAX_COUNT:
        _fail("invalid_field", f"payload.data.{name} must be an integer 0..{MAX_COUNT}")


def _capped(data: dict[str, Any], name: str) -> None:
    """Reject only an integer above MAX_COUNT: storage ignores other types in these fields."""
    v = data.get(name)
    if isinstance(v, int) and v > MAX_COUNT:
        _fail("invalid_field", f"payload.data.{name} is {v}; the limit is {MAX_COUNT}")


def _nonneg_number(data: dict[str, Any], name: str) -> None:
    v = data.get(name)
    if v is not None and (
        isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or v > MAX_COUNT
    ):
        _fail("invalid_field", f"payload.data.{name} must be a number 0..{MAX_COUNT}")


def _one_of(data: dict[str, Any], name: str, allowed: tuple[str, ...], *, required: bool) -> None:
    v = data.get(name)
    if v is None:
        if required:
            _fail("missing_field", f"payload.data.{name} is required ({', '.join(allowed)})")
        return
    if not isinstance(v, str) or v not in allowed:
        _fail("invalid_field", f"payload.data.{name} must be one of: {', '.join(allowed)}")


def _nonempty_str(data: dict[str, Any], name: str) -> None:
    v = data.get(name)
    if v is None:
        _fail("missing_field", f"payload.data.{name} is required")
    if not isinstance(v, str) or not v:
        _fail("invalid_field", f"payload.data.{name} must be a non-empty string")


def _check_kind(kind: str, payload: dict[str, Any], task_id: str | None) -> None:
    """The well-known kinds (event_type custom): required fields and enums per the spec."""
    summary = payload.get("summary")
    if summary is None:
        _fail("missing_field", f"payload.summary is required for kind {kind!r}")
    if not isinstance(summary, str):
        _fail("invalid_field", "field 'payload.summary' must be a string")
    data = payload.get("data")
    if data is None:
        _fail("missing_field", f"payload.data is required for kind {kind!r}")
    if not isinstance(data, dict):
        _fail("invalid_field", "field 'payload.data' must be a JSON object")
    tags = payload.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        _fail("invalid_field", "field 'payload.tags' must be a list of strings")
    if kind in TASK_SCOPED_KINDS and task_id is None:
        _fail("missing_field", f"field 'task_id' is required for kind {kind!r}")
    if kind == "llm_call":
        _nonempty_str(data, "name")
        _nonempty_str(data, "model")
        _nonneg_int(data, "tokens_in")
        _nonneg_int(data, "tokens_out")
        _nonneg_number(data, "cost")
        _nonneg_number(data, "duration_ms")
    elif kind == "queue_snapshot":
        _nonneg_int(data, "depth", required=True)
    elif kind == "plan_created":
        steps = data.get("steps")
        if steps is None:
            _fail("missing_field", "payload.data.steps is required for plan_created")
        if not isinstance(steps, list) or not all(isinstance(x, dict) for x in steps):
            _fail("invalid_field", "payload.data.steps must be a list of {index, description}")
        _capped(data, "revision")
        for step in steps:
            _capped(step, "index")
    elif kind == "plan_step":
        _nonneg_int(data, "step_index", required=True)
        _one_of(data, "action", PLAN_STEP_ACTIONS, required=True)
        for name in ("total_steps", "turns", "tokens", "plan_revision"):
            _capped(data, name)
    elif kind == "todo":
        _nonempty_str(data, "todo_id")
        _one_of(data, "action", TODO_ACTIONS, required=True)
    elif kind == "scheduled":
        items = data.get("items")
        if items is None:
            _fail("missing_field", "payload.data.items is required for scheduled")
        if not isinstance(items, list):
            _fail("invalid_field", "payload.data.items must be a list")
    elif kind == "issue":
        _one_of(data, "severity", tuple(ISSUE_SEVERITY), required=True)
        _one_of(data, "action", ISSUE_ACTIONS, required=False)
        _nonneg_int(data, "occurrence_count")


def default_severity(event_type: str, kind: Any, payload: dict[str, Any] | None) -> str:
    """The severity wire-format.md assigns when the event carries none."""
    data = (payload or {}).get("data")
    data = data if isinstance(data, dict) else {}
    if kind == "queue_snapshot":
        return "debug"
    if kind == "todo" and data.get("action") == "failed":
        return "warn"
    if kind == "plan_step" and data.get("action") == "failed":
        return "error"
    if kind == "issue":
        return ISSUE_SEVERITY.get(str(data.get("severity")), "warn")
    if event_type == "heartbeat":
        return "debug"
    if event_type.endswith("_failed"):
        return "error"
    if event_type in ("retry_started", "escalated"):
        return "warn"
    return "info"
