"""Where SQLite and PostgreSQL differ: upserts, a planner hint, epoch seconds, joined ints.

Both dialects support ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE … WHERE`` and
``RETURNING`` with the same SQLAlchemy API, so callers build one statement for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, Executable, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def insert(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` for ``table`` that supports ``on_conflict_do_*`` on this connection."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Prepared:
    """A statement built once per dialect, then reused for every execution.

    Building a Core statement (and its ``on_conflict`` clause) costs more than running it
    once it is in SQLAlchemy's compiled cache: the ingest path executes thousands of
    statements a second, so each is built here, lazily on first use per dialect, with
    ``bindparam`` placeholders, and executed with parameter lists (``executemany``).
    ``build`` receives this dialect's ``insert`` constructor.
    """

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[Callable[[Table], Any]], Executable]) -> None:
        self._build = build
        self._built: dict[str, Executable] = {}

    def __call__(self, conn: Connection) -> Any:
        name = conn.dialect.name
        stmt = self._built.get(name)
        if stmt is None:
            maker = postgresql.insert if name == "postgresql" else sqlite.insert
            stmt = self._built[name] = self._build(maker)
        return stmt


class not_indexed(FunctionElement[Any]):  # named like the SQL constructs it joins
    """A column SQLite's planner must not choose an index for (PostgreSQL: the column).

    SQLite keeps no statistics unless ANALYZE runs, so for ``agent_id = ? AND task_id =
    ? ORDER BY ts`` it prefers an index that saves the sort, (tenant, agent, ts) or
    (tenant, ts), and walks every event of the agent or tenant (270 ms per timeline at
    10 M events) instead of the (tenant, task) index that finds the task's few rows
    (under 1 ms). A unary ``+`` (a no-op on any value) is SQLite's documented way to
    take a term, in WHERE or ORDER BY, out of index selection; PostgreSQL plans by its
    statistics and gets the bare column.
    """

    inherit_cache = True
    name = "not_indexed"

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(not_indexed)
def _bare_column(element: not_indexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(not_indexed, "sqlite")
def _unary_plus(element: not_indexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


class epoch_seconds(FunctionElement[int]):  # named like the SQL constructs it joins
    """Whole seconds since the epoch of a ``UTCDateTime`` column, floored, as an integer.

    Reading a timestamp into Python costs more than the row (parsing, attaching UTC):
    the metrics bucket thousands of task-run starts, so they do it in SQL on these
    integers. On SQLite the stored text (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC) is
    cut to whole seconds before ``strftime('%s')``, which would otherwise round to the
    millisecond and could move a start into the next second.
    """

    inherit_cache = True
    name = "epoch_seconds"
    type = BigInteger()

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


@compiles(epoch_seconds)
def _extract_epoch(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(floor(extract(epoch FROM {column})) AS BIGINT)"


@compiles(epoch_seconds, "sqlite")
def _strftime_epoch(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"


class joined_ints(FunctionElement[str]):  # named like the SQL constructs it joins
    """An aggregate: the group's integer values as one comma-separated text.

    Thousands of rows cost Python an object (and a garbage collector's count) each; one
    text per group split in Python costs neither: ``group_concat`` on SQLite,
    ``string_agg`` on PostgreSQL. The order of the values is unspecified.
    """

    inherit_cache = True
    name = "joined_ints"
    type = String()

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


@compiles(joined_ints)
def _string_agg(element: joined_ints, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"string_agg(CAST({column} AS TEXT), ',')"


@compiles(joined_ints, "sqlite")
def _group_concat(element: joined_ints, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"group_concat({column}, ',')"
