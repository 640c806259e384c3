"""The task timeline tells the run's story: tree, calls, plan, retry, approval, failure."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import story
from hbweb import api, shoot

DURATION = re.compile(r"^\d+(\.\d)? (ms|s)$|^\d+ m \d\d s$")


def test_rich_run(admin_page: Any) -> None:
    page = admin_page
    page.goto(f"/tasks/{quote(story.RICH_TASK)}")
    t = api(page, f"/v1/tasks/{story.RICH_TASK}/timeline")
    actions = page.locator(".wf-action")
    names = [actions.nth(i).locator(".wf-name").inner_text() for i in range(actions.count())]
    depths = [int(actions.nth(i).get_attribute("data-depth")) for i in range(actions.count())]
    # process_lead at the top, its children nested under it.
    assert names[0].startswith("process_lead") and depths[0] == 0
    assert any(n.endswith("fetch_lead") for n, d in zip(names, depths, strict=True) if d == 1)
    assert sum("call_crm" in n for n in names) == 2
    for i in range(actions.count()):
        assert DURATION.match(actions.nth(i).locator("[data-field=duration]").inner_text())
    # LLM calls sit right under their action, with model, tokens and cost.
    score = page.locator(".wf-action", has_text="score_lead")
    first_call = score.locator("xpath=following-sibling::div[1]")
    assert first_call.get_attribute("data-kind") == "llm"
    assert first_call.locator("[data-field=model]").inner_text() == "claude-sonnet-4"
    assert first_call.locator("[data-field=tokens]").inner_text() == "1,800 in / 250 out"
    assert first_call.locator("[data-field=cost]").inner_text() == "$0.0125"
    first_call.locator("summary").click()
    assert "Score this lead: ACME Corp" in first_call.locator("details").inner_text()
    estimated = page.locator(".wf-llm", has_text="gpt-4o")
    assert "estimated" in estimated.inner_text()
    # Plan progress.
    assert page.locator("[data-field=plan-progress]").inner_text() == "2/3 steps done"
    assert page.locator(".plan-seg.s-completed").count() == 2
    # The retry is linked to the failure it follows (the failed call_crm action).
    retry = page.locator(".link-retry_started")
    assert "Retrying CRM call" in retry.inner_text()
    href = retry.locator("a.follows").get_attribute("href")
    failed = page.locator(".wf-action", has=page.locator(".badge-failed"))
    assert href == "#action-" + failed.first.get_attribute("data-action")
    assert "TimeoutError: CRM timed out after 30s" in failed.first.inner_text()
    retry.locator("a.follows").click()
    assert page.url.endswith(href)
    # The approval and how long it waited (the story waited 150 ms).
    approval = page.locator(".approval")
    assert "Offer a 15% discount?" in approval.inner_text()
    wait = approval.locator("[data-field=wait]").inner_text()
    assert wait == f"{t['approvals'][0]['wait_ms']} ms" and t["approvals"][0]["wait_ms"] >= 140
    assert "approved" in approval.inner_text()


def test_failed_run_shows_exception_where_it_happened(admin_page: Any) -> None:
    page = admin_page
    page.goto(f"/tasks/{quote(story.FAILED_TASK)}")
    failure = page.locator("#failure")
    assert "RuntimeError: enrichment service down" in failure.inner_text()
    escalation = page.locator(".link-escalated")
    assert "Enrichment is down: needs a human" in escalation.inner_text()
    target = escalation.locator("a.follows").get_attribute("href")
    failed = page.locator(".wf-action", has=page.locator(".badge-failed")).first
    assert target == "#action-" + failed.get_attribute("data-action")
    assert "enrich" in failure.locator("h2").inner_text()
    assert page.locator("[data-field=run-status]").inner_text() == "failed"
    run = api(page, f"/v1/tasks/{story.FAILED_TASK}/timeline")["run"]["task_run_id"]
    # The permalink pins the run.
    page.goto(f"/tasks/{quote(story.FAILED_TASK)}?run={quote(run)}")
    assert page.locator("#failure").count() == 1
    shoot(page, "timeline-failed")


def test_unknown_task_is_a_404_page(admin_page: Any) -> None:
    response = admin_page.goto("/tasks/no-such-task")
    assert response.status == 404
    admin_page.hb_watch.errors.clear()  # the 404 document itself is logged by Chromium
    assert "No such task" in admin_page.locator("h1").inner_text()
