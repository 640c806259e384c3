"""GET /v1/tasks and /v1/tasks/{task_id}/timeline."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from hiveboard.app import create_app
from hiveboard.config import load_settings
from hiveboard.storage.sql import SqlStorage
from pgserver import PgServer
from query_seed import Api, ev, llm, seed_fleet
from sqlalchemy import create_engine, text

pytest_plugins = ("query_fixtures",)


def test_task_runs_carry_status_duration_cost_and_counts(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    runs = {r["task_id"]: r for r in api.get(alice, "/v1/tasks")["items"]}
    assert set(runs) == {"lead-1", "lead-2", "ticket-9"}
    done = runs["lead-1"]
    assert done["status"] == "completed" and done["duration_ms"] == 60000
    assert done["cost_usd"] == 0.004 and done["llm_call_count"] == 1
    assert done["action_count"] >= 1 and done["project_id"] == "crm"
    assert runs["lead-2"]["status"] == "failed"
    assert runs["lead-2"]["exception_type"] == "TimeoutError"
    assert runs["ticket-9"]["status"] in ("running", "waiting_approval")


def test_filters_and_sorts(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)

    def ids(**params: object) -> list[str]:
        return [r["task_id"] for r in api.get(alice, "/v1/tasks", **params)["items"]]

    assert ids() == ["ticket-9", "lead-2", "lead-1"]  # newest first
    assert ids(status="failed") == ["lead-2"]
    assert ids(type="support") == ["ticket-9"]
    assert sorted(ids(project="crm")) == ["lead-1", "lead-2"]
    assert ids(agent="support-bot") == ["ticket-9"]
    assert ids(environment="staging") == ["ticket-9"]
    assert ids(sort="duration")[:2] == ["lead-1", "lead-2"]
    assert ids(sort="cost")[0] == "lead-1"
    assert ids(since="1m") == []
    assert sorted(ids(q="lead-")) == ["lead-1", "lead-2"]
    assert ids(q="ticket-9") == ["ticket-9"] and ids(q="Lead") == []


def test_task_pagination_does_not_repeat_or_skip_when_runs_arrive(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(alice, "w", [ev("task_started", i, task_id=f"t{i}") for i in range(5)])
    first = api.get(alice, "/v1/tasks", limit=2)
    assert [r["task_id"] for r in first["items"]] == ["t4", "t3"]
    api.ingest(alice, "w", [ev("task_started", 6, task_id="t-new")])
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = api.get(alice, "/v1/tasks", limit=2, cursor=cursor)
        rest += [r["task_id"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert rest == ["t2", "t1", "t0"]


def test_timeline_shows_action_tree_llm_calls_plan_and_cost(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    tl = api.get(alice, "/v1/tasks/lead-1/timeline")
    assert tl["run"]["task_run_id"] == "r1" and tl["status"] == "completed"
    assert tl["duration_ms"] == 60000
    (root,) = tl["actions"]
    assert root["action_id"] == "a1" and root["name"] == "score"
    assert root["duration_ms"] == 24000 and root["offset_ms"] == 6000
    (call,) = root["llm_calls"]
    assert call["model"] == "claude-sonnet-4" and call["cost_source"] == "reported"
    assert call["cost_usd"] == 0.004 and call["tokens_in"] == 1800
    plan = tl["plan"]["current"]
    assert (plan["completed"], plan["total"]) == (1, 2)
    assert [s["state"] for s in plan["steps"]] == ["completed", "pending"]
    assert tl["total_cost_usd"] == 0.004 and tl["failure"] is None
    assert tl["events"][0]["event_type"] == "task_started"


def test_timeline_shows_where_a_run_failed(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    tl = api.get(alice, "/v1/tasks/lead-2/timeline")
    assert tl["status"] == "failed"
    assert tl["failure"]["action_id"] == "b1"
    assert tl["failure"]["exception_message"] == "crm down"
    assert tl["actions"][0]["status"] == "failed"


def test_timeline_estimates_cost_and_shows_pending_approval(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    tl = api.get(alice, "/v1/tasks/ticket-9/timeline")
    (call,) = tl["llm_calls"]  # made outside any action
    assert call["cost_source"] in ("estimated", "unknown")
    if call["cost_source"] == "estimated":
        assert call["cost_usd"] > 0
    (wait,) = tl["approvals"]
    assert wait["status"] == "pending" and wait["requested_event_id"] == "appr-1"
    assert wait["wait_ms"] > 0


def test_timeline_picks_latest_run_or_the_one_asked_for(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(
        alice,
        "w",
        [
            ev("task_started", 1, task_id="job", task_run_id="run-a"),
            ev("task_failed", 2, task_id="job", task_run_id="run-a"),
            ev("task_started", 3, task_id="job", task_run_id="run-b"),
            llm(3.5, "gpt-4o", task_id="job", task_run_id="run-b", cost=0.01),
            ev("task_completed", 4, task_id="job", task_run_id="run-b"),
        ],
    )
    latest = api.get(alice, "/v1/tasks/job/timeline")
    assert latest["run"]["task_run_id"] == "run-b" and latest["status"] == "completed"
    assert [r["task_run_id"] for r in latest["runs"]] == ["run-b", "run-a"]
    older = api.get(alice, "/v1/tasks/job/timeline", run="run-a")
    assert older["status"] == "failed" and older["llm_call_count"] == 0
    status, body = api.get_status(alice, "/v1/tasks/job/timeline", run="nope")
    assert status == 404 and body["error"] == "not_found"


def test_another_tenants_task_is_not_found_and_not_listed(api: Api) -> None:
    alice, bob = api.tenant("alice"), api.tenant("bob")
    api.ingest(bob, "w", [ev("task_started", 1, task_id="bob-secret")])
    status, _ = api.get_status(alice, "/v1/tasks/bob-secret/timeline")
    assert status == 404
    assert api.get(alice, "/v1/tasks", task_id="bob-secret")["items"] == []
    assert len(api.get(bob, "/v1/tasks")["items"]) == 1


def test_ids_with_slashes_and_odd_characters_are_reachable(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(alice, "team/bot", [ev("task_started", 1, task_id="crm/lead 7?x=1")])
    tl = api.get(alice, "/v1/tasks/crm%2Flead%207%3Fx%3D1/timeline")
    assert tl["run"]["task_id"] == "crm/lead 7?x=1"
    assert api.get(alice, "/v1/agents/team%2Fbot")["agent_id"] == "team/bot"
    assert api.get(alice, "/v1/agents/team/bot/pipeline")["agent_id"] == "team/bot"


def test_task_search_is_an_exact_prefix_on_a_database_with_a_linguistic_collation(
    pg_server: PgServer, tmp_path: Path
) -> None:
    """PostgreSQL databases usually sort by language (en-US), where a range on task_id is
    not a prefix test: "Lead-1" sorts between "lead" and "lead" + U+10FFFF."""
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS hiveboard_icu"))
        conn.execute(
            text(
                "CREATE DATABASE hiveboard_icu TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    admin.dispose()
    storage = SqlStorage(pg_server.url("hiveboard_icu"))
    try:
        storage.migrate()
        settings = load_settings(data_dir=tmp_path, bootstrap=False, rate_limit_per_key=0)
        with TestClient(create_app(settings, storage, run_detector=False)) as client:
            api = Api(client, storage)
            alice = api.tenant("alice")
            api.ingest(alice, "w", [ev("task_started", 1, task_id=t) for t in ("lead-1", "Lead-2")])

            def ids(q: str) -> list[str]:
                return [r["task_id"] for r in api.get(alice, "/v1/tasks", q=q)["items"]]

            assert ids("lead") == ["lead-1"]
            assert ids("Lead") == ["Lead-2"]
    finally:
        storage.close()


def test_timeline_of_a_named_run_honours_the_agent_filter(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    path = "/v1/tasks/lead-1/timeline"
    assert api.get(alice, path, run="r1", agent="lead-qualifier")["run"]["agent_id"] == (
        "lead-qualifier"
    )
    for params in ({"agent": "support-bot"}, {"agent": "support-bot", "run": "r1"}):
        status, body = api.get_status(alice, path, **params)
        assert status == 404 and body["error"] == "not_found", params
