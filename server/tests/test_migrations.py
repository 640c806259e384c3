"""Migrations go up, down and up again on both dialects, and match tables.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hiveboard.storage import migrations
from hiveboard.storage.engine import create_db_engine
from hiveboard.storage.tables import metadata
from sqlalchemy import Engine, inspect


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        server = request.getfixturevalue("pg_server")
        engine = create_db_engine(server.create_database(f"mig_{tmp_path.name[-12:]}".lower()))
    yield engine
    engine.dispose()


def test_up_down_up_and_schema_matches_tables(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    assert migrations.current_revision(empty_engine) == migrations.head_revision()
    migrations.downgrade(empty_engine, "base")
    assert migrations.current_revision(empty_engine) is None
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # Type-level noise (our UTCDateTime decorator vs the stored DateTime) is not drift.
    real = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert real == []


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    migrations.upgrade(empty_engine)
    assert migrations.current_revision(empty_engine) == migrations.head_revision()


def test_processes_starting_together_migrate_once(empty_engine: Engine) -> None:
    """Several ``serve`` replicas starting at once on one empty database must all come up:
    the second migrator waits for the first, then finds nothing left to do."""
    url = empty_engine.url.render_as_string(hide_password=False)
    engines = [create_db_engine(url) for _ in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def migrate(engine: Engine) -> None:
        start.wait()
        try:
            migrations.upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below, with its type
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert migrations.current_revision(empty_engine) == migrations.head_revision()
