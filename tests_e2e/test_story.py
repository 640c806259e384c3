"""A scripted agent tells its story through a real SDK; the query API must tell it back.

Runs for both databases x both clients (this repository's SDK and the released
hiveloop 0.2.0 in its own venv), each agent under its own id on the shared server.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from tests_e2e.hbserver import HiveBoardProcess, wait_for

STORY = Path(__file__).with_name("agent_story.py")
REPORTED_COST = 0.004  # the script's claude-sonnet-4 call


def _estimated_gpt4o_cost() -> float:
    """What the pricing library says 1000 in / 500 out tokens of gpt-4o cost: the script
    sends no cost for that call, so the server must come up with this number itself."""
    price = calc_price(Usage(input_tokens=1000, output_tokens=500), "gpt-4o")
    return float(price.total_price)


def _run_story(python: Path, server: HiveBoardProcess, agent_id: str, cwd: Path) -> None:
    # cwd: hiveloop 0.2.0 reads ./loophive.cfg; keep the repository's cwd out of it.
    run = subprocess.run(
        [str(python), str(STORY), server.url, server.key, agent_id],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )
    assert run.returncode == 0 and "story-done" in run.stdout, (
        f"agent script failed (rc={run.returncode}):\n{run.stdout}\n{run.stderr[-4000:]}"
    )


def _by(items: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {item[key]: item for item in items}


def _walk(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for action in actions:
        out[action["name"]] = action
        out.update(_walk(action["children"]))
    return out


def test_agent_story_round_trip(
    hiveboard: HiveBoardProcess, sdk_python: Path, tmp_path: Path
) -> None:
    agent_id = f"story-{uuid.uuid4().hex[:8]}"
    _run_story(sdk_python, hiveboard, agent_id, tmp_path)
    released = "released" in str(sdk_python)

    # -- the agent ------------------------------------------------------------------
    # Wait for the last runs to be visible (the script's shutdown delivered everything,
    # but be robust to a slow commit on a loaded machine).
    def three_runs() -> list[dict[str, Any]] | None:
        items = hiveboard.get("/v1/tasks", agent=agent_id)["items"]
        return items if len(items) == 3 else None

    runs = _by(wait_for(three_runs, 20, f"three task runs of {agent_id}"), "task_id")
    fleet = _by(hiveboard.get("/v1/agents", environment="e2e", limit=500)["items"], "agent_id")
    assert agent_id in fleet
    agent = hiveboard.get(f"/v1/agents/{agent_id}")
    assert agent["agent_type"] == "sales"
    assert agent["agent_version"] == "1.2.3"
    assert (agent["environment"], agent["group"]) == ("e2e", "story")
    if released:
        # 0.2.0 has no shutdown announcement: the open run waits for its approval.
        assert agent["status"] == "waiting_approval", agent
    else:
        assert agent["status"] == "offline", agent
        assert agent["status_reason"] == "agent shut down cleanly"
    assert agent["queue_depth"] == 3
    assert agent["open_issues"] == 1
    assert agent["stats_1h"]["llm_calls"] == 2

    # -- task runs: status, duration, cost -------------------------------------------
    estimated = _estimated_gpt4o_cost()
    ok, failed, waiting = (
        runs[f"{agent_id}-ok"],
        runs[f"{agent_id}-fail"],
        runs[f"{agent_id}-approval"],
    )
    assert ok["status"] == "completed"
    assert (ok["project_id"], ok["task_type"]) == ("sales-pipeline", "lead")
    # The run slept 0.35 s in total; its duration comes from the SDK's timestamps.
    assert 340 <= ok["duration_ms"] < 10_000, ok
    assert ok["llm_call_count"] == 2
    assert (ok["tokens_in"], ok["tokens_out"]) == (2800, 750)
    assert ok["cost_usd"] == pytest.approx(REPORTED_COST + estimated)
    assert ok["cost_unknown_calls"] == 0
    assert failed["status"] == "failed"
    assert failed["exception_type"] == "RuntimeError"
    assert failed["exception_message"] == "enrichment service down"
    assert failed["duration_ms"] is not None and failed["duration_ms"] >= 0
    assert waiting["status"] == "waiting_approval"
    assert waiting["pending_approvals"] == 1
    assert waiting["ended_at"] is None and waiting["duration_ms"] is None

    # -- timeline: action tree, LLM calls under their action, plan -------------------
    timeline = hiveboard.get(f"/v1/tasks/{agent_id}-ok/timeline")
    assert timeline["run"]["task_run_id"] == ok["task_run_id"]
    (root,) = timeline["actions"]
    assert root["name"] == "process_lead"
    assert [c["name"] for c in root["children"]] == ["fetch_lead", "score_lead"]
    actions = _walk(timeline["actions"])
    assert actions["fetch_lead"]["duration_ms"] >= 40
    assert root["llm_calls"] == [] and timeline["llm_calls"] == []
    calls = _by(actions["score_lead"]["llm_calls"], "name")
    assert set(calls) == {"score", "summarise"}
    assert calls["score"]["cost_source"] == "reported"
    assert calls["score"]["cost_usd"] == pytest.approx(REPORTED_COST)
    assert calls["summarise"]["cost_source"] == "estimated"
    assert calls["summarise"]["cost_usd"] == pytest.approx(estimated)
    assert calls["summarise"]["model"] == "gpt-4o"
    plan = timeline["plan"]["current"]
    assert (plan["completed"], plan["total"]) == (2, 3)
    assert [s["state"] for s in plan["steps"]] == ["completed", "completed", "pending"]
    assert [s["description"] for s in plan["steps"]] == ["Fetch", "Score", "Route"]

    failed_timeline = hiveboard.get(f"/v1/tasks/{agent_id}-fail/timeline")
    failure = failed_timeline["failure"]
    assert failure is not None, "the failed run's timeline shows no failure"
    explode = _walk(failed_timeline["actions"])["explode"]
    assert explode["status"] == "failed"
    assert failure["action_id"] == explode["action_id"]
    assert failure["action_path"] == [explode["action_id"]]
    assert failure["exception_type"] == "RuntimeError"

    # -- cost summary ----------------------------------------------------------------
    cost = hiveboard.get("/v1/cost", agent=agent_id)
    by_source = _by(cost["by_source"], "key")
    assert by_source["reported"]["cost_usd"] == pytest.approx(REPORTED_COST)
    assert by_source["estimated"]["cost_usd"] == pytest.approx(estimated)
    assert cost["total"]["cost_usd"] == pytest.approx(REPORTED_COST + estimated)
    assert cost["total"]["unknown_cost_calls"] == 0

    # -- pipeline: queue, TODOs, scheduled, issues, approvals ------------------------
    pipeline = hiveboard.get(f"/v1/agents/{agent_id}/pipeline")
    assert pipeline["queue"]["depth"] == 3
    assert pipeline["queue"]["items"][0]["id"] == "lead-100"
    assert [t["todo_id"] for t in pipeline["todos"]] == ["todo-1"]  # todo-2 was completed
    assert [s["id"] for s in pipeline["scheduled"]["items"]] == ["daily-sync"]
    (issue,) = pipeline["issues"]
    assert (issue["issue_id"], issue["occurrence_count"], issue["state"]) == ("crm-403", 3, "open")
    (approval,) = pipeline["approvals"]
    assert approval["state"] == "pending" and approval["summary"] == "Credit $450?"
    assert approval["task_id"] == f"{agent_id}-approval"

    issues = _by(hiveboard.get("/v1/issues", agent=agent_id)["items"], "issue_id")
    assert issues["crm-403"]["occurrence_count"] == 3
    assert issues["old-1"]["state"] == "resolved"
    pending = hiveboard.get("/v1/approvals", agent=agent_id, state="pending")["items"]
    assert [a["summary"] for a in pending] == ["Credit $450?"]

    fleet_pipeline = _by(hiveboard.get("/v1/pipeline")["agents"], "agent_id")[agent_id]
    assert fleet_pipeline["queue_depth"] == 3
    assert fleet_pipeline["open_todos"] == 1
    assert fleet_pipeline["pending_approvals"] == 1
    assert fleet_pipeline["open_issues"] == {"medium": 1}
    assert fleet_pipeline["scheduled_items"] == 1
