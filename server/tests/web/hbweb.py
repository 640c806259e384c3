"""Helpers for the dashboard's browser tests: the server handle, sign-in, screenshots.

Kept out of ``conftest.py`` so test modules can import them by a name no other test
directory uses (``from conftest import`` would be ambiguous across the suite).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from hiveboard.storage.sql import SqlStorage

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "build" / "screenshots"
VIEWER = ("viewer@localhost", "viewer-password-1")
MEMBER = ("member@localhost", "member-password-1")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A HiveBoard app served on 127.0.0.1; ``stop``/``start`` keep the port and data."""

    app: Any
    storage: SqlStorage
    port: int
    admin: tuple[str, str]
    key: str
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("HiveBoard did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=15)


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught errors, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def login(page: Any, email: str, password: str, next_path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


def shoot(page: Any, name: str) -> None:
    """Save the page in light and dark under build/screenshots/ for reviewers."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(80)
        page.screenshot(path=str(SHOTS / f"{name}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def api(page: Any, path: str) -> Any:
    """The JSON API with the page's session cookie: what the page must agree with."""
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status} {response.text()[:300]}"
    return response.json()
