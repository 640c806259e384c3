"""Migrations go up, down and up again on both dialects, and match tables.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hiveboard.storage import migrations
from hiveboard.storage.engine import create_db_engine
from hiveboard.storage.tables import llm_calls, metadata, rollups, tenants
from sqlalchemy import Engine, inspect, select


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
        except BaseException as exc:  # reported below, with its type
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


def test_0005_backfills_unknown_cost_calls_from_llm_calls(empty_engine: Engine) -> None:
    """A database at 0004 with calls in it: each agent minute counts its calls of unknown
    cost (not the reported or estimated ones, nor the next minute's), each fleet minute
    sums its agents."""
    migrations.upgrade(empty_engine, "0004")
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    m1 = t0 + timedelta(minutes=1)
    calls = [  # (agent, seconds after t0, cost, cost_source)
        ("a1", 0, 0.5, "reported"),
        ("a1", 10, None, "unknown"),
        ("a1", 59.999999, None, "unknown"),
        ("a1", 60, None, "unknown"),  # the next minute
        ("a1", 61, 0.25, "estimated"),
        ("a2", 30, None, "unknown"),
        ("a2", 90, 0.1, "reported"),
    ]
    minute_rows = {  # (agent, bucket): llm_calls, cost_usd, as 0004's ingest kept them
        ("a1", t0): (3, 0.5),
        ("a1", m1): (2, 0.25),
        ("a2", t0): (1, 0.0),
        ("a2", m1): (1, 0.1),
        ("", t0): (4, 0.5),
        ("", m1): (3, 0.35),
    }
    with empty_engine.begin() as conn:
        conn.execute(tenants.insert(), {"id": "t", "name": "t", "created_at": t0})
        conn.execute(
            llm_calls.insert(),
            [
                {
                    "tenant_id": "t",
                    "event_id": f"e{i}",
                    "agent_id": agent,
                    "ts": t0 + timedelta(seconds=at),
                    "model": "m",
                    "cost_usd": cost,
                    "cost_source": source,
                }
                for i, (agent, at, cost, source) in enumerate(calls)
            ],
        )
        conn.execute(
            rollups.insert(),
            [
                {"tenant_id": "t", "agent_id": a, "bucket": b, "events": n, "llm_calls": n}
                | {"cost_usd": usd}
                for (a, b), (n, usd) in minute_rows.items()
            ],
        )
    migrations.upgrade(empty_engine)
    r = rollups
    with empty_engine.connect() as conn:
        got = {
            (row.agent_id, row.bucket): row.cost_unknown_calls
            for row in conn.execute(select(r.c.agent_id, r.c.bucket, r.c.cost_unknown_calls))
        }
    assert got == {
        ("a1", t0): 2,
        ("a1", m1): 1,
        ("a2", t0): 1,
        ("a2", m1): 0,
        ("", t0): 3,
        ("", m1): 1,
    }
