"""GET /v1/metrics, /v1/cost, /v1/cost/timeseries and /v1/llm-calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from query_seed import NOW, T0, Api, Tenant, ev, llm, seed_fleet

pytest_plugins = ("query_fixtures",)


def test_metrics_summary_and_series_come_from_rollups(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    m = api.get(alice, "/v1/metrics", interval="1m", since="1h")
    s = m["summary"]
    assert s["events"] == 20
    assert s["tasks_completed"] == 1 and s["tasks_failed"] == 1 and s["success_rate"] == 0.5
    assert s["duration_p50_ms"] == 18000 and s["duration_p95_ms"] == 60000
    assert s["llm_calls"] == 2 and s["tokens_in"] == 2800
    assert s["cost_usd"] >= 0.004
    assert s["agents_by_status"] == {"error": 2}
    assert len(m["series"]) in (60, 61)  # every minute touched, empty ones included
    assert sum(p["events"] for p in m["series"]) == 20
    assert sum(p["tasks_failed"] for p in m["series"]) == 1


def test_metrics_filter_by_agent_and_environment(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    assert api.get(alice, "/v1/metrics", agent="support-bot")["summary"]["events"] == 7
    staging = api.get(alice, "/v1/metrics", environment="staging")["summary"]
    assert staging["events"] == 7 and staging["agents_by_status"] == {"error": 1}


def test_metrics_refuse_too_many_points(api: Api) -> None:
    alice = api.tenant("alice")
    status, body = api.get_status(alice, "/v1/metrics", interval="1m", since="30d")
    assert status == 400 and body["error"] == "range_too_large"
    status, body = api.get_status(alice, "/v1/metrics", interval="7m")
    assert status == 400 and "1m" in body["message"]


def test_cost_summary_splits_reported_estimated_and_unknown(api: Api) -> None:
    alice = api.tenant("alice")
    run = {"task_id": "t", "task_type": "triage", "project_id": "p1"}
    api.ingest(
        alice,
        "coster",
        [
            llm(1, "claude-sonnet-4", tokens_in=100, tokens_out=10, cost=0.5, **run),
            llm(2, "claude-sonnet-4", tokens_in=100, tokens_out=10, cost=0.25, **run),
            llm(3, "totally-made-up-model-xyz", tokens_in=100, tokens_out=10, **run),
        ],
    )
    cost = api.get(alice, "/v1/cost")
    assert cost["total"]["llm_calls"] == 3
    assert cost["total"]["cost_usd"] == 0.75
    assert cost["total"]["unknown_cost_calls"] == 1
    sources = {g["key"]: g for g in cost["by_source"]}
    assert sources["reported"]["llm_calls"] == 2 and sources["reported"]["cost_usd"] == 0.75
    assert sources["unknown"]["llm_calls"] == 1 and sources["unknown"]["cost_usd"] == 0.0
    models = {g["key"]: g for g in cost["by_model"]}
    assert models["claude-sonnet-4"]["cost_usd"] == 0.75
    assert cost["by_agent"][0]["key"] == "coster"
    assert cost["by_task_type"][0]["key"] == "triage"
    assert cost["by_project"][0]["key"] == "p1"


def test_cost_timeseries_total_and_split(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(alice, "a", [llm(1, "m1", cost=1.0), llm(2, "m2", cost=2.0)])
    api.ingest(alice, "b", [llm(1, "m1", cost=4.0)])
    total = api.get(alice, "/v1/cost/timeseries", interval="1h", since="2h")
    assert sum(p["cost_usd"] for p in total["points"]) == 7.0
    assert {p["key"] for p in total["points"]} == {None}
    by_agent = api.get(alice, "/v1/cost/timeseries", interval="1h", since="2h", group_by="agent")
    per_agent: dict[str, float] = {}
    for p in by_agent["points"]:
        per_agent[p["key"]] = per_agent.get(p["key"], 0) + p["cost_usd"]
    assert per_agent == {"a": 3.0, "b": 4.0}
    by_model = api.get(alice, "/v1/cost/timeseries", interval="1h", since="2h", group_by="model")
    assert {p["key"] for p in by_model["points"]} == {"m1", "m2"}
    status, _ = api.get_status(alice, "/v1/cost/timeseries", group_by="planet")
    assert status == 400


def test_llm_calls_newest_or_dearest_first_and_paginated(api: Api) -> None:
    alice = api.tenant("alice")
    api.ingest(
        alice,
        "a",
        [llm(i, "m", cost=c, task_id="t") for i, c in enumerate([0.3, 0.1, 0.9, 0.2])],
    )
    newest = api.get(alice, "/v1/llm-calls")["items"]
    assert [c["cost_usd"] for c in newest] == [0.2, 0.9, 0.1, 0.3]
    first = api.get(alice, "/v1/llm-calls", sort="cost", limit=2)
    assert [c["cost_usd"] for c in first["items"]] == [0.9, 0.3]
    second = api.get(alice, "/v1/llm-calls", sort="cost", limit=2, cursor=first["next_cursor"])
    assert [c["cost_usd"] for c in second["items"]] == [0.2, 0.1]
    assert newest[0]["cost_source"] == "reported" and newest[0]["task_id"] == "t"


def test_cost_is_per_tenant(api: Api) -> None:
    alice, bob = api.tenant("alice"), api.tenant("bob")
    api.ingest(bob, "a", [llm(1, "m", cost=100.0)])
    api.ingest(alice, "a", [ev("heartbeat", 1)])
    assert api.get(alice, "/v1/cost")["total"]["llm_calls"] == 0
    assert api.get(alice, "/v1/llm-calls")["items"] == []
    assert api.get(alice, "/v1/metrics")["summary"]["llm_calls"] == 0


def _minutes_after_t0(ts: datetime) -> float:
    return (ts - T0).total_seconds() / 60


def test_cost_totals_are_exact_at_partial_edge_hours(api: Api) -> None:
    """Whole hours come from rollups, the partial ends from the calls: nothing lost or
    counted twice at the seams, whatever the window's minutes."""
    alice = api.tenant("alice")
    base = NOW.replace(minute=0, second=0) - timedelta(hours=4)
    offsets = [-5, 10, 29, 30, 59, 61, 119, 150, 181, 194, 195, 239]
    calls = [
        llm(_minutes_after_t0(base + timedelta(minutes=m)), f"m{i % 3}", cost=float(2**i))
        for i, m in enumerate(offsets)
    ]
    api.ingest(alice, "edge", calls)
    since, until = base + timedelta(minutes=30), base + timedelta(minutes=195)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    inside = [i for i, m in enumerate(offsets) if 30 <= m < 195]
    cost = api.get(alice, "/v1/cost", **window)
    assert cost["total"]["llm_calls"] == len(inside)
    assert cost["total"]["cost_usd"] == sum(2.0**i for i in inside)
    by_model = {g["key"]: g["cost_usd"] for g in cost["by_model"]}
    assert by_model == {
        f"m{k}": sum(2.0**i for i in inside if i % 3 == k)
        for k in range(3)
        if by_model.get(f"m{k}")
    }
    series = api.get(alice, "/v1/cost/timeseries", interval="1h", **window)
    assert sum(p["cost_usd"] for p in series["points"]) == sum(2.0**i for i in inside)
    # A window inside one hour has no whole hour: all from the calls.
    inner = {"since": (base + timedelta(minutes=5)).isoformat()}
    inner["until"] = (base + timedelta(minutes=31)).isoformat()
    assert api.get(alice, "/v1/cost", **inner)["total"]["cost_usd"] == 2.0 + 4.0 + 8.0


