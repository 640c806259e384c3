"""Dialect-aware INSERT: the one place that knows SQLite and PostgreSQL spell upserts apart.

Both dialects support ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE … WHERE`` and
``RETURNING`` with the same SQLAlchemy API, so callers build one statement for both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: Connection, table: Table) -> Any:
    """An ``INSERT`` for ``table`` that supports ``on_conflict_do_*`` on this connection."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
