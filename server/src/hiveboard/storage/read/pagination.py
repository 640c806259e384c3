"""Stable keyset pagination with opaque cursors.

A cursor is the sort key of the last row of a page, base64url-encoded JSON.  The next
page is ``WHERE (k1, k2, …) < (v1, v2, …)`` (or ``>`` ascending) on an indexed key that
ends with a unique column, so pages never overlap or skip rows when new rows arrive
while someone pages (offsets would shift), and each page costs an index range scan
however deep it is.  Cursors are opaque to clients: their format may change.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, DateTime, Float, Integer, Select, String, literal, tuple_
from sqlalchemy.types import TypeDecorator, TypeEngine

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_INT64 = 2**63


class InvalidCursor(ValueError):
    """The cursor was not produced by this server (or by this endpoint)."""


def encode_cursor(scope: str, values: Sequence[Any]) -> str:
    """Encode a row's sort key; ``scope`` ties the cursor to one endpoint's ordering."""
    items = [{"d": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = orjson.dumps([scope, items])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _fits(value: Any, type_: TypeEngine[Any]) -> bool:
    """Whether a decoded cursor value can be bound to a column of ``type_``.

    A tampered cursor of the right shape but wrong types (a string for a timestamp, an
    integer past 64 bits) must be a 400, not an error from the database driver.
    """
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(value, bool):
        return False
    if isinstance(type_, DateTime):
        return isinstance(value, datetime)
    if isinstance(type_, Integer):
        return isinstance(value, int) and -_INT64 <= value < _INT64
    if isinstance(type_, Float):
        return isinstance(value, int | float) and -_INT64 <= value < _INT64
    if isinstance(type_, String):
        return isinstance(value, str)
    return True


def decode_cursor(scope: str, cursor: str, arity: int) -> list[Any]:
    """Decode a cursor made by :func:`encode_cursor` for the same ``scope``.

    Raises :class:`InvalidCursor` for anything else, so a garbled or foreign cursor is a
    400 for the client rather than a wrong page.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_scope, items = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid: pass back the `next_cursor` you got") from exc
    if got_scope != scope or not isinstance(items, list) or len(items) != arity:
        raise InvalidCursor("cursor belongs to a different listing or ordering")
    values: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            try:
                when = datetime.fromisoformat(item["d"])
                # Aware and in range as UTC, as the column binds it: else a 500 at bind time.
                values.append(when.astimezone(UTC) if when.tzinfo else None)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise InvalidCursor("cursor is not valid") from exc
        elif item is None or isinstance(item, str | int | float):
            values.append(item)
        else:
            raise InvalidCursor("cursor is not valid")
    return values


@dataclass(frozen=True)
class Keyset:
    """An ordering over columns that together are unique, all in one direction."""

    scope: str
    columns: tuple[ColumnElement[Any], ...]
    descending: bool = True
    keys: tuple[str, ...] | None = None
    """Row keys holding each column's value; defaults to the columns' own names, and is
    needed for expressions (select them with ``.label(key)``)."""

    def order(self, query: Select[Any]) -> Select[Any]:
        return query.order_by(*(c.desc() if self.descending else c.asc() for c in self.columns))

    def after(self, query: Select[Any], cursor: str | None) -> Select[Any]:
        """Restrict ``query`` to rows after ``cursor`` (no-op without one)."""
        if not cursor:
            return query
        values = decode_cursor(self.scope, cursor, len(self.columns))
        pairs = zip(self.columns, values, strict=True)
        if any(v is None or not _fits(v, c.type) for c, v in pairs):
            raise InvalidCursor("cursor is not valid")
        left = tuple_(*self.columns)
        right = tuple_(*(literal(v, c.type) for c, v in zip(self.columns, values, strict=True)))
        return query.where(left < right if self.descending else left > right)

    def page(self, query: Select[Any], cursor: str | None, limit: int) -> Select[Any]:
        """Ordered query for one page; fetch ``limit + 1`` rows to know if more exist."""
        return self.order(self.after(query, cursor)).limit(limit + 1)

    def split(self, rows: Sequence[Any], limit: int) -> tuple[list[Any], str | None]:
        """Cut the extra row off and build the next cursor from the last kept row."""
        kept = list(rows[:limit])
        if len(rows) <= limit or not kept:
            return kept, None
        last = kept[-1]._mapping
        keys = self.keys or tuple(str(c.key) for c in self.columns)
        return kept, encode_cursor(self.scope, [last[k] for k in keys])
