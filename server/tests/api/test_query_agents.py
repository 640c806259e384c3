"""GET /v1/agents and /v1/agents/{agent_id}."""

from __future__ import annotations

from query_seed import LONG_LIVED, Api, ev, llm, seed_fleet

pytest_plugins = ("query_fixtures",)


def test_fleet_lists_agents_with_status_heartbeat_age_and_hour_stats(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    page = api.get(alice, "/v1/agents")
    by_id = {a["agent_id"]: a for a in page["items"]}
    assert set(by_id) == {"lead-qualifier", "support-bot"}
    lead = by_id["lead-qualifier"]
    assert lead["environment"] == "production" and lead["group"] == "sales"
    assert lead["status"] == "error"  # its most recent task failed
    assert lead["heartbeat_age_seconds"] is not None and lead["heartbeat_age_seconds"] > 0
    assert lead["stats_1h"]["tasks_completed"] == 1 and lead["stats_1h"]["tasks_failed"] == 1
    assert lead["stats_1h"]["success_rate"] == 0.5
    support = by_id["support-bot"]
    assert support["status"] == "error"  # an open high-severity issue
    assert support["current_task_id"] == "ticket-9"
    assert support["queue_depth"] == 3 and support["open_issues"] == 1
    assert page["next_cursor"] is None


def test_filters_by_environment_group_and_status(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    ids = lambda **p: [a["agent_id"] for a in api.get(alice, "/v1/agents", **p)["items"]]  # noqa: E731
    assert ids(environment="staging") == ["support-bot"]
    assert ids(group="sales") == ["lead-qualifier"]
    # support-bot has an open high-severity issue: error outranks waiting_approval.
    assert ids(status="error") == ["lead-qualifier", "support-bot"]
    assert ids(status="error", environment="production") == ["lead-qualifier"]
    assert ids(status="idle,offline") == []


def test_attention_sort_puts_troubled_agents_first(api: Api) -> None:
    alice = api.tenant("alice")
    reg = ev("agent_registered", 0, **LONG_LIVED)
    api.ingest(alice, "calm", [reg, ev("heartbeat", 1)])
    api.ingest(alice, "busy", [{**reg, "event_id": "r2"}, ev("task_started", 1, task_id="t")])
    api.ingest(
        alice,
        "broken",
        [
            {**reg, "event_id": "r3"},
            ev("task_started", 1, task_id="t"),
            ev("task_failed", 2, task_id="t"),
        ],
    )
    items = api.get(alice, "/v1/agents", sort="attention")["items"]
    assert [a["agent_id"] for a in items] == ["broken", "busy", "calm"]


def test_pagination_is_stable_when_agents_appear_between_pages(api: Api) -> None:
    alice = api.tenant("alice")
    for name in ("a1", "a3", "a5"):
        api.ingest(alice, name, [ev("heartbeat", 1)])
    first = api.get(alice, "/v1/agents", limit=2)
    assert [a["agent_id"] for a in first["items"]] == ["a1", "a3"]
    api.ingest(alice, "a0", [ev("heartbeat", 2)])  # sorts before the cursor: not repeated
    api.ingest(alice, "a4", [ev("heartbeat", 2)])  # sorts after it: shows up
    second = api.get(alice, "/v1/agents", limit=2, cursor=first["next_cursor"])
    assert [a["agent_id"] for a in second["items"]] == ["a4", "a5"]


def test_one_agent_has_current_task_and_status_history(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    agent = api.get(alice, "/v1/agents/support-bot")
    assert agent["current_task"]["task_id"] == "ticket-9"
    assert agent["status_history"], "transitions are recorded at ingest"
    newest = agent["status_history"][0]
    assert newest["to_status"] == agent["status"]
    assert {"at", "from_status", "reason"} <= set(newest)


def test_another_tenants_agent_is_not_found(api: Api) -> None:
    alice, bob = api.tenant("alice"), api.tenant("bob")
    api.ingest(bob, "bobs-agent", [ev("heartbeat", 1)])
    api.ingest(bob, "shared-name", [ev("heartbeat", 1)], environment="bob-env")
    api.ingest(alice, "shared-name", [ev("heartbeat", 1)])
    status, body = api.get_status(alice, "/v1/agents/bobs-agent")
    assert status == 404 and body["error"] == "not_found"
    assert api.get(alice, "/v1/agents/shared-name")["environment"] == "production"
    assert [a["agent_id"] for a in api.get(alice, "/v1/agents")["items"]] == ["shared-name"]
    assert api.get(alice, "/v1/agents", agent="bobs-agent")["items"] == []


def test_reads_need_a_key_and_reject_garbled_cursors(api: Api) -> None:
    alice = api.tenant("alice")
    status, body = api.get_status(None, "/v1/agents")
    assert status == 401 and body["error"] == "missing_api_key"
    status, body = api.get_status(alice, "/v1/agents", cursor="not-a-cursor")
    assert status == 400 and body["error"] == "invalid_cursor"
    status, body = api.get_status(alice, "/v1/agents", sort="cost")
    assert status == 400 and body["details"]["parameter"] == "sort"
    # An ingest key may read too.
    resp = api.client.get("/v1/agents", headers={"Authorization": f"Bearer {alice.ingest_key}"})
    assert resp.status_code == 200


def test_hour_stats_count_the_calls_of_unknown_cost(api: Api) -> None:
    """stats_1h says how many calls its cost leaves out, on the list and one agent."""
    alice = api.tenant("alice")
    api.ingest(
        alice,
        "priced",
        [
            llm(1, "gpt-4o", tokens_in=100, tokens_out=10, cost=0.5),
            llm(1.2, "claude-sonnet-4", tokens_in=1000, tokens_out=100),
            llm(1.4, "my-private-model", tokens_in=50, tokens_out=5),
        ],
    )
    api.ingest(alice, "private", [llm(3, "my-private-model"), llm(3.5, "my-private-model")])
    stats = {a["agent_id"]: a["stats_1h"] for a in api.get(alice, "/v1/agents")["items"]}
    assert (stats["priced"]["llm_calls"], stats["priced"]["cost_unknown_calls"]) == (3, 1)
    assert stats["priced"]["cost_usd"] > 0.5
    assert (stats["private"]["llm_calls"], stats["private"]["cost_unknown_calls"]) == (2, 2)
    assert stats["private"]["cost_usd"] == 0
    one = api.get(alice, "/v1/agents/private")["stats_1h"]
    assert (one["llm_calls"], one["cost_unknown_calls"]) == (2, 2)
