"""Start and stop a real ``hiveboard serve`` subprocess on loopback, and query it.

Shared by the end-to-end tests and the benchmarks under ``bench/``: both need exactly
what a user gets from the CLI (migrations at start, first-run bootstrap, the detector
thread, uvicorn), not an in-process app, so the numbers and the assertions are about the
shipped server.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_TESTS = REPO_ROOT / "server" / "tests"
KEY_RE = re.compile(r"ingest key:\s+(hb_live_\S+)")
T = TypeVar("T")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the server binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hiveboard_cli() -> Path:
    """The ``hiveboard`` entry point of the interpreter running us (the repo's venv)."""
    return Path(sys.executable).parent / "hiveboard"


def pg_server_class() -> Any:
    """``PgServer`` from server/tests/pgserver.py: one way to start PostgreSQL, reused."""
    if str(SERVER_TESTS) not in sys.path:
        sys.path.insert(0, str(SERVER_TESTS))
    from pgserver import PgServer  # type: ignore[import-not-found]

    return PgServer


def create_pg_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server behind ``admin_url``; return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@dataclass
class HiveBoardProcess:
    """A running ``hiveboard serve``; ``key`` is the ingest key its first start printed."""

    proc: subprocess.Popen[str]
    url: str
    key: str
    stdout_lines: list[str] = field(default_factory=list)
    stderr_path: Path | None = None

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
        key: str | None = None,
        workers: int | None = None,
    ) -> HiveBoardProcess:
        """Run ``hiveboard serve`` on a free loopback port and wait until it answers.

        The first-run ingest key is parsed from stdout, as a user would copy it; pass
        ``key`` for a database that was bootstrapped before (nothing is printed then).
        ``workers``: ``--workers N`` (None: the server's default for the backend).
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cmd = [str(hiveboard_cli()), "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--data-dir", str(data_dir)]
        if database_url:
            cmd += ["--database-url", database_url]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        full_env = {**os.environ, "HIVEBOARD_LOG_LEVEL": "warning", **(env or {})}
        stderr_path = data_dir / "server.stderr"
        with stderr_path.open("w") as stderr:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=full_env
            )
        server = cls(proc, f"http://127.0.0.1:{port}", key or "", stderr_path=stderr_path)
        threading.Thread(target=server._pump, daemon=True).start()
        try:
            if key is None:
                server.key = wait_for(server._parsed_key, timeout, "the first-run ingest key")
            wait_for(server._healthy, timeout, "GET /healthz")
        except BaseException:
            server.stop()
            raise
        return server

    def _pump(self) -> None:
        # Drain stdout so the server never blocks on a full pipe.
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))

    def _parsed_key(self) -> str | None:
        self._check_alive()
        for line in list(self.stdout_lines):
            match = KEY_RE.search(line)
            if match:
                return match.group(1)
        return None

    def _healthy(self) -> bool:
        self._check_alive()
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"hiveboard serve exited with {self.proc.returncode}:\n"
                + "\n".join(self.stdout_lines[-20:])
                + "\n"
                + self.stderr_tail()
            )

    def stderr_tail(self, chars: int = 4000) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")[-chars:]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self, field: str = "VmRSS") -> int:
        """Resident memory of the server (Linux /proc): now, or ``VmHWM`` for the peak so
        far; with worker processes, the sum over the parent and its children."""
        return sum(_status_bytes(pid, field) for pid in [self.pid, *self.child_pids()])

    def child_pids(self) -> list[int]:
        """The server's direct children (its worker processes; none with one process)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def get(self, path: str, **params: Any) -> Any:
        """GET a query endpoint with the ingest key; raise on any non-200 answer."""
        resp = requests.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )
        if resp.status_code != 200:
            raise AssertionError(f"GET {path} {params} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)


def _status_bytes(pid: int, field: str) -> int:
    """One ``kB`` line of /proc/<pid>/status in bytes; 0 when the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` seconds.

    Every wait in these tests goes through here: bounded, and the error says what never
    happened (and the last value seen) instead of a bare timeout.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}; last seen: {last!r}")
        time.sleep(every)
