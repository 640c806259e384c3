"""GET /v1/agents/{agent_id}/pipeline, /v1/pipeline, /v1/issues and /v1/approvals."""

from __future__ import annotations

from query_seed import NOW, T0, Api, custom, ev, seed_fleet

pytest_plugins = ("query_fixtures",)


def test_agent_pipeline_has_queue_todos_issues_and_pending_approvals(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    p = api.get(alice, "/v1/agents/support-bot/pipeline")
    assert p["queue"]["depth"] == 3 and p["queue"]["items"] == [{"id": "q1"}]
    # The snapshot is ~5 minutes old, far older than two 30 s heartbeats: stale.
    assert p["queue"]["stale"] is True and p["queue"]["age_seconds"] > 60
    assert [t["todo_id"] for t in p["todos"]] == ["td1"]
    (issue,) = p["issues"]
    assert issue["severity"] == "high" and issue["state"] == "open"
    (wait,) = p["approvals"]
    assert wait["event_id"] == "appr-1" and wait["state"] == "pending"
    expected_ms = (NOW - T0).total_seconds() * 1000 - 7 * 60_000
    assert abs(wait["wait_ms"] - expected_ms) < 1000
    assert p["escalations"] == []


def test_fleet_pipeline_totals_per_agent(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    rows = {r["agent_id"]: r for r in api.get(alice, "/v1/pipeline")["agents"]}
    assert rows["support-bot"]["queue_depth"] == 3
    assert rows["support-bot"]["open_todos"] == 1
    assert rows["support-bot"]["open_issues"] == {"high": 1}
    assert rows["support-bot"]["pending_approvals"] == 1
    assert rows["support-bot"]["oldest_wait_seconds"] > 0
    assert rows["lead-qualifier"]["queue_depth"] is None
    assert rows["lead-qualifier"]["pending_approvals"] == 0
    staging = api.get(alice, "/v1/pipeline", environment="staging")["agents"]
    assert [r["agent_id"] for r in staging] == ["support-bot"]


def test_issues_keep_recurrence_and_close_on_resolve(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(
        alice,
        "w",
        [
            custom(1, "issue", "disk full", {"severity": "critical", "issue_id": "d"}),
            custom(2, "issue", "disk full", {"severity": "critical", "issue_id": "d"}),
            custom(3, "issue", "slow api", {"severity": "low", "issue_id": "s"}),
            custom(
                4, "issue", "slow api", {"severity": "low", "issue_id": "s", "action": "resolved"}
            ),
        ],
    )
    all_issues = {i["issue_id"]: i for i in api.get(alice, "/v1/issues")["items"]}
    assert all_issues["d"]["occurrence_count"] == 2 and all_issues["d"]["state"] == "open"
    assert all_issues["s"]["state"] == "resolved"
    assert [i["issue_id"] for i in api.get(alice, "/v1/issues", state="open")["items"]] == ["d"]
    low = api.get(alice, "/v1/issues", severity="low")["items"]
    assert [i["issue_id"] for i in low] == ["s"]
    first = api.get(alice, "/v1/issues", limit=1)
    second = api.get(alice, "/v1/issues", limit=1, cursor=first["next_cursor"])
    assert {first["items"][0]["issue_id"], second["items"][0]["issue_id"]} == {"d", "s"}


def test_approvals_and_escalations_with_wait_times(api: Api) -> None:
    alice = api.tenant("alice")
    run = {"task_id": "t", "task_run_id": "r"}
    api.ingest(
        alice,
        "w",
        [
            ev("task_started", 0, **run),
            ev("approval_requested", 1, event_id="ask-1", **run),
            ev("approval_received", 3, parent_event_id="ask-1", **run),
            ev("approval_requested", 4, event_id="ask-2", **run),
            ev("escalated", 5, event_id="esc-1", **run),
        ],
    )
    items = {a["event_id"]: a for a in api.get(alice, "/v1/approvals")["items"]}
    assert items["ask-1"]["state"] == "received" and items["ask-1"]["wait_ms"] == 120_000
    assert items["ask-2"]["state"] == "pending"
    assert abs(items["ask-2"]["wait_ms"] - ((NOW - T0).total_seconds() - 240) * 1000) < 1000
    assert items["esc-1"]["kind"] == "escalation"
    pending = api.get(alice, "/v1/approvals", kind="approval", state="pending")["items"]
    assert [a["event_id"] for a in pending] == ["ask-2"]


def test_pipeline_reads_are_tenant_scoped(api: Api) -> None:
    alice, bob = api.tenant("alice"), api.tenant("bob")
    seed_fleet(api, bob)
    api.ingest(alice, "w", [ev("heartbeat", 1)])
    status, body = api.get_status(alice, "/v1/agents/support-bot/pipeline")
    assert status == 404 and body["error"] == "not_found"
    assert [r["agent_id"] for r in api.get(alice, "/v1/pipeline")["agents"]] == ["w"]
    assert api.get(alice, "/v1/issues")["items"] == []
    assert api.get(alice, "/v1/approvals")["items"] == []


def test_scheduled_work_is_the_latest_report(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(
        alice,
        "w",
        [
            custom(1, "scheduled", "old", {"items": [{"id": "a"}, {"id": "b"}]}),
            custom(2, "scheduled", "new", {"items": [{"id": "nightly", "name": "report"}]}),
        ],
    )
    p = api.get(alice, "/v1/agents/w/pipeline")
    assert p["scheduled"]["items"] == [{"id": "nightly", "name": "report"}]
    (row,) = api.get(alice, "/v1/pipeline")["agents"]
    assert row["scheduled_items"] == 1
