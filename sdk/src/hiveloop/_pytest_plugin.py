"""The ``hiveloop_capture`` pytest fixture (loaded by pytest through an entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import Capture, capture


@pytest.fixture
def hiveloop_capture() -> Iterator[Capture]:
    """A fresh HiveLoop client whose events stay in memory for this test."""
    with capture() as captured:
        yield captured
