"""Every Query API route is documented in docs/query-api.md, and has a response schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from hiveboard.api.read_routers import ROUTERS

DOC = Path(__file__).resolve().parents[3] / "docs" / "query-api.md"
PATHS = sorted({route.path_format for router in ROUTERS for route in router.routes})  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", PATHS)
def test_route_is_documented(path: str) -> None:
    assert f"`GET {path}`" in DOC.read_text(), f"document {path} in docs/query-api.md"


@pytest.mark.parametrize("path", [p for p in PATHS if p != "/v1/stream"])
def test_route_declares_a_response_model(path: str) -> None:
    route = next(r for router in ROUTERS for r in router.routes if r.path_format == path)  # type: ignore[attr-defined]
    assert route.response_model is not None
