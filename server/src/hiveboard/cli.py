"""The ``hiveboard`` command: serve, migrate, and manage tenants, keys and users.

Every command takes ``--data-dir`` and ``--database-url`` (or the ``HIVEBOARD_*``
variables); flags win over the environment. Secrets (keys, generated passwords) are
printed once and stored only as hashes.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hiveboard.bootstrap import DEFAULT_TENANT_ID, bootstrap_if_empty
from hiveboard.config import Settings, SettingsError, load_settings
from hiveboard.storage.base import KEY_KINDS, ROLES
from hiveboard.storage.sql import SqlStorage

app = typer.Typer(help="HiveBoard: self-hosted server for HiveLoop agents.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
users_app = typer.Typer(help="Manage dashboard users.", no_args_is_help=True)
tenants_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(tenants_app, name="tenants")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Directory for the SQLite file and local state.")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="sqlite:///file.db or postgresql+psycopg://…"),
]
Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id.")]
MIN_PASSWORD_LENGTH = 8
"""The dashboard's own rule for new users (Settings → Users), so both doors agree."""


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _storage(settings: Settings) -> SqlStorage:
    """Open and migrate the database; one line naming it (password masked) if that fails."""
    try:
        storage = SqlStorage(settings.effective_database_url)
        storage.migrate()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(f"cannot open database {settings.printable_database_url}: {reason}") from None
    return storage


def _require_tenant(storage: SqlStorage, tenant: str) -> None:
    """Name an unknown ``--tenant`` instead of failing on a foreign key (or listing nothing)."""
    if tenant not in {t.id for t in storage.list_tenants()}:
        storage.close()
        raise _fail(f"no tenant {tenant!r}; create it with: hiveboard tenants create NAME --id ID")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes accepting on the port (default 1)."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the server: migrate, bootstrap an empty database, serve the API and dashboard."""
    settings = _settings(
        host=host, port=port, workers=workers, data_dir=data_dir, database_url=database_url
    )
    logging.basicConfig(
        level=settings.python_log_level, format="%(levelname)s %(name)s: %(message)s"
    )
    # Everything that must happen once per deployment happens here, before any worker
    # starts: the secret key file, migrations, first-run bootstrap and its printout.
    settings.ensure_secret_key()
    storage = _storage(settings)
    url = settings.public_url
    created = bootstrap_if_empty(storage) if settings.bootstrap else None
    if created is not None:
        typer.echo(created.render(url))
    processes = f", {settings.workers} worker processes" if settings.workers > 1 else ""
    typer.echo(f"HiveBoard {url}/  (database: {settings.printable_database_url}{processes})")
    typer.echo(f"API docs: {url}/docs", nl=True)
    sys.stdout.flush()
    try:
        if settings.workers > 1:
            _serve_workers(settings, storage)
        else:
            _serve_one(settings, storage)
    finally:
        storage.close()


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What one process and several share, so the two ways to serve cannot drift apart."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        # Live streams (/v1/stream, open dashboards) never finish by themselves: without
        # a bound, Ctrl+C / SIGTERM would wait for every open browser tab forever.
        "timeout_graceful_shutdown": 3,
    }


def _serve_one(settings: Settings, storage: SqlStorage) -> None:
    """One process: the app runs in this interpreter with the storage opened above.

    ``serve`` has migrated and bootstrapped already: the app's start-up does neither again.
    """
    import uvicorn

    from hiveboard.app import create_app

    app = create_app(settings, storage, prepared=True, freeze_heap=True)
    uvicorn.run(app, **_uvicorn_options(settings))


def _serve_workers(settings: Settings, storage: SqlStorage) -> None:
    """``settings.workers`` processes accepting on one socket; this one supervises them.

    Workers are started by uvicorn from ``hiveboard.app:worker_app``, which rebuilds the
    settings from the environment exported here. The detector and retention run in this
    process, once for the host (see ``worker_app``).
    """
    import uvicorn

    from hiveboard.app import background_jobs

    os.environ.update(settings.worker_environment())
    jobs = background_jobs(storage, settings)
    for job in jobs:
        job.start()
    try:
        uvicorn.run(
            "hiveboard.app:worker_app",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
    finally:
        for job in jobs:
            job.stop()


@app.command()
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply pending database migrations."""
    from hiveboard.storage import migrations

    settings = _settings(data_dir=data_dir, database_url=database_url)
    storage = _storage(settings)
    typer.echo(
        f"database {settings.printable_database_url} at revision "
        f"{migrations.current_revision(storage.engine)}"
    )
    storage.close()


@tenants_app.command("create")
def tenants_create(
    name: str,
    tenant_id: Annotated[
        str | None, typer.Option("--id", help="Tenant id (default: random).")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a tenant and print its id."""
    storage = _storage(_settings(data_dir=data_dir, database_url=database_url))
    if tenant_id is not None and tenant_id in {t.id for t in storage.list_tenants()}:
        raise _fail(f"tenant {tenant_id!r} already exists")
    typer.echo(storage.create_tenant(name, tenant_id).id)


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(KEY_KINDS)}.")] = "live",
    name: Annotated[str, typer.Option(help="A label shown in key lists.")] = "",
    tenant: Tenant = DEFAULT_TENANT_ID,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key; the secret is printed once."""
    if kind not in KEY_KINDS:
        typer.echo(f"--kind must be one of: {', '.join(KEY_KINDS)}", err=True)
        raise typer.Exit(2)
    storage = _storage(_settings(data_dir=data_dir, database_url=database_url))
    _require_tenant(storage, tenant)
    key, secret = storage.create_api_key(tenant, kind, name)
    typer.echo(f"key id {key.id} ({kind}); the secret is shown once:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list(
    tenant: Tenant = DEFAULT_TENANT_ID, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """List a tenant's keys (prefixes only; secrets are never stored)."""
    storage = _storage(_settings(data_dir=data_dir, database_url=database_url))
    _require_tenant(storage, tenant)
    for key in storage.list_api_keys(tenant):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        typer.echo(f"{key.id}\t{key.kind}\t{key.prefix}…\t{state}\t{key.name}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: str,
    tenant: Tenant = DEFAULT_TENANT_ID,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: running servers refuse it within 5 seconds (they cache checked keys)."""
    storage = _storage(_settings(data_dir=data_dir, database_url=database_url))
    if not storage.revoke_api_key(tenant, key_id):
        typer.echo(f"no active key {key_id!r} in tenant {tenant!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@users_app.command("create")
def users_create(
    email: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "member",
    password: Annotated[
        str | None, typer.Option(help="Password (default: generated and printed once).")
    ] = None,
    tenant: Tenant = DEFAULT_TENANT_ID,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a dashboard user."""
    if role not in ROLES:
        raise _fail(f"--role must be one of: {', '.join(ROLES)}", 2)
    if "@" not in email:
        raise _fail(f"EMAIL must be an email address, not {email!r}", 2)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        # An empty --password used to create the user with a random password never shown.
        raise _fail(f"--password must be at least {MIN_PASSWORD_LENGTH} characters", 2)
    storage = _storage(_settings(data_dir=data_dir, database_url=database_url))
    _require_tenant(storage, tenant)
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = storage.create_user(tenant, email, password, role)
    except IntegrityError:
        raise _fail(f"a user with email {email.strip().lower()!r} already exists") from None
    typer.echo(f"created {user.email} ({role})")
    if generated:
        typer.echo(f"password (shown once): {password}")


def main() -> None:
    app()
