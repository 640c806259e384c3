"""Settings: every ``HIVEBOARD_*`` variable declared once, validated at start.

Precedence is explicit: CLI flag (passed as a keyword argument) > environment variable >
default. An invalid value fails at start with an error naming the variable and the
accepted values, instead of surfacing later as a confusing runtime failure.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
SECRET_KEY_FILE = "secret.key"
MIN_SECRET_KEY_LENGTH = 16
"""Shorter keys can be guessed offline from one session cookie, then any session forged."""


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable and what it accepts."""


class Settings(BaseSettings):
    """HiveBoard server configuration (environment prefix ``HIVEBOARD_``)."""

    model_config = SettingsConfigDict(env_prefix="HIVEBOARD_", extra="ignore")

    data_dir: Path = Field(default=Path("./hiveboard-data"))
    """Directory for the SQLite file and local state (the generated secret key)."""

    database_url: SecretStr | None = None
    """``sqlite:///path/file.db`` or ``postgresql+psycopg://user:pass@host/db``.
    Default: ``hiveboard.db`` inside ``data_dir``. Kept secret: it may hold a password."""

    host: str = "127.0.0.1"
    """Interface to bind; loopback by default so nothing is exposed by accident."""

    port: int = Field(default=8080, ge=1, le=65535)

    secret_key: SecretStr | None = None
    """Signs session cookies. Generated once and persisted in ``data_dir`` when absent."""

    detector_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    """How often the background detector re-evaluates every agent's status."""

    log_level: LogLevel = "info"

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest accepted (decompressed) ingest body; larger bodies get 413."""

    rate_limit_per_key: float = Field(default=1000.0, ge=0)
    """Ingest requests per second allowed per API key on this host (burst: twice that);
    0 disables. With several worker processes each enforces its share (``rate_limit_share``)."""

    workers: int = Field(default=1, ge=1, le=64)
    """Server processes of ``hiveboard serve``. One by default on both backends: with
    today's write path a second process measured no faster on SQLite (one writer at a
    time) nor on PostgreSQL (the server process waits on the database, it does not run
    out of CPU); docs/server.md, "Worker processes"."""

    retention_days: int = Field(default=30, ge=0)
    """Raw events older than this may be pruned; 0 keeps everything."""

    bootstrap: bool = True
    """Create a default tenant, admin user and ingest key on first start of an empty DB."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("host", "data_dir", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        # An empty HIVEBOARD_HOST would bind every interface; an empty data dir would
        # silently mean the current directory. Both are typos, not choices.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("secret_key", mode="after")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # A blank or short key would sign session cookies anyone can forge.
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.startswith(("postgresql://", "postgres://")):
            # One driver everywhere: psycopg 3. Rewritten before parsing, because
            # SQLAlchemy knows no "postgres" backend.
            raw = "postgresql+psycopg://" + raw.split("://", 1)[1]
        try:
            url = make_url(raw)
        except Exception as exc:
            raise ValueError(f"cannot parse database URL: {exc}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                "use sqlite:///path/to/file.db or postgresql+psycopg://user:pass@host/db"
            )
        if url.get_driver_name() not in ("pysqlite", "psycopg"):
            # Another driver (psycopg2, asyncpg...) is not installed, and would fail
            # later with an import error.
            raise ValueError(
                f"driver {url.get_driver_name()!r} is not supported "
                "(SQLite is reached with Python's sqlite3, PostgreSQL with psycopg 3)"
            )
        return SecretStr(raw)

    # -- derived values ------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """The URL to connect to, password included: never log it (use printable_database_url)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'hiveboard.db').resolve()}"

    @property
    def public_url(self) -> str:
        """The address to print for the bind address: one a browser and the SDK can use.

        A wildcard bind is reached through loopback on this machine (``http://0.0.0.0`` is
        refused by browsers), and an IPv6 literal needs brackets (``http://::1:8080`` does
        not parse).
        """
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def printable_database_url(self) -> str:
        """The database URL with any password masked, safe for logs and error messages."""
        return make_url(self.effective_database_url).render_as_string(hide_password=True)

    @property
    def rate_limit_share(self) -> float:
        """This process's part of the per-key rate: the host's limit split across its workers.

        A key's connections land on any worker, so each enforcing the whole rate would let a
        key through N times over.
        """
        return self.rate_limit_per_key / self.workers

    def worker_environment(self) -> dict[str, str]:
        """``HIVEBOARD_*`` variables that rebuild these settings in a worker process.

        uvicorn starts workers by import string, so a CLI flag reaches them only through
        the environment. The secret key is left out: workers read the file the parent
        wrote (``ensure_secret_key``), or inherit the variable it came from.
        """
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "secret_key" or value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = value.resolve()
            env[f"HIVEBOARD_{name.upper()}"] = str(value)
        return env

    @property
    def python_log_level(self) -> int:
        return int(logging.getLevelName(self.log_level.upper()))

    def ensure_secret_key(self) -> str:
        """Return the secret key, generating and persisting one in ``data_dir`` when absent."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / SECRET_KEY_FILE
        key = path.read_text().strip() if path.exists() else ""
        if not key:
            # Absent, or emptied (a full disk, a bad restore): never sign with a blank key.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        self.secret_key = SecretStr(key)
        return key

    def __repr_args__(self) -> Any:
        # SecretStr already masks; show the printable URL instead of '**********'.
        for name, value in super().__repr_args__():
            if name == "database_url" and value is not None:
                yield name, self.printable_database_url
            else:
                yield name, value


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment plus explicit overrides (CLI flags win).

    Raises SettingsError whose message names each bad ``HIVEBOARD_*`` variable and what
    it accepts.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, set(clean))) from None


FLAGS = frozenset({"host", "port", "workers", "data_dir", "database_url"})
"""Settings that ``hiveboard`` commands also take as ``--flag``."""


def _describe(exc: ValidationError, given: set[str]) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "?"
        var = f"HIVEBOARD_{field.upper()}"
        if field in given and field in FLAGS:
            # The bad value came from the flag: naming only the variable sends the user
            # looking for an environment variable that is not set.
            var = f"--{field.replace('_', '-')} ({var})"
        accepted = _accepted(field, err)
        lines.append(f"{var}: {err['msg']}" + (f" (accepted: {accepted})" if accepted else ""))
    return "invalid settings:\n  " + "\n  ".join(lines)


def _accepted(field: str, err: Any) -> str:
    hints = {
        "log_level": "debug, info, warning, error, critical",
        "port": "an integer 1..65535",
        "detector_interval_seconds": "a number of seconds > 0 and <= 3600",
        "max_body_bytes": "an integer >= 1024",
        "rate_limit_per_key": "a number >= 0 (0 disables)",
        "retention_days": "an integer >= 0 (0 keeps everything)",
        "bootstrap": "true or false",
        "workers": "an integer 1..64",
        "database_url": "sqlite:///path/file.db or postgresql+psycopg://user:pass@host/db",
        "secret_key": f"a random string of at least {MIN_SECRET_KEY_LENGTH} characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
        "host": "an interface address such as 127.0.0.1 or 0.0.0.0",
        "data_dir": "a directory path",
    }
    return hints.get(field, "")
