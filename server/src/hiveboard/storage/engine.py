"""One engine factory for both supported databases.

SQLite: WAL (readers never block the writer), ``busy_timeout`` (another process holding
the write lock makes us wait instead of failing), foreign keys on, and transactions that
we begin ourselves so a write transaction takes the write lock up front (``BEGIN
IMMEDIATE``) instead of failing halfway when it upgrades. The one-writer rule inside a
process is enforced by ``SqlStorage``'s write lock.

PostgreSQL: psycopg 3 with a connection pool, pre-ping, UTC session time zone.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, assert_never

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from hiveboard.storage import staging


class Backend(enum.Enum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def backend_of(url: str) -> Backend:
    """The backend a URL names; ValueError for anything else."""
    name = make_url(url).get_backend_name()
    try:
        return Backend(name)
    except ValueError:
        msg = f"unsupported database backend {name!r}: use sqlite or postgresql"
        raise ValueError(msg) from None


WAL_AUTOCHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 16 * 2**20  # the WAL file is truncated to this when it restarts


def sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite:///`` URL; None for an in-memory database."""
    database = make_url(url).database
    return None if database in (None, "", ":memory:") else database


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_db_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Build the engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``)."""
    backend = backend_of(url)
    if backend is Backend.SQLITE:
        return _sqlite_engine(url)
    elif backend is Backend.POSTGRESQL:
        return _postgres_engine(url, pool_size)
    else:
        assert_never(backend)


def _sqlite_engine(url: str) -> Engine:
    database = sqlite_path(url)
    in_memory = database is None
    if database is not None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        connect_args={"check_same_thread": False, "timeout": 30},
        # An in-memory database exists per connection: share exactly one.
        **({"poolclass": StaticPool} if in_memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; see _on_begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
        # SqlStorage checkpoints in the background (checkpoint.py); this only bounds the
        # WAL (~40 MB) should that thread fall behind.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("hiveboard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
    )
    staging.track_transactions(engine)
    return engine
