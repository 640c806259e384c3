"""What the browser tests look at: a small fleet told through the real ``hiveloop`` SDK.

One function per story so tests can add live events later.  The stories cover every
timeline feature the dashboard must show (nested actions, LLM calls with and without
reported cost, a plan, a failure followed by a retry, an approval with its wait, an
escalation, a failed task) plus pipeline items and hostile strings.
"""

from __future__ import annotations

import time
from typing import Any

import hiveloop

XSS = "<script>alert(1)</script>\"onmouseover=alert(2) x='javascript:alert(3)'"
XSS_AGENT = 'evil-<script>alert(1)</script>"onmouseover=alert(2)-javascript:alert(3)'
RICH_TASK = "lead-42"
FAILED_TASK = "lead-43"


def init(endpoint: str, key: str) -> Any:
    """The SDK's process-wide client for this server and key (tests wait for flush).

    ``hiveloop.init`` keeps one client per process; a test that reports for another
    tenant resets it first, as an application switching keys would.
    """
    running = hiveloop.get_client()
    if running is not None and not running.closed:
        if running.config.api_key == key and running.config.endpoint == endpoint:
            return running
        hiveloop.reset()
    return hiveloop.init(api_key=key, endpoint=endpoint, flush_interval=0.1)


def rich_story(hb: Any) -> None:
    """A run with everything the timeline shows: retry after failure, approval, plan, calls."""
    agent = hb.agent("sales-agent", type="sales", version="1.4.0", heartbeat_interval=30)

    @agent.track("fetch_lead")
    def fetch_lead() -> dict[str, str]:
        time.sleep(0.05)
        return {"id": "42"}

    @agent.track("call_crm")
    def call_crm(attempt: int) -> None:
        time.sleep(0.03)
        if attempt == 1:
            raise TimeoutError("CRM timed out after 30s")

    @agent.track("score_lead")
    def score_lead(task: Any) -> None:
        time.sleep(0.02)
        task.llm_call(
            "score", "claude-sonnet-4", tokens_in=1800, tokens_out=250, cost=0.0125,
            duration_ms=40, prompt_preview="Score this lead: ACME Corp", response_preview="72",
        )  # fmt: skip
        task.llm_call("summarise", "gpt-4o", tokens_in=1000, tokens_out=500, duration_ms=20)

    @agent.track("process_lead")
    def process_lead(task: Any) -> None:
        fetch_lead()
        try:
            call_crm(1)
        except TimeoutError:
            task.retry("Retrying CRM call", attempt=2, backoff_seconds=0.01)
            call_crm(2)
        score_lead(task)

    with agent.task(RICH_TASK, project="sales-pipeline", type="lead") as task:
        task.plan("Qualify lead", ["Fetch", "Score", "Route"])
        task.plan_step(0, "started", "Fetching")
        process_lead(task)
        task.plan_step(0, "completed", "Fetched")
        task.plan_step(1, "completed", "Scored")
        task.request_approval("Offer a 15% discount?", approver="sales-lead")
        time.sleep(0.15)
        task.approval_received("Discount approved", approved_by="dana", decision="approved")

    @agent.track("enrich")
    def enrich() -> None:
        raise RuntimeError("enrichment service down")

    try:
        with agent.task(FAILED_TASK, project="sales-pipeline", type="lead") as failing:
            try:
                enrich()
            except RuntimeError:
                failing.escalate("Enrichment is down: needs a human", assigned_to="ops")
                raise
    except RuntimeError:
        pass
    agent.queue_snapshot(3, oldest_age_seconds=120, items=[{"id": "lead-100", "summary": "big"}])
    agent.todo("todo-1", "created", "Follow up with ACME", priority="high")
    agent.report_issue("CRM returns 403", severity="medium", issue_id="crm-403")


def waiting_story(hb: Any) -> Any:
    """An agent whose open task waits for a human (amber on the fleet)."""
    agent = hb.agent("support-agent", type="support", heartbeat_interval=30)
    task = agent.start_task("ticket-7", project="support", type="ticket")
    task.llm_call("draft", "claude-sonnet-4", tokens_in=400, tokens_out=120, cost=0.002)
    task.request_approval("Refund $450?", approver="support-lead")
    return task


def xss_story(hb: Any) -> None:
    """Hostile strings where an agent controls them: its id, an issue, a summary."""
    agent = hb.agent(XSS_AGENT, type=XSS, heartbeat_interval=0)
    agent.report_issue(XSS, severity="high", issue_id="xss-1", category=XSS)
    with agent.task("xss-task-" + XSS, type=XSS) as task:
        task.llm_call(XSS, XSS, tokens_in=1, tokens_out=1, prompt_preview=XSS,
                      response_preview=XSS)  # fmt: skip
        task.event("custom", {"kind": "note", "summary": XSS, "data": {"x": XSS}})


def tell_all(endpoint: str, key: str) -> Any:
    """Run every story and flush; returns the client (kept open for live tests)."""
    hb = init(endpoint, key)
    rich_story(hb)
    waiting_story(hb)
    xss_story(hb)
    assert hb.flush(timeout=10), "the SDK could not deliver the stories"
    return hb
