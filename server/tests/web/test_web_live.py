"""Live: what the SDK sends appears on open pages without reload, and the stream comes
back by itself after the server restarts (showing "disconnected" meanwhile)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import story
from hbweb import Server
from playwright.sync_api import expect


def _mark(page: Any) -> None:
    """A flag that a reload would erase: proves updates arrived without one."""
    page.evaluate("window.__noReload = true")


def _not_reloaded(page: Any) -> bool:
    return bool(page.evaluate("window.__noReload === true"))


def test_fleet_updates_live(admin_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/")
    page.wait_for_selector("#live-state[data-state=on]")
    _mark(page)
    hb = story.init(server.url, server.key)
    started = time.monotonic()
    agent = hb.agent("live-agent", type="live", heartbeat_interval=0)
    task = agent.start_task("live-task-1", type="live")
    hb.flush()
    card = page.locator(".agent-card[data-agent='live-agent']")
    card.wait_for(timeout=2000)
    expect(card.locator("[data-field=task]")).to_contain_text("live-task-1", timeout=2000)
    assert time.monotonic() - started < 2.5
    assert card.locator("[data-field=status]").inner_text() == "Processing"
    row = page.locator("#activity .ev", has_text="live-task-1").first
    row.wait_for(timeout=2000)
    task.complete()
    hb.flush()
    expect(card.locator("[data-field=status]")).to_have_text("Idle", timeout=2000)
    assert _not_reloaded(page)


def test_timeline_updates_live(admin_page: Any, server: Server) -> None:
    hb = story.init(server.url, server.key)
    agent = hb.agent("timeline-agent", heartbeat_interval=0)
    task = agent.start_task("follow-me")
    hb.flush()
    page = admin_page
    page.goto(f"/tasks/{quote('follow-me')}")
    page.wait_for_selector("#live-state[data-state=on]")
    _mark(page)
    assert page.locator(".wf-llm").count() == 0
    task.llm_call("live-call", "claude-sonnet-4", tokens_in=10, tokens_out=5, cost=0.001)
    hb.flush()
    page.locator(".wf-llm", has_text="live-call").wait_for(timeout=2000)
    task.complete()
    hb.flush()
    expect(page.locator("[data-field=run-status]")).to_have_text("completed", timeout=2000)
    assert _not_reloaded(page)


def test_reconnects_after_server_restart(admin_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/")
    page.wait_for_selector("#live-state[data-state=on]")
    _mark(page)
    server.stop()
    try:
        page.wait_for_selector("#disconnected:not([hidden])", timeout=8000)
        assert page.locator("#live-state").get_attribute("data-state") == "off"
    finally:
        server.start()
    page.wait_for_selector("#disconnected", state="hidden", timeout=15000)
    # The stream cut by the shutdown is logged by Chromium; that is the point of the test.
    page.hb_watch.errors[:] = [
        e for e in page.hb_watch.errors if "ERR_INCOMPLETE_CHUNKED_ENCODING" not in e
    ]
    hb = story.init(server.url, server.key)
    hb.agent("after-restart", heartbeat_interval=0)
    hb.flush()
    page.locator(".agent-card[data-agent='after-restart']").wait_for(timeout=3000)
    assert _not_reloaded(page)


def test_timeline_update_keeps_an_open_preview_open(admin_page: Any, server: Server) -> None:
    hb = story.init(server.url, server.key)
    agent = hb.agent("preview-agent", heartbeat_interval=0)
    task = agent.start_task("read-while-running")
    task.llm_call("first-call", "claude-sonnet-4", tokens_in=10, tokens_out=5, cost=0.001,
                  prompt_preview="What is 2+2?", response_preview="4")  # fmt: skip
    hb.flush()
    page = admin_page
    page.goto(f"/tasks/{quote('read-while-running')}")
    page.wait_for_selector("#live-state[data-state=on]")
    _mark(page)
    first = page.locator(".wf-llm", has_text="first-call").locator("details")
    first.locator("summary").click()
    assert first.evaluate("d => d.open")
    task.llm_call("second-call", "claude-sonnet-4", tokens_in=10, tokens_out=5, cost=0.001,
                  prompt_preview="And 3+3?", response_preview="6")  # fmt: skip
    hb.flush()
    page.locator(".wf-llm", has_text="second-call").wait_for(timeout=3000)
    # The body was swapped (the new call is there), and the reader's preview is still open.
    assert first.evaluate("d => d.open")
    assert first.locator("pre").first.is_visible()
    assert (
        not page.locator(".wf-llm", has_text="second-call")
        .locator("details")
        .evaluate("d => d.open")
    )
    task.complete()
    hb.flush()
    expect(page.locator("[data-field=run-status]")).to_have_text("completed", timeout=3000)
    assert first.evaluate("d => d.open")
    assert _not_reloaded(page)


def test_agent_page_updates_live(admin_page: Any, server: Server) -> None:
    """An agent page left open follows the agent: status, current task, tasks, queue."""
    hb = story.init(server.url, server.key)
    agent = hb.agent("followed-agent", type="live", heartbeat_interval=0)
    hb.flush()
    page = admin_page
    page.goto(f"/agents/{quote('followed-agent')}")
    page.wait_for_selector("#live-state[data-state=on]")
    _mark(page)
    status = page.locator("#agent-header [data-field=status]")
    assert status.inner_text() == "Idle"
    task = agent.start_task("followed-task", type="live")
    agent.queue_snapshot(4, items=[{"id": "next-1", "summary": "queued work"}])
    hb.flush()
    expect(status).to_have_text("Processing", timeout=5000)
    expect(page.locator("#agent-header")).to_contain_text("followed-task", timeout=5000)
    expect(page.locator("[data-field=queue-depth]")).to_have_text("4", timeout=5000)
    task.complete()
    hb.flush()
    expect(status).to_have_text("Idle", timeout=5000)
    row = page.locator("#agent-tasks tbody tr", has_text="followed-task")
    expect(row.locator(".badge")).to_have_text("completed", timeout=5000)
    assert _not_reloaded(page)
