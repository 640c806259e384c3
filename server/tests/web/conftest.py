"""Browser-test fixtures: a real HiveBoard on loopback, fed by the real SDK, and Chromium.

The server is the shipped app (``create_app`` with migrations, bootstrap, detector and
live stream) served by uvicorn in a thread, so a test can stop and restart it on the same
port to prove the dashboard reconnects.  Chromium is Debian's ``/usr/bin/chromium``
driven by Playwright; no browser is ever downloaded.  Every page a test opens collects
console errors and dialogs, and the test fails if any appear.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hiveloop
import pytest
import uvicorn
from hiveboard.app import create_app
from hiveboard.bootstrap import bootstrap_if_empty
from hiveboard.config import load_settings
from hiveboard.storage.sql import SqlStorage

sys.path.insert(0, str(Path(__file__).parent))
import story

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


def _free_port() -> int:
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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, with the stories told through the SDK."""
    data_dir = tmp_path_factory.mktemp("hiveboard")
    port = _free_port()
    settings = load_settings(data_dir=data_dir, port=port, detector_interval_seconds=1)
    storage = SqlStorage(settings.effective_database_url)
    storage.migrate()
    created = bootstrap_if_empty(storage)
    assert created is not None
    storage.create_user(created.tenant_id, *VIEWER, role="viewer")
    storage.create_user(created.tenant_id, *MEMBER, role="member")
    app = create_app(settings, storage)
    admin = (created.admin_email, created.admin_password)
    srv = Server(app, storage, port, admin, created.ingest_key)
    srv.start()
    story.tell_all(srv.url, srv.key)
    try:
        yield srv
    finally:
        hiveloop.shutdown(timeout=2)
        srv.stop()
        storage.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught errors, dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def new_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh contexts (own cookies); each fails the test on console errors."""
    contexts: list[Any] = []
    watches: list[Watch] = []

    def open_page(width: int = 1280, height: int = 860) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=server.url
        )
        contexts.append(context)
        page = context.new_page()
        watch = Watch()
        watches.append(watch)
        page.hb_watch = watch

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                watch.errors.append(msg.text)

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.on("dialog", on_dialog)
        return page

    yield open_page
    for context in contexts:
        context.close()
    for watch in watches:
        assert not watch.dialogs, f"a dialog opened (script ran): {watch.dialogs}"
        benign = [e for e in watch.errors if "net::ERR_CONNECTION_REFUSED" not in e]
        assert not benign, f"console errors: {benign}"


def login(page: Any, email: str, password: str, next_path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


@pytest.fixture
def admin_page(new_page: Callable[..., Any], server: Server) -> Any:
    page = new_page()
    login(page, *server.admin)
    return page


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
