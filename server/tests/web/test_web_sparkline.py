"""Fleet cards' 1 h activity sparklines: what the rollups hold, one query for the page,
updated live with the card and refreshed for every card once a minute."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import story
from hbweb import Server, api
from playwright.sync_api import expect
from sqlalchemy import event

SPARK_SQL = "SELECT rollups.agent_id, rollups.bucket, rollups.events"
"""The sparklines' read (``web.data.activity_per_minute``), told from the fleet's own."""


@contextmanager
def statements(server: Server) -> Iterator[list[str]]:
    """The SQL the server runs meanwhile (the app reads through the storage's engine)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(server.storage.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(server.storage.engine, "before_cursor_execute", record)


def _events_1h(page: Any, agent_id: str) -> int:
    return int(api(page, f"/v1/metrics?agent={quote(agent_id)}")["summary"]["events"])


def test_every_card_has_the_rollups_sparkline_from_one_query(
    admin_page: Any, server: Server
) -> None:
    page = admin_page
    with statements(server) as sql:
        page.goto("/")
    spark_reads = [s for s in sql if s.startswith(SPARK_SQL)]
    assert len(spark_reads) == 1, spark_reads  # all cards, one query: no N+1
    cards = page.locator("#cards .agent-card")
    assert cards.count() == page.locator("#cards .agent-card svg.spark").count() > 0
    for agent_id in ("sales-agent", "support-agent", story.XSS_AGENT):
        card = page.locator("#cards .agent-card").filter(
            has=page.locator(f"a.agent-name[title={_css_string(agent_id)}]")
        )
        spark = card.locator("svg.spark")
        total = _events_1h(page, agent_id)
        assert total > 0
        assert spark.get_attribute("data-total") == str(total)
        assert card.locator("[data-field=events-1h]").inner_text() == f"{total:,}"
        assert f"{total:,} events in the last hour" in spark.get_attribute("aria-label")
        assert spark.locator("polyline").get_attribute("points").count(",") == 60
    # The hostile agent id reached the SVG only as an escaped attribute.
    assert page.locator("svg.spark script").count() == 0


def _css_string(value: str) -> str:
    """A CSS attribute-selector string for any value (quotes and backslashes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_sparklines_update_live_and_every_minute(admin_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/")
    page.wait_for_selector("#live-state[data-state=on]")
    hb = story.init(server.url, server.key)
    agent = hb.agent("spark-agent", type="live", heartbeat_interval=0)
    with agent.task("spark-task-1") as task:
        task.llm_call("c", "claude-sonnet-4", tokens_in=1, tokens_out=1, cost=0.0001)
    hb.flush()
    card = page.locator(".agent-card[data-agent='spark-agent']")
    card.wait_for(timeout=3000)
    total = card.locator("[data-field=events-1h]")
    expect(total).to_have_text(str(_events_1h(page, "spark-agent")), timeout=3000)
    # The once-a-minute refresh: every card's sparkline is replaced from one request,
    # and the figures agree with the rollups again.
    page.evaluate(
        "document.querySelectorAll('#cards svg.spark').forEach(s => s.dataset.stale = '1')"
    )
    with statements(server) as sql:
        page.evaluate("window.HBFleet.refreshSparks()")
        expect(page.locator("#cards svg.spark[data-stale]")).to_have_count(0, timeout=3000)
    assert len([s for s in sql if s.startswith(SPARK_SQL)]) == 1
    assert page.locator("#cards svg.spark").count() == page.locator("#cards .agent-card").count()
    expect(total).to_have_text(str(_events_1h(page, "spark-agent")))
