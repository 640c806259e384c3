"""The ``api`` fixture of the Query API tests: the real app over the shared ``storage``.

Test modules load it with ``pytest_plugins = ("query_fixtures",)`` rather than from a
conftest.py in this directory: a second module named ``conftest`` would shadow the
top-level one for tests that ``from conftest import …``.  The app's clock is pinned to
``NOW`` so ages and wait times are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hiveboard.app import create_app
from hiveboard.config import load_settings
from hiveboard.storage.base import Storage
from query_seed import NOW, Api


@pytest.fixture
def api(storage: Storage, tmp_path: Path) -> Iterator[Api]:
    settings = load_settings(data_dir=tmp_path, bootstrap=False, rate_limit_per_key=0)
    app = create_app(settings, storage, run_detector=False)
    app.state.clock = lambda: NOW
    with TestClient(app) as client:
        yield Api(client, storage)
