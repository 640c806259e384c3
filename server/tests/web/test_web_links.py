"""Links lead where they say: a task link on an agent opens that agent's run.

Task ids are chosen by the agents, so two agents often share one ("daily-report");
the latest run of the id may belong to another agent than the card the link is on.
"""

from __future__ import annotations

from typing import Any

import story
from hbweb import Server


def test_current_task_links_open_that_agents_run(admin_page: Any, server: Server) -> None:
    hb = story.init(server.url, server.key)
    mine = hb.agent("link-runner", type="links", heartbeat_interval=0)
    other = hb.agent("link-other", type="links", heartbeat_interval=0)
    mine.start_task("shared-job", type="mine")
    with other.task("shared-job", type="other"):
        pass  # a later, finished run of the same id by another agent
    assert hb.flush(timeout=10)

    page = admin_page
    page.goto("/")
    card = page.locator(".agent-card[data-agent='link-runner']")
    card.locator("[data-field=task] a").click()
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline").get_attribute("data-agent") == "link-runner"
    assert page.locator("[data-field=run-status]").inner_text() == "running"

    page.goto("/agents/link-runner")
    page.locator("#agent-header a[href^='/tasks/']").click()
    page.wait_for_selector("#timeline")
    assert page.locator("#timeline").get_attribute("data-agent") == "link-runner"
    assert page.locator("[data-field=run-status]").inner_text() == "running"
