"""PostgreSQL side of ``Bulk``: rows go in by ``COPY``, then one statement applies them all.

``executemany`` on PostgreSQL runs the statement once per row: pipelined, but each
execution still starts an executor on the server, and psycopg converts every row in
Python. Measured on the ingest mix, that was more than half of the server's CPU and a
third of ours. Instead each ``Bulk`` statement gets a session-local staging table
(``ON COMMIT DELETE ROWS``: empty again after every transaction) with one column per
parameter; a group's rows are copied into it (psycopg formats ``COPY`` rows in C) and
one set-based statement reads them back::

    INSERT INTO t (…) SELECT s.c0, s.c1, … FROM pg_temp.stage AS s ORDER BY s.n ON CONFLICT …
    UPDATE t SET a = s.c0, … FROM pg_temp.stage AS s WHERE t.k = s.c5 …

``ORDER BY s.n`` keeps the caller's row order (rows are inserted, and row locks taken,
in that order). A stage used a second time in one transaction is emptied first. One
statement must not touch a row twice (``ON CONFLICT DO UPDATE`` refuses; ``UPDATE …
FROM`` would apply only one of the rows), so rows repeating a key go to a later
statement: the n-th row of each key runs in the n-th statement, which is exactly the
order ``executemany`` would have applied them in.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.errors import UndefinedTable
from sqlalchemy import Connection, event
from sqlalchemy.dialects.postgresql.dml import OnConflictDoUpdate
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, Update

_NAMED = re.compile(r"%\(([^)]+)\)s")
_STAGES = "hiveboard_stages"
"""Key in the DB-API connection's ``info``: staging tables its session has (committed)."""
_NEW_STAGES = "hiveboard_new_stages"
"""… and those created by the transaction in progress (gone again if it rolls back)."""
_USED_STAGES = "hiveboard_used_stages"
"""… and those the transaction in progress has filled (to empty before the next use)."""

_BINARY_TYPES = {
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "JSONB": "jsonb",
    "TEXT": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "VARCHAR": "varchar",
}
"""psycopg's names for the column types of our tables: rows are copied in binary, so the
server parses no timestamps or numbers (text ``COPY`` parsing was a third of its work)."""

STAGE_MIN_ROWS = 20
"""Statements with fewer rows run row by row (see ``execute``)."""

_numbers = itertools.count()


@dataclass(frozen=True)
class StagedPlan:
    """How one statement runs staged: which table, and the texts to create and use it."""

    stage: str
    create: str
    copy: str
    types: tuple[str, ...]  # of the copied columns, as psycopg names them (binary COPY)
    clear: str
    sql: str
    key: tuple[int, ...]  # parameter positions that must not repeat within one statement
    direct: str  # the statement itself, positional placeholders: for a few rows


def plan(compiled: SQLCompiler, dialect: Dialect, names: Sequence[str]) -> StagedPlan:
    """The staged form of ``compiled`` (pyformat text), parameters in ``names`` order."""
    stmt = compiled.statement
    stage = f"hb_stage_{next(_numbers)}"
    column_of = {name: f"c{i}" for i, name in enumerate(names)}
    types = [compiled.binds[name].type.compile(dialect=dialect) for name in names]
    columns = ", ".join(f"{column_of[n]} {t}" for n, t in zip(names, types, strict=True))
    create = f"CREATE TEMP TABLE IF NOT EXISTS {stage} (n integer, {columns}) ON COMMIT DELETE ROWS"
    sql = compiled.string
    if len(_NAMED.findall(sql)) != len(names):
        raise ValueError("a staged statement uses each parameter once")

    def staged(text: str) -> str:
        return _NAMED.sub(lambda m: f"s.{column_of[m.group(1)]}", text)

    source = f"pg_temp.{stage} AS s"

    if isinstance(stmt, Insert):
        head = sql.index(" VALUES (")
        at = head + len(" VALUES ")
        end = _closing(sql, at)
        values = staged(sql[at + 1 : end])
        body = f"{sql[:head]} SELECT {values} FROM {source} ORDER BY s.n{staged(sql[end + 1 :])}"
        # Only DO UPDATE minds a repeated key (DO NOTHING simply skips the second row).
        clause = stmt._post_values_clause
        targets = (
            clause.inferred_target_elements if isinstance(clause, OnConflictDoUpdate) else None
        )
        key_names = [c if isinstance(c, str) else c.key for c in targets or ()]
    elif isinstance(stmt, Update):
        where = sql.index(" WHERE ")
        body = f"{staged(sql[:where])} FROM {source}{staged(sql[where:])}"
        key_names = _NAMED.findall(sql[where:])
    else:
        raise TypeError(f"cannot stage {type(stmt).__name__}")
    key = tuple(names.index(k) for k in dict.fromkeys(key_names))
    return StagedPlan(
        stage=stage,
        create=create,
        copy=f"COPY pg_temp.{stage} FROM STDIN (FORMAT BINARY)",
        types=("int4", *(_BINARY_TYPES[t.split("(")[0]] for t in types)),
        clear=f"DELETE FROM pg_temp.{stage}",
        sql=body,
        key=key,
        direct=_NAMED.sub("%s", sql),
    )


