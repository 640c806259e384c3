"""Shared fixtures: one ``storage`` per backend, an app client, tenants with keys.

``storage`` is parametrised over a temp-file SQLite database and a real PostgreSQL server
started for the session from the Debian binaries (pgserver.py). The PostgreSQL run is
never skipped: if the binaries are missing the suite errors out and says how to install
them. Each PostgreSQL test gets truncated tables on a database migrated once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hbtest import TenantKeys
from hiveboard.app import create_app
from hiveboard.config import load_settings
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import metadata
from pgserver import PgServer
from sqlalchemy import text

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_storage_session(pg_server: PgServer) -> Iterator[SqlStorage]:
    url = pg_server.create_database("hiveboard_test")
    storage = SqlStorage(url)
    storage.migrate()
    yield storage
    storage.close()


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStorage]:
    if request.param == "sqlite":
        s = SqlStorage(f"sqlite:///{tmp_path / 'hb.db'}")
        s.migrate()
        yield s
        s.close()
        return
    shared: SqlStorage = request.getfixturevalue("pg_storage_session")
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with shared.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    # A fresh object per test (empty key cache) over the shared engine.
    yield SqlStorage(shared.engine.url.render_as_string(hide_password=False), engine=shared.engine)


@pytest.fixture
def tenant(storage: SqlStorage) -> TenantKeys:
    t = storage.create_tenant("Alice Co")
    return TenantKeys(
        t.id,
        storage.create_api_key(t.id, "live")[1],
        storage.create_api_key(t.id, "read")[1],
        storage.create_api_key(t.id, "test")[1],
    )


@pytest.fixture
def make_client(storage: SqlStorage, tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        s = load_settings(data_dir=tmp_path / "data", bootstrap=False, **settings)
        client = TestClient(create_app(s, storage=storage, run_detector=False))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def app_client(make_client: Any) -> TestClient:
    return make_client()
