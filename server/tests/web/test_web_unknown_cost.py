"""Costs of the last hour say when calls had no price, never a silent $0.00.

A tenant of its own (the stories' fleet stays as the other tests expect it) gets LLM
calls with a reported cost, an estimated one (a priced model with tokens) and unknown
ones (a model no price table knows, no cost). The ribbon, the agent cards and the agent
page show the priced total with "+?" beside it when some calls were unpriced, and
"unknown" when all were; both keep up live as new calls arrive. The cost charts (Costs
page, agent page, Fleet) mark each bucket with unpriced calls with a "?" and count them
in their caption.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hbweb import Server, api, login, shoot
from hiveboard.web.render import fmt_usd
from playwright.sync_api import expect

PRIVATE = "my-private-model"


def _call(model: str, ago: timedelta = timedelta(minutes=2), **data: Any) -> dict[str, Any]:
    """One LLM call ``ago`` (by default two minutes ago: well inside the last hour)."""
    ts = datetime.now(UTC) - ago
    return {
        "event_id": str(uuid.uuid4()),
        "timestamp": ts.isoformat().replace("+00:00", "Z"),
        "event_type": "custom",
        "payload": {
            "kind": "llm_call",
            "summary": model,
            "data": {"name": "n", "model": model, **data},
        },
    }


def _send(page: Any, key: str, agent_id: str, *calls: dict[str, Any]) -> None:
    body = {"envelope": {"agent_id": agent_id}, "events": list(calls)}
    response = page.request.post(
        "/v1/ingest", data=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200, response.text()


def _own_tenant(server: Server, page: Any) -> str:
    """A fresh tenant with a user signed in on ``page``; returns its ingest key."""
    name = f"unpriced-{uuid.uuid4().hex[:8]}"
    tenant = server.storage.create_tenant(name)
    _, key = server.storage.create_api_key(tenant.id, "live")
    email, password = f"{name}@example.test", "correct horse battery"
    server.storage.create_user(tenant.id, email, password, role="admin")
    login(page, email, password)
    return key


def test_unpriced_calls_show_beside_the_cost_and_keep_up_live(
    new_page: Any, server: Server
) -> None:
    page = new_page()
    key = _own_tenant(server, page)
    _send(
        page,
        key,
        "priced-agent",
        _call("gpt-4o", tokens_in=100, tokens_out=10, cost=0.5),
        _call("claude-sonnet-4", tokens_in=1000, tokens_out=100),
        _call(PRIVATE, tokens_in=50, tokens_out=5),
    )
    _send(page, key, "private-agent", _call(PRIVATE, tokens_in=9), _call(PRIVATE))
    summary = api(page, "/v1/metrics")["summary"]
    assert (summary["llm_calls"], summary["cost_unknown_calls"]) == (5, 3)
    stats = {a["agent_id"]: a["stats_1h"] for a in api(page, "/v1/agents")["items"]}

    page.goto("/")
    page.wait_for_selector("#live-state[data-state=on]")
    ribbon = page.locator("#ribbon")
    assert ribbon.locator("[data-metric=cost]").inner_text() == fmt_usd(summary["cost_usd"])
    marker = ribbon.locator("[data-unknown-cost]")
    assert marker.inner_text() == "+?"
    assert marker.get_attribute("title").startswith("3 LLM call(s) with unknown cost")
    priced = page.locator(".agent-card[data-agent='priced-agent']")
    assert priced.locator("[data-field=cost-1h]").inner_text() == fmt_usd(
        stats["priced-agent"]["cost_usd"]
    )
    assert priced.locator("[data-unknown-cost]").get_attribute("data-unknown-cost") == "1"
    private = page.locator(".agent-card[data-agent='private-agent']")
    assert private.locator("[data-field=cost-1h]").inner_text() == "unknown"
    assert private.locator("[data-unknown-cost]").count() == 0  # not "$0.00", not "+?"

    # Live: a new agent's unpriced call, then a priced one, reach the open page.
    _send(page, key, "late-agent", _call(PRIVATE))
    late = page.locator(".agent-card[data-agent='late-agent']")
    expect(late.locator("[data-field=cost-1h]")).to_have_text("unknown", timeout=5000)
    expect(ribbon.locator("[data-unknown-cost]")).to_have_attribute(
        "data-unknown-cost", "4", timeout=5000
    )
    _send(page, key, "late-agent", _call("gpt-4o", tokens_in=10, tokens_out=1, cost=0.25))
    expect(late.locator("[data-field=cost-1h]")).to_have_text(fmt_usd(0.25), timeout=5000)
    expect(late.locator("[data-unknown-cost]")).to_have_text("+?", timeout=5000)
    shoot(page, "fleet-unknown-cost")

    page.goto("/agents/private-agent")
    assert page.locator("[data-field=cost-1h]").inner_text() == "unknown"
    page.goto("/agents/priced-agent")
    cost = page.locator("#agent-header [data-field=cost-1h], [data-field=cost-1h]").first
    assert cost.inner_text() == fmt_usd(stats["priced-agent"]["cost_usd"])
    assert page.locator("[data-unknown-cost]").first.get_attribute("data-unknown-cost") == "1"


def test_a_fleet_whose_calls_all_lack_a_price_shows_unknown_not_zero(
    new_page: Any, server: Server
) -> None:
    page = new_page()
    key = _own_tenant(server, page)
    _send(page, key, "private-agent", _call(PRIVATE, tokens_in=9), _call(PRIVATE))
    html = page.request.get("/").text()
    assert "$0.00" not in html
    page.goto("/")
    ribbon = page.locator("#ribbon")
    assert ribbon.locator("[data-metric=cost]").inner_text() == "unknown"
    title = ribbon.locator("[data-metric=cost] .warn").get_attribute("title")
    assert title.startswith("2 LLM call(s) with unknown cost")


def _marks(page: Any, chart: str) -> dict[int, int]:
    """The chart's markers of unpriced calls: bucket (unix seconds) -> calls."""
    marks = page.locator(f"figure[data-chart={chart}] .chart-unknown")
    return {
        int(m.get_attribute("data-bucket")): int(m.get_attribute("data-unknown-calls"))
        for m in marks.all()
    }


