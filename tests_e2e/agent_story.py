"""A scripted agent that tells one full story; runs under our SDK and under hiveloop 0.2.0.

Only the API both versions share is used (0.2.0 code must keep working with ours), so
the same script exercises both clients. Usage::

    python agent_story.py ENDPOINT API_KEY AGENT_ID

It prints ``story-done`` after ``hiveloop.shutdown`` delivered everything (0.2.0's
``flush`` does not wait, its ``shutdown`` does).
"""

import sys
import time

import hiveloop

endpoint, api_key, agent_id = sys.argv[1], sys.argv[2], sys.argv[3]
hb = hiveloop.init(
    api_key=api_key, endpoint=endpoint, environment="e2e", group="story", flush_interval=0.2
)
agent = hb.agent(agent_id, type="sales", version="1.2.3", heartbeat_interval=0)


@agent.track("fetch_lead")
def fetch_lead(lead_id):
    time.sleep(0.05)
    return {"id": lead_id}


@agent.track("score_lead")
def score_lead(task, lead):
    # Reported cost.
    task.llm_call(
        "score",
        "claude-sonnet-4",
        tokens_in=1800,
        tokens_out=250,
        cost=0.004,
        duration_ms=1200,
        prompt_preview="Score...",
        response_preview="72",
    )
    # No cost: the server must estimate it from the tokens.
    task.llm_call("summarise", "gpt-4o", tokens_in=1000, tokens_out=500, duration_ms=300)
    return 72


@agent.track("process_lead")
def process_lead(task, lead_id):
    lead = fetch_lead(lead_id)
    return score_lead(task, lead)


@agent.track("explode")
def explode():
    raise RuntimeError("enrichment service down")


with agent.task(f"{agent_id}-ok", project="sales-pipeline", type="lead") as task:
    task.plan("Qualify lead", ["Fetch", "Score", "Route"])
    task.plan_step(0, "started", "Fetching")
    process_lead(task, "lead-1")
    task.plan_step(0, "completed", "Fetched")
    task.plan_step(1, "completed", "Scored")
    time.sleep(0.3)

try:
    with agent.task(f"{agent_id}-fail", project="sales-pipeline", type="lead") as task:
        explode()
except RuntimeError:
    pass

time.sleep(0.02)  # the open run must start after the failure ended (ms timestamps)
approval = agent.start_task(f"{agent_id}-approval", project="sales-pipeline", type="lead")
approval.request_approval("Credit $450?", approver="sales-lead")
# Left open: the approval stays pending.

agent.queue_snapshot(
    3, oldest_age_seconds=120, items=[{"id": "lead-100", "priority": "high", "summary": "big one"}]
)
agent.todo("todo-1", "created", "Follow up with ACME", priority="high")
agent.todo("todo-2", "created", "Done already", priority="low")
agent.todo("todo-2", "completed", "Done already")
agent.scheduled(
    [
        {
            "id": "daily-sync",
            "name": "CRM sync",
            "next_run": "2030-01-01T06:00:00Z",
            "interval": "24h",
            "enabled": True,
        },
    ]
)
agent.report_issue("CRM returns 403", severity="medium", issue_id="crm-403", category="permissions")
agent.report_issue("CRM returns 403", severity="medium", issue_id="crm-403", category="permissions")
agent.report_issue("CRM returns 403", severity="medium", issue_id="crm-403", category="permissions")
agent.report_issue("Old problem", severity="low", issue_id="old-1")
agent.resolve_issue("Old problem fixed", issue_id="old-1")

hiveloop.shutdown(timeout=15)
print("story-done", flush=True)
