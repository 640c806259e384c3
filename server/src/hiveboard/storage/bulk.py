"""Many-row statements with parameters converted in one pass instead of by SQLAlchemy.

The ingest path writes ~2 rows per event. Handing SQLAlchemy a list of dicts costs, per
row, a ``construct_params`` call and a generic processor walk — measured as the largest
single cost of ingest once statements were built once. ``Bulk`` compiles its statement
once per dialect, keeps the bind processors of its columns (the same ones SQLAlchemy
would apply: UTC timestamps, JSON), converts every row with one comprehension and sends
the lot straight to the driver:

* on SQLite, statements without ``RETURNING`` run as one DB-API ``executemany`` (SQLite
  steps one prepared statement), ``INSERT … RETURNING`` as one multi-row ``VALUES``
  statement per chunk (``executemany`` returns no rows);
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

MAX_PARAMS = 30_000
"""Bound values per statement: below SQLite's 32,766 and PostgreSQL's 65,535."""

_NAMED = re.compile(r"%\(([^)]+)\)s")


def _sqlite_utc(value: datetime | None) -> str | None:
    """``UTCDateTime`` + SQLite ``DATETIME`` binding in one step (same text, same checks):
    the two generic processors were the largest part of converting a row."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given: HiveBoard stores only aware UTC timestamps")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass(frozen=True)
class _Plan:
    sql: str  # single row, positional placeholders
    width: int  # values per row
    convert: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # row -> positional values
    # For INSERT … RETURNING: the text before and after the one "(?, ?, …)" VALUES group.
    head: str | None
    values: str | None
    tail: str | None
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
        if plan.head is None:  # no RETURNING: one prepared statement, many parameter sets
            conn.exec_driver_sql(plan.sql, params)
            return []
        # SQLite's executemany drops RETURNING rows: one multi-row VALUES per chunk.
        per = max(1, MAX_PARAMS // max(1, plan.width))
        head, values, tail = plan.head, plan.values or "", plan.tail or ""
        out: list[Any] = []
        for start in range(0, len(params), per):
            chunk = params[start : start + per]
            sql = f"{head}{', '.join([values] * len(chunk))}{tail}"
            out.extend(conn.exec_driver_sql(sql, tuple(v for p in chunk for v in p)))
        return out

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
        head = values = tail = staged = None
        if dialect.name == "postgresql":
            staged = staging.plan(compiled, dialect, names)
        elif compiled.effective_returning:
            at = sql.index(" VALUES (") + len(" VALUES ")
            depth, end = 0, at
            for end in range(at, len(sql)):
                depth += {"(": 1, ")": -1}.get(sql[end], 0)
                if depth == 0:
                    break
            head, values, tail = sql[:at], sql[at : end + 1], sql[end + 1 :]
        return _Plan(sql, len(parts), env["convert"], head, values, tail, staged)
