"""Alembic migrations, applied programmatically (``hiveboard migrate`` and at ``serve``).

Create a revision after changing ``tables.py``::

    cd server/src/hiveboard/storage/migrations
    ../../../../../.venv/bin/alembic -c alembic.ini revision --autogenerate -m "what changed"

then review it: autogenerate misses some things (server defaults, type variants).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from hiveboard.storage.write_lock import SqliteWriteLock

HERE = Path(__file__).parent
MIGRATION_LOCK_KEY = 0x48495645424F41  # PostgreSQL advisory lock id: "HIVEBOA"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at this package; ``engine`` is handed to env.py."""
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    with _one_migrator(engine):
        command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (default: empty)."""
    with _one_migrator(engine):
        command.downgrade(alembic_config(engine), revision)


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """Hold the database's migration lock: replicas that start together on one empty
    database would otherwise all create the same tables, and all but one would fail.
    The next one in finds the schema current and has nothing to do."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()  # the lock belongs to the session, not to a transaction
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":  # one connection: nobody to race
        yield
        return
    lock = SqliteWriteLock(database)
    try:
        with lock.held():
            yield
    finally:
        lock.close()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
