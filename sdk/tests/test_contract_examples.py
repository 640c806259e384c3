"""Every example of the SDK's public contract runs unchanged against a loopback server.

The snippets below are the contract's own examples, character for character;
``HIVELOOP_ENDPOINT`` points them at the recorder, the way a self-hosted user
would, and small stubs stand in for the user's business functions.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import hiveloop
import pytest
from recorder import IngestRecorder

LAYER_0 = """
import hiveloop

hb = hiveloop.init(api_key="hb_live_...")
agent = hb.agent("my-agent", type="support", version="1.0.0")

# Your agent code runs here. Heartbeats are sent automatically.
# When you're done:
hiveloop.shutdown()
"""

LAYER_1 = """
with agent.task("task-001", project="sales-pipeline", type="lead_qualification") as task:
    lead = fetch_crm_data("lead-4821")
    score = score_lead(lead)
    route_lead(score)
"""

LAYER_2 = """
with agent.task("task-001", project="sales-pipeline") as task:
    # Track LLM calls with cost data
    task.llm_call(
        "lead_scoring",
        "claude-sonnet-4-20250514",
        tokens_in=1800,
        tokens_out=250,
        cost=0.004,
        duration_ms=1200,
        prompt_preview="Score this lead based on...",
        response_preview="Score: 72. Reasoning: ...",
    )

    # Track multi-step plans
    task.plan("Process lead", ["Fetch CRM", "Score", "Enrich", "Route"])
    task.plan_step(0, "completed", "CRM data retrieved", turns=1, tokens=800)
    task.plan_step(1, "completed", "Lead scored 72", turns=2, tokens=3200)
    task.plan_step(2, "failed", "Enrichment API timeout")

    # Escalate when needed
    task.escalate("Enrichment service down", reason="service_outage")

    # Request human approval
    task.request_approval("Credit $450 for customer BlueStar?", approver="sales-lead")
"""

ACTIONS = """
@agent.track("fetch_crm_data")
def fetch_crm_data(lead_id):
    return crm_client.get_lead(lead_id)

@agent.track("enrich_company")
async def enrich_company(company_name):
    return await enrichment_api.lookup(company_name)

@agent.track("process_lead")
def process_lead(lead_id):
    lead = fetch_crm_data(lead_id)       # Nested action
    company = enrich_company(lead.company) # Nested action
    return score(lead, company)

with agent.task("task-001") as task:
    result = process_lead("lead-4821")
"""

TRACK_CONTEXT = """
with agent.track_context("data_processing") as action:
    items = process_batch(data)
    action.set_payload({"items_processed": len(items)})
"""

QUEUE = """
# Manual snapshot
agent.queue_snapshot(
    depth=5,
    oldest_age_seconds=120,
    items=[
        {"id": "lead-100", "priority": "high", "source": "inbound"},
        {"id": "lead-101", "priority": "normal", "source": "referral"},
    ],
)

# Or use automatic reporting via callback (emits with each heartbeat)
def get_queue():
    return {"depth": len(my_queue), "oldest_age_seconds": my_queue.oldest_age()}

agent = hb.agent("my-agent", queue_provider=get_queue)
"""

ISSUES = """
agent.report_issue(
    "CRM API returning 403",
    severity="high",
    issue_id="crm-auth-failure",
    category="permissions",
    context={"endpoint": "/api/leads", "status_code": 403},
    occurrence_count=8,
)

# Later, when resolved:
agent.resolve_issue("CRM credentials rotated", issue_id="crm-auth-failure")
"""

TODOS = """
agent.todo(
    "todo-001",
    action="created",
    summary="Follow up on failed enrichment for lead-4821",
    priority="high",
    source="failed_action",
    due_by="2026-02-14T15:00:00Z",
)

# When completed:
agent.todo("todo-001", action="completed", summary="Enrichment retry succeeded")
"""

SCHEDULED = """
agent.scheduled([
    {
        "id": "daily-sync",
        "name": "CRM Full Sync",
        "next_run": "2026-02-14T06:00:00Z",
        "interval": "24h",
        "enabled": True,
    },
    {
        "id": "hourly-check",
        "name": "Lead Queue Check",
        "next_run": "2026-02-13T15:00:00Z",
        "interval": "1h",
        "enabled": True,
    },
])
"""

HEARTBEAT_DATA = """
def heartbeat_data():
    return {
        "crm_sync": True,
        "email_check": True,
        "queue_depth": len(my_queue),
        "last_success": last_success_time.isoformat(),
    }

agent = hb.agent("my-agent", heartbeat_payload=heartbeat_data)
"""

CONTEXT_MANAGER = """
with agent.task("task-001") as task:
    do_work()
    # Auto-completes on clean exit
    # Auto-fails with exception details if exception is raised