def test_metrics_honour_the_project_filter(api: Api) -> None:
    alice = api.tenant("alice")
    run = {"task_id": "t1", "project_id": "p1"}
    other = {"task_id": "t2", "project_id": "p2"}
    api.ingest(
        alice,
        "worker",
        [
            ev("task_started", 1, **run),
            llm(2, "m", cost=1.5, **run),
            ev("task_completed", 3, duration_ms=120_000, **run),
            ev("task_started", 4, **other),
            llm(5, "m", cost=7.0, **other),
            ev("task_failed", 6, duration_ms=5_000, **other),
            ev("heartbeat", 7),
        ],
    )
    for interval in ("5m", "1h"):
        p1 = api.get(alice, "/v1/metrics", project="p1", interval=interval)["summary"]
        assert p1["events"] == 3 and p1["tasks_completed"] == 1 and p1["tasks_failed"] == 0
        assert p1["llm_calls"] == 1 and p1["cost_usd"] == 1.5
        assert p1["duration_p50_ms"] is not None and p1["avg_duration_ms"] == 120_000
        everyone = api.get(alice, "/v1/metrics", interval=interval)["summary"]
        assert everyone["events"] == 7 and everyone["cost_usd"] == 8.5
    hourly = api.get(alice, "/v1/metrics", project="p2", interval="1h", since="2h")
    assert hourly["summary"]["tasks_failed"] == 1
    assert 3_200 <= hourly["summary"]["duration_p95_ms"] <= 6_400  # its histogram bucket
    assert hourly["since"].endswith(":00:00Z") or hourly["since"].endswith(":00:00+00:00")
    assert api.get(alice, "/v1/cost", project="p2")["total"]["cost_usd"] == 7.0


