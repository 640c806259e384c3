"""Helpers that shape common payloads."""

from __future__ import annotations

from typing import Any


def tool_payload(
    *,
    args: dict[str, Any] | None = None,
    result: Any = None,
    success: bool = True,
    error: str | None = None,
    duration_ms: int | None = None,
    tool_category: str | None = None,
    http_status: int | None = None,
    result_size_bytes: int | None = None,
    args_max_len: int = 500,
    result_max_len: int = 1000,
) -> dict[str, Any]:
    """A uniform payload for a tool call, for ``action.set_payload(...)``.

    Long argument values and results are cut to ``args_max_len`` and
    ``result_max_len`` characters so the event stays within size limits;
    arguments left as None are omitted.
    """
    payload: dict[str, Any] = {"success": success}
    if args is not None:
        payload["args"] = {key: _clip(value, args_max_len) for key, value in args.items()}
    if result is not None:
        payload["result"] = str(result)[:result_max_len]
    optional = {
        "error": error,
        "duration_ms": duration_ms,
        "tool_category": tool_category,
        "http_status": http_status,
        "result_size_bytes": result_size_bytes,
    }
    payload.update({key: value for key, value in optional.items() if value is not None})
    return payload


def _clip(value: Any, limit: int) -> Any:
    text = str(value)
    return text[:limit] if len(text) > limit else value
