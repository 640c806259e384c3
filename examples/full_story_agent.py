"""One task told in full: actions, LLM calls, a plan, a retry, an approval, an issue.

HIVELOOP_API_KEY=hb_live_... HIVELOOP_ENDPOINT=http://localhost:8080 python full_story_agent.py
"""

import random

import hiveloop

hb = hiveloop.init()
agent = hb.agent("example-lead-qualifier", type="sales", version="2.3.0", framework="custom")


@agent.track("fetch_crm_data")
def fetch_crm_data(lead_id: str) -> dict[str, str]:
    return {"id": lead_id, "company": "BlueStar Logistics"}


@agent.track("score_lead")
def score_lead(task: hiveloop.Task, lead: dict[str, str]) -> int:
    task.llm_call(
        "lead_scoring",
        "claude-sonnet-4-20250514",
        tokens_in=1800,
        tokens_out=250,
        duration_ms=1200,
        prompt_preview=f"Score lead {lead['id']} from {lead['company']}...",
        response_preview="Score: 72. Mid-size logistics company, active buyer.",
    )
    return 72


@agent.track("enrich_company")
def enrich_company(name: str) -> dict[str, str]:
    if random.random() < 0.5:
        raise TimeoutError("enrichment API timed out after 10s")
    return {"name": name, "employees": "250"}


with agent.task("lead-4821", project="sales-pipeline", type="lead_qualification") as task:
    task.plan("Qualify lead-4821", ["Fetch CRM", "Score", "Enrich", "Route"])
    lead = fetch_crm_data("lead-4821")
    task.plan_step(0, "completed", "CRM data retrieved")
    score = score_lead(task, lead)
    task.plan_step(1, "completed", f"Lead scored {score}", turns=1, tokens=2050)
    for attempt in (1, 2, 3):
        try:
            enrich_company(lead["company"])
            task.plan_step(2, "completed", "Company enriched")
            break
        except TimeoutError:
            task.retry(f"Enrichment timed out, attempt {attempt}", attempt=attempt)
    else:
        task.plan_step(2, "failed", "Enrichment unavailable")
        agent.report_issue(
            "Enrichment API timing out", severity="medium", issue_id="enrich-timeout"
        )
    task.request_approval("Offer a 10% discount to BlueStar?", approver="sales-lead")
    task.approval_received("Approved", approved_by="jsmith", decision="approved")
    task.plan_step(3, "completed", "Routed to account executive")
    task.set_payload({"score": score, "decision": "route_to_ae"})

hiveloop.shutdown()
