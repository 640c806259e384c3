"""``make demo`` end to end: the fleet against a real ``hiveboard serve``, then the query API.

The fleet runs at ten times real speed for a bounded 20 s (200 simulated seconds) while
the test polls the API, so the transient states (a queue with depth, an agent stuck or
offline mid-run) are caught while they are true, not inferred afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HIVEBOARD_SERVE = [sys.executable, "-m", "hiveboard", "serve"]
FLEET = [sys.executable, "-m", "demo.fleet"]
FLEET_AGENTS = {
    "lead-qualifier",
    "support-triage",
    "research-writer",
    "crm-sync",
    "ops-scheduler",
    "data-enricher",
    "invoice-processor",
    "email-outreach",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HIVEBOARD_", "HIVELOOP_", "DEMO_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


class Api:
    """The query API with one key; every call asserts a 200."""

    def __init__(self, base: str, key: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    def get(self, path: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params)
        assert answer.status_code == 200, f"GET {path} {params}: {answer.status_code} {answer.text}"
        return answer.json()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``hiveboard serve`` on a free loopback port; yields (base url, ingest key)."""
    port = _free_port()
    # A 1 s detector pass makes stuck/offline visible quickly; it is an ordinary setting.
    env = _env(HIVEBOARD_DETECTOR_INTERVAL_SECONDS="1")
    proc = subprocess.Popen(
        [*HIVEBOARD_SERVE, "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        output = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "HiveBoard http" not in output:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
        key = next(w for w in output.split() if w.startswith("hb_live_"))
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, key
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_fleet_fills_every_view(server: tuple[str, str]) -> None:
    base, key = server
    api = Api(base, key)
    started = time.monotonic()
    fleet = subprocess.Popen(
        [*FLEET, "--endpoint", base, "--speed", "10", "--duration", "20", "--seed", "3"],
        cwd=ROOT,
        env=_env(HIVELOOP_API_KEY=key),
    )
    seen: dict[str, set[str]] = {}
    max_depth = 0
    try:
        deadline = time.monotonic() + 40
        while fleet.poll() is None and time.monotonic() < deadline:
            for agent in api.get("/v1/agents", limit=50)["items"]:
                seen.setdefault(agent["agent_id"], set()).add(agent["status"])
            for row in api.get("/v1/pipeline")["agents"]:
                max_depth = max(max_depth, row["queue_depth"] or 0)
            time.sleep(1)
        assert fleet.wait(30) == 0
    finally:
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait(5)
    print(f"fleet run took {time.monotonic() - started:.1f} s")

    agents = {a["agent_id"]: a for a in api.get("/v1/agents", limit=50)["items"]}
    assert set(agents) >= FLEET_AGENTS, sorted(agents)

    # Something went wrong mid-run, while the fleet was still alive.
    assert "stuck" in seen["data-enricher"], seen
    assert "offline" in seen["email-outreach"], seen
    history = api.get("/v1/agents/email-outreach")["status_history"]
    assert any(
        h["to_status"] == "offline" and "shut down" not in (h["reason"] or "") for h in history
    ), history
    assert max_depth > 5, "the invoice queue never backed up"

    completed = api.get("/v1/tasks", status="completed", limit=100)["items"]
    failed = api.get("/v1/tasks", status="failed", limit=200)["items"]
    assert len(completed) >= 10
    reasons = {t["exception_type"] for t in failed}
    assert "CrmAuthError" in reasons, reasons

    cost = api.get("/v1/cost")
    sources = {row["key"] for row in cost["by_source"]}
    assert {"reported", "estimated"} <= sources, cost["by_source"]
    models = {row["key"]: row["cost_usd"] for row in cost["by_model"]}
    assert models["claude-opus-4"] > models["claude-sonnet-4"], models  # the cost spike

    issues = api.get("/v1/issues", state="open")["items"]
    assert any(i["occurrence_count"] > 1 for i in issues), issues

    approvals = api.get("/v1/approvals", limit=100)["items"]
    kinds = {a["kind"] for a in approvals}
    assert {"approval", "escalation"} <= kinds, kinds

    pipeline = {row["agent_id"]: row for row in api.get("/v1/pipeline")["agents"]}
    assert pipeline["ops-scheduler"]["scheduled_items"] >= 4
    todos = api.get("/v1/events", kind="todo", limit=100)["items"]
    actions = {e["payload"]["data"]["action"] for e in todos}
    assert {"created", "completed"} <= actions, actions

    assert api.get("/v1/events", type="retry_started", limit=1)["items"]
    plans = api.get("/v1/events", kind="plan_created", limit=200)["items"]
    assert any(p["payload"]["data"].get("revision") == 1 for p in plans), "no plan revision"


def _run_demo(data_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = _env(DEMO_PORT=str(port), DEMO_DATA_DIR=str(data_dir), DEMO_DURATION="6", DEMO_SPEED="10")
    return subprocess.run(
        [sys.executable, "-m", "demo.run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_make_demo_prints_url_login_and_key_and_reuses_data(tmp_path: Path) -> None:
    port = _free_port()
    data_dir = tmp_path / "demo-data"
    first = _run_demo(data_dir, port)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert f"http://127.0.0.1:{port}/" in out
    assert "login:      admin@localhost / " in out
    key = next(w for w in out.split() if w.startswith("hb_live_"))
    assert f'hiveloop.init(api_key="{key}", endpoint="http://127.0.0.1:{port}")' in out
    creds = data_dir / "demo-credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "server.log").stat().st_mode) == 0o600

    second = _run_demo(data_dir, port)  # the secrets are no longer printed by the server
    assert second.returncode == 0, second.stdout + second.stderr
    assert key in second.stdout and "login:      admin@localhost / " in second.stdout
    assert "first start" not in second.stdout


def test_examples_run_against_the_demo_as_agents_of_their_own(server: tuple[str, str]) -> None:
    """Run next to ``make demo``, an example must not report as (and take over) a fleet agent.

    An example named like a simulated agent merges into it: its shutdown marks the fleet's
    live agent offline, its version replaces the fleet's, and the user never sees their own
    agent appear.
    """
    base, key = server
    for script in sorted((ROOT / "examples").glob("*.py")):
        env = _env(HIVELOOP_API_KEY=key, HIVELOOP_ENDPOINT=base, EXAMPLE_RUN_SECONDS="0")
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
    agents = {a["agent_id"] for a in Api(base, key).get("/v1/agents", limit=50)["items"]}
    assert len(agents) >= 4, sorted(agents)
    assert not agents & FLEET_AGENTS, sorted(agents & FLEET_AGENTS)


def test_ctrl_c_during_start_up_stops_without_starting_the_fleet(tmp_path: Path) -> None:
    """Ctrl-C while HiveBoard is still starting: no banner claiming it runs, no fleet, exit 0."""
    env = _env(DEMO_PORT=str(_free_port()), DEMO_DATA_DIR=str(tmp_path / "demo-data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("starting HiveBoard"), first
    proc.send_signal(signal.SIGINT)  # the server is still importing and migrating
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "HiveBoard demo is running" not in rest, rest
    assert "[fleet]" not in rest and "Traceback" not in rest, rest
    assert rest.rstrip().endswith("stopped."), rest


def test_restarted_outreach_agent_moves_on_to_new_leads(server: tuple[str, str]) -> None:
    """email-outreach dies and is restarted; the new process must not email the same leads.

    At speed 100 the first life ends after 0.2 s and the restart comes 18 s later (the
    offline threshold's floor plus a margin), so 25 s hold two lives.
    """
    base, key = server
    fleet = subprocess.run(
        [*FLEET, "--endpoint", base, "--speed", "100", "--duration", "25"],
        cwd=ROOT,
        env=_env(HIVELOOP_API_KEY=key),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert fleet.returncode == 0, fleet.stderr
    runs = Api(base, key).get("/v1/tasks", agent="email-outreach", limit=200)["items"]
    runs = [r for r in runs if r["agent_id"] == "email-outreach"]
    lives = {r["task_run_id"].split("-")[0] for r in runs}  # one run-id prefix per process
    assert len(lives) >= 2, fleet.stdout
    task_ids = [r["task_id"] for r in runs]
    assert len(task_ids) == len(set(task_ids)), sorted(task_ids)