"""

MANUAL = """
task = agent.start_task("task-001", project="sales")

try:
    result = do_work()
    task.complete(status="success", payload={"result": result})
except Exception as e:
    task.fail(exception=e)
"""

SET_PAYLOAD = """
with agent.task("task-001") as task:
    score = compute_score()
    task.set_payload({"score": score, "threshold": 80, "decision": "nurture"})
"""

APPROVALS = """
with agent.task("refund-review") as task:
    task.request_approval(
        "Refund $450 for customer BlueStar",
        approver="finance-team",
    )

    # ... wait for human decision ...

    task.approval_received(
        "Approved by @jsmith",
        approved_by="jsmith",
        decision="approved",
    )
"""

RETRIES = """
with agent.task("task-001") as task:
    for attempt in range(3):
        try:
            result = call_external_api()
            break
        except TimeoutError:
            task.retry(
                f"API timeout, attempt {attempt + 1}",
                attempt=attempt + 1,
                backoff_seconds=2 ** attempt,
            )
            time.sleep(2 ** attempt)
"""

SELF_HOSTED = """
hb = hiveloop.init(
    api_key="hb_live_...",
    endpoint="https://hiveboard.your-company.com",
)
"""


class _Queue(list[Any]):
    def oldest_age(self) -> int:
        return 42


def _score(lead: Any, company: Any) -> int:
    # The contract's example calls the async enrich_company() without awaiting it;
    # close the coroutine it gets, as the caller's event loop would never run it.
    if asyncio.iscoroutine(company):
        company.close()
    return 72


def _user_code() -> dict[str, Any]:
    """The user's own functions the snippets call."""
    attempts = iter([TimeoutError("slow"), TimeoutError("slow"), "ok"])

    def call_external_api() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def lookup(name: str) -> str:
        return name.upper()

    return {
        "hiveloop": hiveloop,
        "fetch_crm_data": lambda lead_id: {"id": lead_id},
        "score_lead": lambda lead: 72,
        "route_lead": lambda score: None,
        "crm_client": SimpleNamespace(get_lead=lambda lead_id: SimpleNamespace(company="Blue")),
        "enrichment_api": SimpleNamespace(lookup=lookup),
        "score": _score,
        "process_batch": lambda data: data[:2],
        "data": [1, 2, 3],
        "my_queue": _Queue([1, 2]),
        "last_success_time": datetime.now(UTC),
        "do_work": lambda: "done",
        "compute_score": lambda: 72,
        "call_external_api": call_external_api,
        "time": SimpleNamespace(sleep=lambda seconds: None),
    }


@pytest.fixture
def namespace(recorder: IngestRecorder, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("HIVELOOP_ENDPOINT", recorder.url)
    return _user_code()


def _run(snippet: str, namespace: dict[str, Any]) -> None:
    exec(compile(textwrap.dedent(snippet), "<contract example>", "exec"), namespace)


def test_layer_0_presence(namespace: dict[str, Any], recorder: IngestRecorder) -> None:
    _run(LAYER_0, namespace)
    types = [event["event_type"] for _, event in recorder.events()]
    assert types[:2] == ["agent_registered", "heartbeat"]
    assert recorder.requests[0].headers["authorization"] == "Bearer hb_live_..."


def test_every_other_example(
    namespace: dict[str, Any], recorder: IngestRecorder, validate_body: Any
) -> None:
    namespace["hb"] = hiveloop.init(api_key="hb_live_...")
    namespace["agent"] = namespace["hb"].agent("lead-qualifier", type="sales")
    examples = [LAYER_1, LAYER_2, TRACK_CONTEXT, QUEUE, ISSUES, TODOS, SCHEDULED, HEARTBEAT_DATA]
    examples += [CONTEXT_MANAGER, MANUAL, SET_PAYLOAD, APPROVALS, RETRIES]
    for snippet in examples:
        _run(snippet, namespace)
    _run(ACTIONS, {**_user_code(), "agent": namespace["hb"].get_agent("lead-qualifier")})
    assert hiveloop.flush(5)
    seen = {event["event_type"] for _, event in recorder.events()}
    kinds = {(event.get("payload") or {}).get("kind") for _, event in recorder.events()}
    assert {"task_started", "task_completed", "action_started", "escalated"} <= seen
    assert {"approval_requested", "approval_received", "retry_started"} <= seen
    assert {"llm_call", "plan_created", "plan_step", "queue_snapshot", "issue"} <= kinds
    assert {"todo", "scheduled"} <= kinds
    for body in recorder.bodies():
        validate_body(body)


def test_self_hosted_endpoint_is_used_as_given() -> None:
    namespace: dict[str, Any] = {"hiveloop": hiveloop}
    _run(SELF_HOSTED, namespace)
    assert namespace["hb"].config.endpoint == "https://hiveboard.your-company.com"
