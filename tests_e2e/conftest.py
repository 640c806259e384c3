"""Fixtures for the end-to-end suite: real servers on both databases, SDK interpreters.

``hiveboard`` is a real ``hiveboard serve`` subprocess, parametrised over SQLite (a temp
``--data-dir``) and PostgreSQL (``--database-url`` to a throw-away server started with
server/tests/pgserver.py, the same fixture the storage suite uses; never skipped). One
server per backend serves the whole session; tests keep apart by using their own agent
and task ids. The detector runs every 0.2 s so stuck/offline show up within a second of
being due instead of within the default 5 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests_e2e.hbserver import REPO_ROOT, HiveBoardProcess, create_pg_database, pg_server_class

DETECTOR_INTERVAL_S = "0.2"
RELEASED = "hiveloop==0.2.0"
RELEASED_CACHE = REPO_ROOT / "build" / "released-hiveloop-venv"


@pytest.fixture(scope="session")
def e2e_pg_server() -> Iterator[Any]:
    server = pg_server_class().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def hiveboard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HiveBoardProcess]:
    """A running ``hiveboard serve`` on loopback for one backend, with its first-run key."""
    data_dir = tmp_path_factory.mktemp(f"hiveboard-{request.param}")
    database_url = None
    if request.param == "postgres":
        pg = request.getfixturevalue("e2e_pg_server")
        database_url = create_pg_database(pg.url("postgres"), "hiveboard_e2e")
    server = HiveBoardProcess.start(
        data_dir,
        database_url=database_url,
        env={"HIVEBOARD_DETECTOR_INTERVAL_SECONDS": DETECTOR_INTERVAL_S},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ours_python() -> Path:
    """This repository's venv: ``hiveloop`` is sdk/src, installed editable."""
    return Path(sys.executable)


def _version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('hiveloop'))"
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    return run.stdout.strip() if run.returncode == 0 else None


@pytest.fixture(scope="session")
def released_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python with hiveloop 0.2.0: the cache sdk/tests/test_released_client.py builds
    under build/, or a fresh throw-away venv the same way (and cached for next time)."""
    wanted = RELEASED.split("==")[1]
    cached = RELEASED_CACHE / "bin" / "python"
    if _version(cached) == wanted:
        return cached
    venv = tmp_path_factory.mktemp("released-hiveloop") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", RELEASED]
    run = subprocess.run(pip, capture_output=True, text=True, timeout=400)
    if run.returncode != 0 or _version(python) != wanted:
        pytest.fail(f"`pip install {RELEASED}` failed (not a skip):\n{run.stderr[-3000:]}")
    try:
        partial = RELEASED_CACHE.with_name(RELEASED_CACHE.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(venv, partial, symlinks=True)
        shutil.rmtree(RELEASED_CACHE, ignore_errors=True)
        partial.rename(RELEASED_CACHE)
    except OSError:
        pass
    return python


@pytest.fixture(params=["ours", "released-0.2.0"])
def sdk_python(request: pytest.FixtureRequest) -> Path:
    """The interpreter a scripted agent runs under: our SDK, or hiveloop 0.2.0."""
    name = "ours_python" if request.param == "ours" else "released_python"
    python: Path = request.getfixturevalue(name)
    return python
