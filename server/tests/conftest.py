"""Shared fixtures: one ``storage`` per backend, an app client, tenants with keys.

``storage`` is parametrised over a temp-file SQLite database and a real PostgreSQL server
started for the session from the Debian binaries (pgserver.py). The PostgreSQL run is
never skipped: if the binaries are missing the suite errors out and says how to install
them. Each PostgreSQL test gets truncated tables on a database migrated once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hiveboard.app import create_app
from hiveboard.config import load_settings
from hiveboard.storage.engine import create_db_engine
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


def create_database(server: PgServer, name: str) -> str:
    engine = create_db_engine(server.url("postgres"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.url(name)


@pytest.fixture(scope="session")
def pg_storage_session(pg_server: PgServer) -> Iterator[SqlStorage]:
    url = create_database(pg_server, "hiveboard_test")
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


@dataclass
class TenantKeys:
    tenant_id: str
    live: str
    read: str
    test: str

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.live}"}


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


# -- event builders -------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def ev(event_type: str, at: float = 0.0, **fields: Any) -> dict[str, Any]:
    """One wire event ``at`` seconds after T0 (override ``timestamp`` to send raw text)."""
    out: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "timestamp": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
        "event_type": event_type,
    }
    out.update(fields)
    return out


def body(*events: dict[str, Any], agent_id: str = "agent-1", **envelope: Any) -> dict[str, Any]:
    return {"envelope": {"agent_id": agent_id, **envelope}, "events": list(events)}


def llm(at: float, model: str = "claude-sonnet-4", **data: Any) -> dict[str, Any]:
    fields = {k: data.pop(k) for k in ("task_id", "action_id", "task_run_id") if k in data}
    payload = {
        "kind": "llm_call",
        "summary": f"call {model}",
        "data": {"name": "n", "model": model, **data},
    }
    return ev("custom", at, payload=payload, **fields)
