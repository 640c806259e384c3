"""Strings an agent sent are text: markup, attribute breakouts and javascript: URLs in an
agent id, an issue, a task id and LLM previews render literally and run nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import story
from hbweb import Server, shoot

NO_INJECTION = """() => ({
  handlers: document.querySelectorAll('[onmouseover], [onerror], [onclick]').length,
  jsLinks: [...document.querySelectorAll('a[href]')]
      .filter(a => a.protocol === 'javascript:').length,
  scripts: [...document.scripts].filter(s => s.textContent.includes('alert(')).length,
})"""


def _clean(page: Any) -> None:
    found = page.evaluate(NO_INJECTION)
    assert found == {"handlers": 0, "jsLinks": 0, "scripts": 0}, found
    # Hover everything an attribute breakout could have armed.
    for link in page.locator("a").all()[:80]:
        if link.is_visible():
            link.hover()
    assert not page.hb_watch.dialogs


def test_hostile_strings_render_as_text(admin_page: Any) -> None:
    page = admin_page
    page.goto("/")
    card = page.locator(".agent-card", has=page.locator(f"a[title='{story.XSS_AGENT}']"))
    assert card.locator(".agent-name").inner_text() == story.XSS_AGENT
    _clean(page)
    card.locator(".agent-name").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#agent-id").inner_text() == story.XSS_AGENT
    assert story.XSS in page.locator(".issue").first.inner_text()
    _clean(page)
    shoot(page, "agent-hostile-strings")
    page.goto("/pipeline")
    summaries = [s.strip() for s in page.locator(".issue-summary").all_inner_texts()]
    assert story.XSS in summaries
    _clean(page)
    page.goto("/tasks?q=xss-task")
    page.locator("#tasks-table a").first.click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("h1").inner_text() == "xss-task-" + story.XSS
    page.locator(".wf-llm summary").first.click()
    assert story.XSS in page.locator(".wf-llm pre").first.inner_text()
    _clean(page)
    page.goto("/costs")
    _clean(page)
    page.goto(f"/tasks/{quote('javascript:alert(1)')}")
    _clean(page)
    page.hb_watch.errors.clear()  # the 404 for that unknown task id


def test_login_next_is_not_an_open_redirect(new_page: Any, server: Server) -> None:
    page = new_page()
    page.goto("/login?next=//evil.example/x")
    page.fill("input[name=email]", server.admin[0])
    page.fill("input[name=password]", server.admin[1])
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert page.url == f"{server.url}/"
