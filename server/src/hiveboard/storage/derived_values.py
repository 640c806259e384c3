"""Small helpers shared by the derived-state modules: run keys and forgiving coercions.

Payload data comes from agents: a count may be missing, negative or not a number at all,
and text may be longer than its column.
"""

from __future__ import annotations

from typing import Any

RunKey = tuple[str, str]


def as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def clip_text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None
