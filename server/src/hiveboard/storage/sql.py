"""SqlStorage: the Storage implementation shared by SQLite and PostgreSQL.

Writes: all write transactions on a SQLite file are serialised, across threads and
processes, by ``SqliteWriteLock`` (SQLite allows one writer; a waiter on that lock wakes
at once, where one on ``SQLITE_BUSY`` sleeps) and begin with ``BEGIN IMMEDIATE``. On
PostgreSQL writes run concurrently; per-agent derived state is serialised by locking the agent rows
(``SELECT … FOR UPDATE``, in agent order) in ``derived_agents.lock_agents``.

Ingest goes through a ``GroupWriter``: concurrent requests are applied together, one
transaction per group, and each returns after that transaction commits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from hiveboard.derive.cost import PriceOverride
from hiveboard.derive.status import StatusDecision
from hiveboard.ingest.model import Batch
from hiveboard.storage import migrations, write
from hiveboard.storage.base import (
    KEY_KINDS,
    ROLES,
    AgentState,
    ApiKey,
    IngestResult,
    Tenant,
    Transition,
    User,
)
from hiveboard.storage.checkpoint import WalCheckpointer
from hiveboard.storage.dialect import insert
from hiveboard.storage.engine import Backend, backend_of, create_db_engine, sqlite_path
from hiveboard.storage.group_writer import GroupWriter, Item
from hiveboard.storage.tables import api_keys, events, price_overrides, tenants, users
from hiveboard.storage.write_lock import SqliteWriteLock

INGEST_WRITER_THREADS = {Backend.SQLITE: 1, Backend.POSTGRESQL: 2}
"""Group-commit writers per process: SQLite has one writer anyway; on PostgreSQL a second
thread builds its group while the first waits on the database."""

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 5.0
"""How long a key lookup is cached per process; bounds how late a revocation made by
*another* process takes effect here (revocations in this process apply at once)."""

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""A key's ``last_used_at`` is written at most this often: enough to tell a key in use
from an idle one before revoking it, without a write per request."""

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so timing stays uniform.

    Made on the first failed lookup, not at import: one argon2 hash takes 64 MiB for a
    moment, and every server process (and CLI call) would pay that in peak memory.
    """
    return _hasher.hash("not-a-real-password")


def hash_key(secret: str) -> str:
    """API keys are long random tokens, so a fast unsalted SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class SqlStorage:
    """Storage over a SQLAlchemy engine (``sqlite`` or ``postgresql+psycopg`` URL)."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.backend = backend_of(url)
        self.engine = engine or create_db_engine(url)
        self._key_cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._writer = GroupWriter(self._ingest_group, threads=INGEST_WRITER_THREADS[self.backend])
        path = sqlite_path(url) if self.backend is Backend.SQLITE else None
        self._checkpointer = WalCheckpointer(path) if path else None
        self._file_lock = SqliteWriteLock(path) if path else None
        self._write_lock: Callable[[], AbstractContextManager[Any]] = nullcontext
        if self._file_lock is not None:
            self._write_lock = self._file_lock.held
        elif self.backend is Backend.SQLITE:  # in memory: this process is the only one
            memory_lock = threading.Lock()
            self._write_lock = lambda: memory_lock

    # -- lifecycle -------------------------------------------------------------------

    def migrate(self) -> None:
        migrations.upgrade(self.engine)

    def close(self) -> None:
        self._writer.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._file_lock is not None:
            self._file_lock.close()
        self.engine.dispose()

    @contextmanager
    def write_tx(self) -> Iterator[Connection]:
        """A write transaction: serialised on SQLite, committed on success."""
        with self._write_lock():
            conn = self.engine.connect().execution_options(hiveboard_write=True)
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    # -- tenancy and access ----------------------------------------------------------

    def is_empty(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(tenants)).scalar_one() == 0

    def create_tenant(self, name: str, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(id=tenant_id or uuid.uuid4().hex[:16], name=name, created_at=_now())
        with self.write_tx() as conn:
            conn.execute(
                tenants.insert().values(id=tenant.id, name=name, created_at=tenant.created_at)
            )
        return tenant

    def list_tenants(self) -> list[Tenant]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.created_at)).all()
        return [Tenant(r.id, r.name, r.created_at) for r in rows]

    def create_api_key(self, tenant_id: str, kind: str, name: str = "") -> tuple[ApiKey, str]:
        if kind not in KEY_KINDS:
            raise ValueError(f"key kind must be one of {', '.join(KEY_KINDS)}, not {kind!r}")
        secret = f"hb_{kind}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            id=uuid.uuid4().hex[:12],
            tenant_id=tenant_id,
            kind=kind,
            name=name,
            prefix=secret[: len(f"hb_{kind}_") + 6],
            created_at=_now(),
        )
        with self.write_tx() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    tenant_id=tenant_id,
                    kind=kind,
                    name=name,
                    prefix=key.prefix,
                    key_hash=hash_key(secret),
                    created_at=key.created_at,
                )
            )
        return key, secret

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(api_keys)
                .where(api_keys.c.tenant_id == tenant_id)
                .order_by(api_keys.c.created_at)
            ).all()
        return [_key(r) for r in rows]

    def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        with self.write_tx() as conn:
            result = conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.tenant_id == tenant_id,
                    api_keys.c.id == key_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=_now())
            )
        self._key_cache.clear()
        return result.rowcount == 1

    def authenticate_api_key(self, secret: str) -> ApiKey | None:
        digest = hash_key(secret)
        cached = self._key_cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == digest)).first()
        key = _key(row) if row is not None else None
        if key is not None and key.revoked_at is None:
            self._note_use(key)
        if len(self._key_cache) > 10_000:
            self._key_cache.clear()
        self._key_cache[digest] = (time.monotonic(), key)
        return key

    def _note_use(self, key: ApiKey) -> None:
        """Record that ``key`` was used, once per ``LAST_USED_RESOLUTION`` (checked again
        in the statement, so processes sharing the database write it once between them)."""
        now = _now()
        stale = now - LAST_USED_RESOLUTION
        if key.last_used_at is not None and key.last_used_at > stale:
            return
        try:
            with self.write_tx() as conn:
                conn.execute(
                    update(api_keys)
                    .where(
                        api_keys.c.id == key.id,
                        api_keys.c.last_used_at.is_(None) | (api_keys.c.last_used_at <= stale),
                    )
                    .values(last_used_at=now)
                )
        except SQLAlchemyError:  # a bookkeeping write: never the reason a request fails
            logger.warning("could not record the use of API key %s", key.prefix, exc_info=True)

    def create_user(self, tenant_id: str, email: str, password: str, role: str) -> User:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        user = User(uuid.uuid4().hex[:12], tenant_id, email.strip().lower(), role, _now())
        with self.write_tx() as conn:
            conn.execute(
                users.insert().values(
                    id=user.id,
                    tenant_id=tenant_id,
                    email=user.email,
                    password_hash=_hasher.hash(password),
                    role=role,
                    created_at=user.created_at,
                )
            )
        return user

    def verify_user(self, email: str, password: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users).where(
                    users.c.email == email.strip().lower(), users.c.disabled_at.is_(None)
                )
            ).first()
        try:
            _hasher.verify(row.password_hash if row else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        return User(row.id, row.tenant_id, row.email, row.role, row.created_at)

    def set_price_override(
        self, tenant_id: str, model: str, input_per_mtok: float, output_per_mtok: float
    ) -> None:
        with self.write_tx() as conn:
            stmt = insert(conn, price_overrides).values(
                tenant_id=tenant_id,
                model=model,
                input_per_mtok=input_per_mtok,
                output_per_mtok=output_per_mtok,
                updated_at=_now(),
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "model"],
                    set_={
                        "input_per_mtok": stmt.excluded.input_per_mtok,
                        "output_per_mtok": stmt.excluded.output_per_mtok,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    def price_overrides(self, tenant_id: str) -> dict[str, PriceOverride]:
        with self.engine.connect() as conn:
            return write.load_price_overrides(conn, tenant_id)

    # -- write path ------------------------------------------------------------------

    def ingest(self, tenant_id: str, batch: Batch, *, now: datetime) -> IngestResult:
        return self.ingest_future(tenant_id, batch, now=now).result()

    def ingest_future(self, tenant_id: str, batch: Batch, *, now: datetime) -> Future[IngestResult]:
        """``ingest`` without blocking: the future resolves after the commit.

        Lets the async API await the group writer without parking a thread per request.
        """
        if self._checkpointer is not None:
            self._checkpointer.start()
        return self._writer.submit(tenant_id, batch, now)

    def _ingest_group(self, items: Sequence[Item]) -> list[IngestResult]:
        with self.write_tx() as conn:
            return write.apply_batches(conn, items)

    # -- detector --------------------------------------------------------------------

    def prune_events(self, cutoff: datetime, batch_size: int = 5_000) -> int:
        deleted = 0
        for tenant in self.list_tenants():
            while True:
                # Batches by primary key: short transactions, portable (no DELETE ... LIMIT).
                doomed = (
                    select(events.c.id)
                    .where(events.c.tenant_id == tenant.id, events.c.ts < cutoff)
                    .limit(batch_size)
                    .scalar_subquery()
                )
                with self.write_tx() as conn:
                    count = conn.execute(delete(events).where(events.c.id.in_(doomed))).rowcount
                deleted += count
                if count < batch_size:
                    break
        return deleted

    def agent_states(self) -> list[AgentState]:
        with self.engine.connect() as conn:
            return write.load_agent_states(conn)

    def apply_status(
        self, state: AgentState, decision: StatusDecision, now: datetime
    ) -> Transition | None:
        with self.write_tx() as conn:
            return write.apply_status(conn, state, decision, now)

    def mark_quiet_runs_stuck(self, states: Sequence[AgentState], now: datetime) -> None:
        with self.write_tx() as conn:
            write.mark_quiet_runs_stuck(conn, states, now)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
