"""The released hiveloop 0.2.0 is a real client of the wire format: whatever it sends must
pass our schema, or the schema (and any server built from it) is wrong.

The package is installed into a throw-away venv (cached under build/ so reruns are fast) and
driven by a scripted agent in a subprocess, pointed at the loopback recorder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import hiveprotocol
import jsonschema
import pytest
from recorder import IngestRecorder

RELEASED = "hiveloop==0.2.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / "build" / "released-hiveloop-venv"
API_KEY = "hb_test_released_client"

AGENT_SCRIPT = textwrap.dedent(
    '''
    """Exercise every public method of hiveloop 0.2.0 against the endpoint in argv[1]."""
    import asyncio
    import logging
    import sys
    import threading

    import hiveloop
    from hiveloop import tool_payload
    from hiveloop.contrib.log_handler import HiveBoardLogHandler

    hb = hiveloop.init(
        api_key=sys.argv[2], endpoint=sys.argv[1], environment="conformance",
        group="released", flush_interval=60.0, batch_size=50,
    )

    beats = threading.Event()
    queue_polled = threading.Event()

    def heartbeat_data():
        beats.set()
        return {"crm_sync": True, "queue_depth": 2, "marker": "hb-callback"}

    def get_queue():
        queue_polled.set()
        return {"depth": 2, "oldest_age_seconds": 30, "items": [{"id": "q1", "priority": "high"}]}

    agent = hb.agent(
        "released-agent", type="sales", version="1.0.0", framework="custom",
        heartbeat_interval=0.1, stuck_threshold=120,
        heartbeat_payload=heartbeat_data, queue_provider=get_queue,
    )
    bare = hb.agent("bare-agent", heartbeat_interval=0)  # version=None -> agent_version null

    @agent.track("enrich")
    async def enrich(name):
        await asyncio.sleep(0)
        return name.upper()

    @agent.track("fetch")
    def fetch(lead_id):
        return {"id": lead_id, "company": "acme"}

    @agent.track("explode")
    def explode():
        raise RuntimeError("tracked failure")

    @agent.track("process")
    def process(task, lead_id):
        lead = fetch(lead_id)
        company = asyncio.run(enrich(lead["company"]))
        task.llm_call("score", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.004,
                      duration_ms=1200, prompt_preview="Score...", response_preview="72",
                      metadata={"temperature": 0.2})
        return company

    with agent.task("task-ok", project="sales-pipeline", type="lead", correlation_id="c-1") as t:
        process(t, "lead-1")
        try:
            explode()
        except RuntimeError:
            pass
        with agent.track_context("search_contacts") as action:
            action.set_payload(tool_payload(args={"q": "acme"}, result=["a", "b"],
                                            duration_ms=3, tool_category="crm", http_status=200))
        try:
            with agent.track_context("broken_tool") as action:
                action.set_payload({"attempted": True})
                raise ValueError("tool blew up")
        except ValueError:
            pass
        t.plan("Process lead", ["Fetch", "Score", "Route"])
        t.plan_step(0, "started", "Fetching")
        t.plan_step(0, "completed", "Fetched", turns=1, tokens=800)
        t.plan_step(1, "failed", "Scoring failed")
        t.plan_step(2, "skipped", "Nothing to route")
        t.retry("API timeout, attempt 1", attempt=1, backoff_seconds=1.0)
        t.escalate("Enrichment down", assigned_to="ops", reason="service_outage")
        t.request_approval("Credit $450?", approver="sales-lead")
        t.approval_received("Approved by @jsmith", approved_by="jsmith", decision="approved")
        t.event("custom", {"kind": "crm_writeback", "summary": "wrote score", "data": {"s": 72}})
        t.set_payload({"score": 72, "decision": "nurture"})

    try:
        with agent.task("task-boom") as t:
            t.plan_step(0, "started", "no plan made")  # total_steps: null
            raise KeyError("boom")
    except KeyError:
        pass

    manual = agent.start_task("task-manual-ok", project="sales-pipeline")
    manual.complete(status="success", payload={"result": "done"})
    manual = agent.start_task("task-manual-fail")
    manual.fail(exception=TimeoutError("too slow"), payload={"attempts": 3})

    agent.llm_call("summarise", "gpt-4o-mini", tokens_in=10, tokens_out=5)
    bare.llm_call("bare-call", "local-model")
    agent.queue_snapshot(3, oldest_age_seconds=120, items=[{"id": "lead-100", "priority": "high"}],
                         processing={"id": "lead-99", "summary": "working", "elapsed_ms": 10})
    agent.todo("todo-1", "created", "Follow up", priority="high", source="failed_action",
               context="enrichment timeout", due_by="2026-03-02T15:00:00Z")
    agent.todo("todo-1", "completed", "Followed up")
    agent.scheduled([
        {"id": "daily", "name": "Sync", "next_run": "2026-03-02T06:00:00Z", "interval": "24h",
         "enabled": True},
        {"id": "hourly", "name": "Check", "next_run": "2026-03-01T10:00:00Z", "interval": "1h",
         "enabled": False, "last_status": "success"},
    ])
    agent.report_issue("CRM 403", severity="high", issue_id="crm-403", category="permissions",
                       context={"status_code": 403}, occurrence_count=8)
    agent.resolve_issue("CRM credentials rotated", issue_id="crm-403")
    agent.event("custom", {"summary": "agent-level custom", "data": {"k": "v"}}, severity="warn")

    log = logging.getLogger("scripted.app")
    log.addHandler(HiveBoardLogHandler(agent))
    log.warning("disk almost full")
    log.error("payment gateway down")
    log.critical("database gone")

    if not (beats.wait(10) and queue_polled.wait(10)):
        sys.exit("heartbeat callbacks never ran")
    hiveloop.flush()
    hiveloop.shutdown(timeout=10)
    print("script-done")
    '''
)

EVENT_TYPES = set(hiveprotocol.load_schema()["$defs"]["eventType"]["enum"])
EXPECTED_KINDS = {
    "llm_call",
    "plan_created",
    "plan_step",
    "queue_snapshot",
    "todo",
    "scheduled",
    "issue",
}


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('hiveloop'))"
    result = _run([str(python), "-c", probe], timeout=60)
    return result.stdout.strip() if result.returncode == 0 else None


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.fixture(scope="session")
def released_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python with hiveloop 0.2.0 installed; built once, then reused from build/."""
    wanted = RELEASED.split("==")[1]
    cached = _venv_python(CACHE_DIR)
    if _installed_version(cached) == wanted:
        return cached

    venv = tmp_path_factory.mktemp("released-hiveloop") / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    if made.returncode != 0:
        pytest.fail(f"could not create a venv for {RELEASED}:\n{made.stderr[-2000:]}")
    python = _venv_python(venv)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", RELEASED]
    try:
        installed = _run(pip, timeout=400)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`pip install {RELEASED}` timed out; is the package index reachable?")
    if installed.returncode != 0 or _installed_version(python) != wanted:
        pytest.fail(
            f"`pip install {RELEASED}` failed, so the released client cannot be checked "
            f"(no network or no package index?). This is a failure, not a skip.\n"
            f"{installed.stderr[-3000:]}"
        )

    # Cache for the next run; the venv's python links to the base interpreter, so it moves.
    try:
        partial = CACHE_DIR.with_name(CACHE_DIR.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(venv, partial, symlinks=True)
        shutil.rmtree(CACHE_DIR, ignore_errors=True)
        partial.rename(CACHE_DIR)
        if _installed_version(cached) == wanted:
            return cached
    except OSError:
        pass
    return python


def _kind(event: dict[str, Any]) -> str | None:
    payload = event.get("payload") or {}
    return payload.get("kind") if event["event_type"] == "custom" else None


@pytest.mark.timeout(600)
def test_released_client_speaks_the_wire_format(
    released_python: Path,
    recorder: IngestRecorder,
    validate_body: Any,
    tmp_path: Path,
) -> None:
    script = tmp_path / "released_agent.py"
    script.write_text(AGENT_SCRIPT, encoding="utf-8")
    # cwd=tmp_path: 0.2.0 reads ./loophive.cfg for its endpoint; keep the repo's cwd out of it.
    run = subprocess.run(
        [str(released_python), str(script), recorder.url, API_KEY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0 and "script-done" in run.stdout, (
        f"agent script failed (rc={run.returncode}):\n{run.stdout}\n{run.stderr[-4000:]}"
    )

    ingest = [r for r in recorder.requests if r.path == "/v1/ingest"]
    assert ingest and len(ingest) == len(recorder.requests), recorder.requests
    for req in ingest:
        assert req.method == "POST"
        assert req.headers["authorization"] == f"Bearer {API_KEY}"
        assert req.headers["content-type"].startswith("application/json")

    problems = []
    for i, body in enumerate(recorder.bodies()):
        try:
            validate_body(body)
        except jsonschema.ValidationError as err:
            problems.append(f"body {i}: {err.message}")
    assert not problems, "hiveloop 0.2.0 sent bodies the schema rejects:\n" + "\n".join(problems)

    events = recorder.events()
    types = Counter(ev["event_type"] for _, ev in events)
    assert set(types) == EVENT_TYPES, types
    kinds = {_kind(ev) for _, ev in events} - {None}
    assert kinds >= EXPECTED_KINDS, kinds
    assert len({ev["event_id"] for _, ev in events}) == len(events), "duplicate event_id"

    envelopes = {env["agent_id"]: env for env, _ in events}
    assert set(envelopes) == {"released-agent", "bare-agent"}
    assert envelopes["released-agent"]["agent_version"] == "1.0.0"
    assert envelopes["bare-agent"]["agent_version"] is None
    assert envelopes["released-agent"]["environment"] == "conformance"
    assert envelopes["released-agent"]["group"] == "released"
    for body in recorder.bodies():
        assert len({ev.get("agent_id", body["envelope"]["agent_id"]) for ev in body["events"]}) == 1

    by_type: dict[str, list[dict[str, Any]]] = {}
    for _, ev in events:
        by_type.setdefault(ev["event_type"], []).append(ev)

    registered = {ev["payload"]["data"]["version"] for ev in by_type["agent_registered"]}
    assert registered == {"1.0.0", None}
    assert any(ev.get("payload", {}).get("marker") == "hb-callback" for ev in by_type["heartbeat"])
    assert all(ev["severity"] == "debug" for ev in by_type["heartbeat"])

    started = {ev["payload"]["action_name"]: ev for ev in by_type["action_started"]}
    for child in ("fetch", "enrich"):
        assert started[child]["parent_action_id"] == started["process"]["action_id"]
        assert started[child]["task_id"] == "task-ok"
    failed_actions = {ev["payload"]["action_name"] for ev in by_type["action_failed"]}
    assert failed_actions == {"explode", "broken_tool"}

    failed_tasks = {ev["task_id"]: ev for ev in by_type["task_failed"]}
    assert set(failed_tasks) == {"task-boom", "task-manual-fail"}
    assert failed_tasks["task-manual-fail"]["payload"]["exception_type"] == "TimeoutError"
    assert {ev["task_id"] for ev in by_type["task_completed"]} == {"task-ok", "task-manual-ok"}

    steps = [ev["payload"]["data"] for _, ev in events if _kind(ev) == "plan_step"]
    assert {s["action"] for s in steps} == {"started", "completed", "failed", "skipped"}
    assert any(s["total_steps"] is None for s in steps), "expected a plan_step without a plan"
    issues = [ev["payload"]["data"] for _, ev in events if _kind(ev) == "issue"]
    assert {i["severity"] for i in issues} >= {"critical", "high", "medium", "low"}
    assert {i["action"] for i in issues} == {"reported", "resolved"}


RETRY_SCRIPT = textwrap.dedent(
    """
    import sys
    import hiveloop

    hb = hiveloop.init(api_key=sys.argv[2], endpoint=sys.argv[1], flush_interval=60.0)
    hb.agent("retrying-agent", heartbeat_interval=0)
    hiveloop.shutdown(timeout=10)
    """
)


@pytest.mark.timeout(600)
def test_released_client_resends_the_same_batch_after_503(
    released_python: Path, recorder: IngestRecorder, tmp_path: Path
) -> None:
    """A retried batch reuses its event_ids, which is why the server must deduplicate."""
    recorder.respond(503)
    script = tmp_path / "retry_agent.py"
    script.write_text(RETRY_SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [str(released_python), str(script), recorder.url, API_KEY],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert [r.response_status for r in recorder.requests] == [503, 200]
    first, second = recorder.bodies()
    assert first == second and first["events"][0]["event_type"] == "agent_registered"


def test_code_written_for_the_released_client_runs_on_ours(
    recorder: IngestRecorder, validate_body: Any, tmp_path: Path
) -> None:
    """Upgrading from 0.2.0 to this SDK needs no code change: the same script, our package."""
    script = tmp_path / "released_agent.py"
    script.write_text(AGENT_SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script), recorder.url, API_KEY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0 and "script-done" in run.stdout, run.stderr[-4000:]
    for body in recorder.bodies():
        validate_body(body)
    events = recorder.events()
    assert {ev["event_type"] for _, ev in events} == EVENT_TYPES
    assert {_kind(ev) for _, ev in events} - {None} >= EXPECTED_KINDS
    started = {
        ev["payload"]["action_name"]: ev for _, ev in events if ev["event_type"] == "action_started"
    }
    for child in ("fetch", "enrich"):
        assert started[child]["parent_action_id"] == started["process"]["action_id"]
