"""Migrations go up, down and up again on both dialects, and match tables.py."""

from __future__ import annotations

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
