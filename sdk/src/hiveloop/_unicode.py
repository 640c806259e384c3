"""Lone UTF-16 surrogates in encoded JSON text, made valid Unicode before sending."""

from __future__ import annotations

import re

# A UTF-16 surrogate as the ASCII encoder writes it (a non-BMP character is a pair).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def replace_lone_surrogates(text: str) -> str:
    """JSON text with each lone surrogate escape (``\\udcff``) replaced by ``\\ufffd``.

    A str decoded with ``surrogateescape`` (a file name with invalid bytes, in an
    exception message) encodes to such an escape; strict JSON parsers refuse it, and
    HiveBoard itself refused the whole batch with a 400, which is not retried.
    Both escapes have six characters, so sizes measured on the text stay right. Only
    surrogate escapes are looked at: the text is otherwise left alone.
    """
    first = _SURROGATE_ESCAPE.search(text)  # one C scan; most bodies stop here
    if first is None:
        return text
    pending = -1  # start of a high surrogate escape still waiting for its low half
    lone: list[int] = []
    for match in _SURROGATE_ESCAPE.finditer(text, first.start()):
        start = match.start()
        before = start
        while before and text[before - 1] == "\\":
            before -= 1
        if (start - before) % 2:  # an escaped backslash followed by the letter u: text
            continue
        high = text[start + 3] in "89abAB"
        if pending >= 0:
            if not high and start == pending + 6:  # the pair of a non-BMP character
                pending = -1
                continue
            lone.append(pending)
            pending = -1
        if high:
            pending = start
        else:
            lone.append(start)
    if pending >= 0:
        lone.append(pending)
    if not lone:
        return text
    parts = []
    last = 0
    for start in lone:
        parts.append(text[last:start])
        parts.append("\\ufffd")
        last = start + 6
    parts.append(text[last:])
    return "".join(parts)