def test_cost_charts_mark_the_buckets_with_unpriced_calls(new_page: Any, server: Server) -> None:
    """An hour whose only call had no price plots $0: its bucket carries a "?" marker
    (tooltip: how many calls) and the caption counts the unpriced calls."""
    page = new_page()
    key = _own_tenant(server, page)
    _send(page, key, "priced-agent", _call("gpt-4o", cost=0.5), _call(PRIVATE, tokens_in=5))
    _send(page, key, "private-agent", _call(PRIVATE, ago=timedelta(hours=3)))
    points = api(page, "/v1/cost/timeseries?interval=1h")["points"]
    unpriced = {
        int(datetime.fromisoformat(p["bucket"].replace("Z", "+00:00")).timestamp()): p
        for p in points
        if p["unknown_cost_calls"]
    }
    assert sorted((p["llm_calls"], p["unknown_cost_calls"]) for p in unpriced.values()) == [
        (1, 1),
        (2, 1),
    ]
    assert min(unpriced.values(), key=lambda p: p["bucket"])["cost_usd"] == 0

    page.goto("/costs")
    expect(page.locator("figure[data-chart=cost] .chart-unknown")).to_have_count(2)
    assert _marks(page, "cost") == {t: p["unknown_cost_calls"] for t, p in unpriced.items()}
    mark = page.locator("figure[data-chart=cost] .chart-unknown").first
    assert mark.inner_text() == "?" and "1 LLM call(s) with unknown cost" in mark.get_attribute(
        "title"
    )
    mark.hover()  # on top of the plot, where the pointer reaches it
    caption = page.locator("figure[data-chart=cost] figcaption [data-unknown-cost]")
    assert caption.get_attribute("data-unknown-cost") == "2"
    assert caption.inner_text() == "+? 2 unpriced"
    shoot(page, "costs-unknown-cost")

    page.goto("/agents/private-agent")
    expect(page.locator("figure[data-chart=agent-cost] .chart-unknown")).to_have_count(1)
    assert page.locator("[data-field=cost-24h]").inner_text() == "unknown"  # not "$0.00"
    assert page.locator("figure[data-chart=tokens] .chart-unknown").count() == 0
    page.goto("/agents/priced-agent")
    expect(page.locator("figure[data-chart=agent-cost] .chart-unknown")).to_have_count(1)
    assert page.locator("[data-field=cost-24h]").inner_text() == fmt_usd(0.5)

    page.goto("/")
    expect(page.locator("figure[data-chart=cost] .chart-unknown")).to_have_count(1)
    assert set(_marks(page, "cost").values()) == {1}
    fleet_caption = page.locator("figure[data-chart=cost] figcaption [data-unknown-cost]")
    assert fleet_caption.get_attribute("data-unknown-cost") == "1"


def test_a_cost_axis_of_fractions_of_a_cent_labels_its_ticks_apart(
    new_page: Any, server: Server
) -> None:
    """An agent spending $0.0003 a day: the axis must not read "0, 0, 0"."""
    page = new_page()
    key = _own_tenant(server, page)
    _send(page, key, "frugal-agent", _call("gpt-4o", cost=0.0001), _call("gpt-4o", cost=0.0002))
    page.goto("/agents/frugal-agent")
    figure = page.locator("figure[data-chart=agent-cost]")
    expect(figure).to_have_attribute("data-y-ticks", re.compile(r"\d"), timeout=5000)
    ticks = figure.get_attribute("data-y-ticks").split()
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks
    assert any(float(t) > 0 for t in ticks), ticks
