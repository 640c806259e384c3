"""Decoding an ingest request body into JSON values, before validation (validate.py).

A body that is not JSON rejects the whole request (``BatchError``, HTTP 400) with the
position of the fault; one repair is made first, see ``parse_body``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson


class BatchError(Exception):
    """The request as a whole is malformed (HTTP 400)."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


# One JSON escape, read left to right so ``\\\\udcff`` (an escaped backslash, then text)
# is never taken for a surrogate: a high surrogate with or without its low half, a lone
# low surrogate, or any other two-character escape (kept as it is).
_ESCAPE = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|u[dD][c-fC-F][0-9a-fA-F]{2}|.)",
    re.DOTALL,
)


def parse_body(raw: bytes, warnings: list[str] | None = None) -> Any:
    """Decode a JSON body; BatchError ``invalid_json`` naming the position on failure.

    orjson refuses a lone UTF-16 surrogate escape (``"\\udcff"``), which Python's
    ``json.dumps`` writes for a string decoded with ``surrogateescape`` (a file name
    with invalid bytes in an exception message): the whole batch would be lost for one
    character. Only when orjson fails, such escapes are replaced with U+FFFD and the
    body is parsed again by orjson, so nothing else it refuses (NaN, a BOM, 1e400) is
    let through; a note goes to ``warnings``. The escapes have the same length, so a
    remaining error's position is still right.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = exc
    replaced = 0

    def fix(match: re.Match[bytes]) -> bytes:
        nonlocal replaced
        text = match.group()
        if len(text) == 6:  # a lone surrogate (other escapes are 2 or 12 characters)
            replaced += 1
            return b"\\ufffd"
        return text

    if b"\\u" in raw:
        fixed = _ESCAPE.sub(fix, raw)
        if replaced:
            try:
                body = orjson.loads(fixed)
            except orjson.JSONDecodeError as exc:
                error = exc
            else:
                if warnings is not None:
                    warnings.append(
                        f"{replaced} lone UTF-16 surrogate escape(s) (\\ud800-\\udfff "
                        "without their pair) were replaced with U+FFFD because they are "
                        "not valid Unicode"
                    )
                return body
    raise BatchError("invalid_json", f"request body is not valid JSON: {error}") from None
