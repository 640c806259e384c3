"""Many-row statements with parameters converted in one pass instead of by SQLAlchemy.

The ingest path writes ~2 rows per event. Handing SQLAlchemy a list of dicts costs, per
row, a ``construct_params`` call and a generic processor walk — measured as the largest
single cost of ingest once statements were built once. ``Bulk`` compiles its statement
once per dialect, keeps the bind processors of its columns (the same ones SQLAlchemy
would apply: UTC timestamps, JSON), converts every row with one comprehension and sends
the lot straight to the driver:

* on SQLite, every statement runs as one DB-API ``executemany`` (SQLite steps one
  prepared statement). Its ``executemany`` returns no ``RETURNING`` rows, so an
  ``INSERT … RETURNING`` instead reads back the rows whose rowid is above the table's
  largest before the insert: SQLite gives each new row a rowid one above the largest,
  and the write transaction is the only writer, so those are exactly the rows the
  insert created, in insert order (a multi-row ``VALUES`` statement was re-parsed for
  every group and its rows fetched through SQLAlchemy: a tenth of SQLite ingest);
* on PostgreSQL, every statement runs set-based: ``COPY`` into a staging table, then
  one statement for all rows (staging.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from hiveboard.storage import staging
from hiveboard.storage.dialect import Prepared
from hiveboard.storage.types import UTCDateTime

_NAMED = re.compile(r"%\(([^)]+)\)s")


_last_utc: tuple[datetime | None, str | None] = (None, None)


def _sqlite_utc(value: datetime | None) -> str | None:
    """``UTCDateTime`` + SQLite ``DATETIME`` binding in one step (same text, same checks):
    the two generic processors were the largest part of converting a row.

    The last value is remembered: consecutive rows often repeat one object (every event
    of a batch has the same ``received_at``). One tuple, read and replaced whole, so
    threads sharing it can only miss, never mix two values."""
    global _last_utc
    last = _last_utc
    if value is last[0]:
        return last[1]
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given: HiveBoard stores only aware UTC timestamps")
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    text = utc.isoformat(" ", "microseconds")[:-6]  # without "+00:00"
    _last_utc = (value, text)
    return text


@dataclass(frozen=True)
class _Plan:
    convert: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # row -> positional values
    sql: str  # SQLite: single row, positional placeholders, no RETURNING
    newest: str | None  # SQLite INSERT … RETURNING: the largest rowid before the insert
    returned: str | None  # … and the returned columns of the rows above it
    staged: staging.StagedPlan | None  # PostgreSQL


class Bulk:
    """A ``Prepared`` statement run for many rows (every row has the same keys)."""

    __slots__ = ("_plans", "_prepared")

    def __init__(self, build: Callable[[Callable[..., Any]], Any]) -> None:
        self._prepared = Prepared(build)
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Run for ``rows``; the rows a ``RETURNING`` clause sent back (else empty)."""
        if not rows:
            return []
        keys = tuple(rows[0])
        plan = self._plans.get((conn.dialect.name, keys))
        if plan is None:
            plan = self._plans[(conn.dialect.name, keys)] = self._plan(conn, keys)
        convert = plan.convert
        params = [convert(row) for row in rows]
        if plan.staged is not None:
            return staging.execute(conn, plan.staged, params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if plan.newest is None:
                cursor.executemany(plan.sql, params)
                return []
            newest = cursor.execute(plan.newest).fetchone()[0]
            cursor.executemany(plan.sql, params)
            out: list[Any] = cursor.execute(plan.returned, (newest,)).fetchall()
            return out
        finally:
            cursor.close()

    def _plan(self, conn: Connection, keys: tuple[str, ...]) -> _Plan:
        dialect = conn.dialect
        stmt = self._prepared(conn)
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        sql = compiled.string
        if compiled.positional:
            names = list(compiled.positiontup or ())
        else:  # pyformat (psycopg): each name once, in order of first use
            names = list(dict.fromkeys(_NAMED.findall(sql)))
        env: dict[str, Any] = {}
        parts = []
        for i, name in enumerate(names):
            bind = compiled.binds[name]
            proc = bind.type._cached_bind_processor(dialect)
            if dialect.name == "sqlite" and isinstance(bind.type, UTCDateTime):
                proc = _sqlite_utc
            if not bind.required:
                value = bind.effective_value
                env[f"c{i}"] = proc(value) if proc else value
                parts.append(f"c{i}")
            elif proc is None:
                parts.append(f"row[{bind.key!r}]")
            else:
                env[f"p{i}"] = proc
                parts.append(f"p{i}(row[{bind.key!r}])")
        # One generated function per statement: a tuple display is several times faster
        # than a generator over (name, processor) pairs, and this runs once per row.
        source = f"def convert(row):\n    return ({', '.join(parts)},)\n"
        exec(compile(source, f"<bulk {stmt.table}>", "exec"), env)
        newest = returned = staged = None
        if dialect.name == "postgresql":
            staged = staging.plan(compiled, dialect, names)
        elif compiled.effective_returning:
            table = stmt.table.name
            columns = ", ".join(c.name for c in compiled.effective_returning)
            sql = sql[: sql.rindex(" RETURNING ")]
            newest = f"SELECT coalesce(max(rowid), 0) FROM {table}"
            returned = f"SELECT {columns} FROM {table} WHERE rowid > ? ORDER BY rowid"
        return _Plan(env["convert"], sql, newest, returned, staged)