def mixed_cost_calls(api: Api, tenant: Tenant) -> None:
    """Two agents' calls of every kind of cost: "priced" has one reported ($0.50), one
    estimated (a known model with tokens) and one unknown call (a model the price table
    does not know, no cost); "private" only unknown ones, two in another minute."""
    api.ingest(
        tenant,
        "priced",
        [
            llm(1, "gpt-4o", tokens_in=100, tokens_out=10, cost=0.5),
            llm(1.2, "claude-sonnet-4", tokens_in=1000, tokens_out=100, project_id="p"),
            llm(1.4, "my-private-model", tokens_in=50, tokens_out=5, project_id="p"),
        ],
    )
    api.ingest(
        tenant,
        "private",
        [llm(3, "my-private-model", tokens_in=9), llm(3.5, "my-private-model", tokens_in=9)],
    )


def test_metrics_count_the_calls_of_unknown_cost(api: Api) -> None:
    """Calls nobody could price are counted, never a silent $0.00: in the summary and
    each bucket, whether the fleet rows, the agents' rows, the hourly rollups or the
    raw calls (project filter) are read."""
    alice = api.tenant("alice")
    mixed_cost_calls(api, alice)
    m = api.get(alice, "/v1/metrics", interval="1m", since="1h")
    s = m["summary"]
    assert (s["llm_calls"], s["cost_unknown_calls"]) == (5, 3)
    assert s["cost_usd"] > 0.5  # reported plus estimated
    assert sum(p["cost_unknown_calls"] for p in m["series"]) == 3
    assert all(p["cost_unknown_calls"] <= p["llm_calls"] for p in m["series"])
    assert sum(p["cost_unknown_calls"] == p["llm_calls"] > 0 for p in m["series"]) >= 1
    private = api.get(alice, "/v1/metrics", agent="private")["summary"]
    assert (private["llm_calls"], private["cost_unknown_calls"], private["cost_usd"]) == (2, 2, 0)
    hourly = api.get(alice, "/v1/metrics", interval="1h", since="2h")
    assert hourly["summary"]["cost_unknown_calls"] == 3
    assert sum(p["cost_unknown_calls"] for p in hourly["series"]) == 3
    raw = api.get(alice, "/v1/metrics", project="p")["summary"]
    assert (raw["llm_calls"], raw["cost_unknown_calls"]) == (2, 1)
