"""A throwaway PostgreSQL server for the test session, started from the Debian binaries.

pytest-postgresql's ``postgresql_proc`` runs ``initdb``/``pg_ctl`` as the current user,
and PostgreSQL refuses to run as root (our CI containers run as root). This helper does
the same job but drops to the ``postgres`` system user with ``runuser`` when needed. It
never skips: a missing binary is an error, because the PostgreSQL run is mandatory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_pg_bin() -> Path:
    """The directory holding pg_ctl: $HIVEBOARD_PG_BIN, PATH, or the newest Debian install."""
    explicit = os.environ.get("HIVEBOARD_PG_BIN")
    if explicit:
        return Path(explicit)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found: run `make system-deps` "
            "(installs the Debian 'postgresql' package) or set HIVEBOARD_PG_BIN"
        )
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    base: Path
    port: int
    bin_dir: Path
    as_user: str | None

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its SQLAlchemy URL."""
        from hiveboard.storage.engine import create_db_engine
        from sqlalchemy import text

        engine = create_db_engine(self.url("postgres"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.base)

    @classmethod
    def start(cls) -> PgServer:
        bin_dir = find_pg_bin()
        as_user = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="hiveboard-pg-"))
        if as_user:
            shutil.chown(base, user=as_user)
        server = cls(base=base, port=_free_port(), bin_dir=bin_dir, as_user=as_user)
        data = base / "data"
        server._run(
            str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        opts = (
            f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        server._run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        return server

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.base / "data"), "-m",
                      "immediate", "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