def _closing(sql: str, at: int) -> int:
    """Index of the parenthesis closing the one that opens at ``sql[at]``."""
    depth = 0
    for i in range(at, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses")


def execute(conn: Connection, staged: StagedPlan, params: list[tuple[Any, ...]]) -> list[Any]:
    """Copy ``params`` into the stage and run the statement; the rows it returned.

    Fewer than ``STAGE_MIN_ROWS`` rows go row by row instead (one pipelined, prepared
    ``executemany``): a ``COPY`` costs two round trips of its own, which only pays off
    for enough rows, and most statements of a small group have only a few.
    """
    if len(params) < STAGE_MIN_ROWS:
        return _row_by_row(conn, staged.direct, params)
    dbapi = conn.connection
    made: set[str] = dbapi.info.setdefault(_STAGES, set())
    new: set[str] = dbapi.info.setdefault(_NEW_STAGES, set())
    used: set[str] = dbapi.info.setdefault(_USED_STAGES, set())
    if staged.stage not in made and staged.stage not in new:
        conn.exec_driver_sql(staged.create)
        new.add(staged.stage)
    cursor = dbapi.driver_connection.cursor()  # type: ignore[union-attr]
    out: list[Any] = []
    try:
        for part in _rounds(params, staged.key):
            if staged.stage in used:
                cursor.execute(staged.clear)
            used.add(staged.stage)
            with cursor.copy(staged.copy) as copy:
                copy.set_types(staged.types)
                for n, row in enumerate(part):
                    copy.write_row((n, *row))
            cursor.execute(staged.sql, prepare=True)
            if cursor.description is not None:
                out.extend(cursor.fetchall())
    except UndefinedTable:
        made.clear()  # lost with a transaction we did not see roll back: create again
        raise
    finally:
        cursor.close()
    return out


def _row_by_row(conn: Connection, sql: str, params: list[tuple[Any, ...]]) -> list[Any]:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params, returning=True)
        out: list[Any] = []
        while True:
            if cursor.description is not None:
                out.extend(cursor.fetchall())
            if not cursor.nextset():
                return out
    finally:
        cursor.close()


def _rounds(params: list[tuple[Any, ...]], key: tuple[int, ...]) -> list[list[tuple[Any, ...]]]:
    """``params`` split so no key repeats within a part: a key's n-th row in part n."""
    if not key:
        return [params]
    seen: dict[tuple[Any, ...], int] = {}
    parts: list[list[tuple[Any, ...]]] = [[]]
    for row in params:
        k = tuple(row[i] for i in key)
        n = seen[k] = seen.get(k, -1) + 1
        if n == len(parts):
            parts.append([])
        parts[n].append(row)
    return parts


def track_transactions(engine: Engine) -> None:
    """Keep the staging tables a transaction created once it commits, not if it rolls back;
    either way the next transaction finds every stage empty."""

    @event.listens_for(engine, "commit")
    def _keep(conn: Connection) -> None:
        info = conn.connection.info
        info.pop(_USED_STAGES, None)
        new = info.pop(_NEW_STAGES, None)
        if new:
            info.setdefault(_STAGES, set()).update(new)

    @event.listens_for(engine, "rollback")
    def _forget(conn: Connection) -> None:
        if not conn.invalidated:
            conn.connection.info.pop(_NEW_STAGES, None)
            conn.connection.info.pop(_USED_STAGES, None)
