"""Every view loads without console errors and shows what the Query API holds.

Numbers are compared as the page formats them (the same filters the server uses), so a
page that read a different query, scope or window than the API would fail here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import story
from hbweb import SHOTS, Server, api, shoot
from hiveboard.web.render import STATUS_LABEL, fmt_duration, fmt_usd


def test_fleet_matches_api(admin_page: Any) -> None:
    page = admin_page
    page.goto("/")
    page.wait_for_selector("#live-state[data-state=on]")
    agents = api(page, "/v1/agents?sort=attention&limit=200")["items"]
    cards = page.locator("#cards .agent-card")
    assert cards.count() == len(agents)
    shown = [cards.nth(i).get_attribute("data-agent") for i in range(cards.count())]
    assert shown == [a["agent_id"] for a in agents]  # attention order, as the API sorts
    for i, agent in enumerate(agents):
        card = cards.nth(i)
        assert card.locator("[data-field=status]").inner_text() == STATUS_LABEL[agent["status"]]
        assert card.locator("[data-field=issues]").inner_text() == str(agent["open_issues"])
    waiting = page.locator(".agent-card[data-agent='support-agent']")
    assert waiting.locator("[data-field=status]").inner_text() == "Waiting"
    assert waiting.locator("[data-field=task]").inner_text().endswith("ticket-7")
    summary = api(page, "/v1/metrics")["summary"]
    ribbon = page.locator("#ribbon")
    tasks_1h = summary["tasks_completed"] + summary["tasks_failed"]
    assert ribbon.locator("[data-metric=tasks]").inner_text() == str(tasks_1h)
    assert ribbon.locator("[data-metric=cost]").inner_text() == fmt_usd(summary["cost_usd"])
    assert ribbon.locator("[data-metric=p50]").inner_text() == fmt_duration(
        summary["duration_p50_ms"]
    )
    for status, count in summary["agents_by_status"].items():
        assert ribbon.locator(f"[data-count={status}]").inner_text() == str(count)
    assert page.locator("#activity .ev").count() > 0
    page.wait_for_selector("#fleet-charts .uplot")
    shoot(page, "fleet")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(150)
    page.screenshot(path=str(SHOTS / "fleet-phone-light.png"), full_page=True)


def test_agent_page_matches_api(admin_page: Any) -> None:
    page = admin_page
    page.goto("/agents/sales-agent")
    agent = api(page, "/v1/agents/sales-agent")
    assert page.locator("#agent-id").inner_text() == "sales-agent"
    assert (
        page.locator("#agent-header [data-field=status]").inner_text()
        == STATUS_LABEL[agent["status"]]
    )
    assert page.locator("[data-field=cost-1h]").inner_text() == fmt_usd(
        agent["stats_1h"]["cost_usd"]
    )
    runs = api(page, "/v1/tasks?agent=sales-agent&limit=15")["items"]
    rows = page.locator("#agent-tasks tbody tr")
    assert rows.count() == len(runs)
    pipeline = api(page, "/v1/agents/sales-agent/pipeline")
    assert page.locator("[data-field=queue-depth]").inner_text() == str(pipeline["queue"]["depth"])
    assert page.locator("#status-history li").count() == len(agent["status_history"])
    page.wait_for_selector("figure[data-chart=agent-cost] .uplot")
    shoot(page, "agent")


def test_tasks_page_filters_sorts_pages(admin_page: Any) -> None:
    page = admin_page
    page.goto("/tasks")
    runs = api(page, "/v1/tasks")["items"]
    rows = page.locator("#tasks-table tbody tr")
    assert rows.count() == len(runs)
    assert [rows.nth(i).get_attribute("data-run") for i in range(rows.count())] == [
        r["task_run_id"] for r in runs
    ]
    shoot(page, "tasks")
    page.select_option("select[name=status]", "failed")
    page.click("#task-filters button[type=submit]")
    page.wait_for_url("**/tasks?status=failed&sort=started")
    failed = api(page, "/v1/tasks?status=failed")["items"]
    assert rows.count() == len(failed) > 0
    page.goto("/tasks?sort=cost")
    dear = api(page, "/v1/tasks?sort=cost")["items"]
    assert (
        rows.first.locator("[data-field=cost]")
        .inner_text()
        .startswith(fmt_usd(dear[0]["cost_usd"]))
    )
    page.goto("/tasks?q=lead-4")
    assert rows.count() == len(api(page, "/v1/tasks?q=lead-4")["items"]) == 2
    # Paging follows the API's cursor.
    page.goto("/tasks?agent=sales-agent&since=24h")
    total = len(api(page, "/v1/tasks?agent=sales-agent&since=24h")["items"])
    assert rows.count() == total


def test_costs_page_matches_api(admin_page: Any) -> None:
    page = admin_page
    page.goto("/costs")
    cost = api(page, "/v1/cost?since=24h")
    total = page.locator("[data-field=total-cost]").inner_text()
    assert total == fmt_usd(cost["total"]["cost_usd"])
    models = page.locator("#cost-model tbody tr")
    assert models.count() == len(cost["by_model"])
    assert models.first.locator("[data-field=cost]").inner_text() == fmt_usd(
        cost["by_model"][0]["cost_usd"]
    )
    for group in cost["by_source"]:
        if group["key"] != "unknown":
            value = page.locator(f"[data-field=source-{group['key']}]").inner_text()
            assert value == fmt_usd(group["cost_usd"])
    assert page.locator("#dearest-calls tbody tr").count() == len(
        api(page, "/v1/llm-calls?sort=cost&since=24h&limit=10")["items"]
    )
    page.wait_for_selector(".chart .uplot")
    shoot(page, "costs")


def test_pipeline_page_matches_api(admin_page: Any) -> None:
    page = admin_page
    page.goto("/pipeline")
    waits = api(page, "/v1/approvals?state=pending,open&limit=100")["items"]
    assert page.locator("#waits tbody tr").count() == len(waits) > 0
    issues = api(page, "/v1/issues?state=open&limit=100")["items"]
    assert page.locator("#issues tbody tr").count() == len(issues) > 0
    queues = {a["agent_id"]: a for a in api(page, "/v1/pipeline")["agents"]}
    row = page.locator("#queues tr[data-agent='sales-agent']")
    assert row.locator("[data-field=queue]").inner_text().split()[0] == str(
        queues["sales-agent"]["queue_depth"]
    )
    shoot(page, "pipeline")


def test_alerts_page_says_it_is_coming(admin_page: Any) -> None:
    admin_page.goto("/alerts")
    assert "No alert rules yet" in admin_page.locator("#alerts-empty").inner_text()
    shoot(admin_page, "alerts")


def test_timeline_page_matches_api(admin_page: Any, server: Server) -> None:
    page = admin_page
    page.goto(f"/tasks/{quote(story.RICH_TASK)}")
    t = api(page, f"/v1/tasks/{story.RICH_TASK}/timeline")
    assert page.locator("[data-field=total-cost]").inner_text() == fmt_usd(t["total_cost_usd"])
    assert page.locator("[data-field=llm-count]").inner_text() == str(t["llm_call_count"])
    assert page.locator("#events tbody tr").count() == len(t["events"])
    assert page.locator("[data-field=run-status]").inner_text() == t["status"]
    shoot(page, "timeline")


def test_fleet_status_filter(admin_page: Any) -> None:
    page = admin_page
    page.goto("/")
    page.locator("#ribbon .chip-error").click()
    page.wait_for_url("**/?status=error#fleet")
    errors = api(page, "/v1/agents?status=error")["items"]
    assert page.locator("#cards .agent-card").count() == len(errors) > 0
    assert page.locator("#cards .agent-card:not(.st-error)").count() == 0


def test_fleet_bad_cursor_is_a_page_not_json(admin_page: Any) -> None:
    """A mangled "More agents" link answers with the dashboard's error page."""
    response = admin_page.goto("/?cursor=not-a-cursor")
    assert response.status == 400
    assert admin_page.locator("main h1").inner_text() == "Bad link"
    assert admin_page.locator("main a[href='/']").count() == 1
    # Chromium logs the 400 itself as a console error: that status is the point here.
    admin_page.hb_watch.errors[:] = [e for e in admin_page.hb_watch.errors if "400" not in e]
