"""Dialect-aware INSERT: the one place that knows SQLite and PostgreSQL spell upserts apart.

Both dialects support ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE … WHERE`` and
``RETURNING`` with the same SQLAlchemy API, so callers build one statement for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite


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
