"""A served app exempts its start-up heap from garbage collection (app.freeze_startup_heap).

Full collections used to walk every module, class, route and validator of the process
(80-140 ms each on a 2-core machine, on whichever request was allocating). ``hiveboard
serve`` and each of its workers freeze that heap once started; apps built by tests or
embedders (``create_app`` by default) leave the collector alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hiveboard import cli
from hiveboard.app import create_app, worker_app
from hiveboard.config import load_settings
from hiveboard.storage.sql import SqlStorage


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the suite builds many apps)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _frozen_once_started(app: FastAPI) -> int:
    """How many objects are frozen while ``app`` runs (its lifespan has started)."""
    with TestClient(app):
        return gc.get_freeze_count()


def test_serve_freezes_the_started_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(data_dir=tmp_path, bootstrap=False)
    storage = SqlStorage(settings.effective_database_url)
    storage.migrate()
    seen: list[int] = []

    def run(app: FastAPI, **_: Any) -> None:
        seen.append(_frozen_once_started(app))

    monkeypatch.setattr(uvicorn, "run", run)
    try:
        cli._serve_one(settings, storage)
    finally:
        storage.close()
    [frozen] = seen
    assert frozen > 10_000  # the imported modules, routes and validators at least


def test_each_worker_freezes_its_started_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=tmp_path, bootstrap=False)
    SqlStorage(settings.effective_database_url).migrate()  # the parent's job
    monkeypatch.setenv("HIVEBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HIVEBOARD_BOOTSTRAP", "false")
    assert _frozen_once_started(worker_app()) > 10_000


def test_an_app_built_by_default_leaves_the_collector_alone(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, bootstrap=False)
    assert _frozen_once_started(create_app(settings, run_detector=False)) == 0
