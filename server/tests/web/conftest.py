"""Browser-test fixtures: a real HiveBoard on loopback, fed by the real SDK, and Chromium.

The server is the shipped app (``create_app`` with migrations, bootstrap, detector and
live stream) served by uvicorn in a thread, so a test can stop and restart it on the same
port to prove the dashboard reconnects.  Chromium is Debian's ``/usr/bin/chromium``
driven by Playwright; no browser is ever downloaded.  Every page a test opens collects
console errors and dialogs, and the test fails if any appear.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import hiveloop
import pytest
import story
from hbweb import CHROMIUM, CHROMIUM_ARGS, MEMBER, VIEWER, Server, Watch, free_port, login
from hiveboard.app import create_app
from hiveboard.bootstrap import bootstrap_if_empty
from hiveboard.config import load_settings
from hiveboard.storage.sql import SqlStorage


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, with the stories told through the SDK."""
    data_dir = tmp_path_factory.mktemp("hiveboard")
    port = free_port()
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


@pytest.fixture
def admin_page(new_page: Callable[..., Any], server: Server) -> Any:
    page = new_page()
    login(page, *server.admin)
    return page
