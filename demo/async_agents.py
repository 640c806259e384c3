"""Agents written with asyncio: a lead qualifier, support triage and a research writer.

They run as coroutines on one event loop, next to the threaded workers, to show
that HiveLoop keeps the current task per asyncio task: many tickets can be open
on one agent at once without their events mixing.
"""

from __future__ import annotations

import asyncio
import random

from hiveloop import Agent, Task

from demo import content
from demo.clock import DemoStopped, jittered
from demo.world import World, price


class EnrichmentError(Exception):
    """The enrichment vendor kept timing out; the lead is parked."""


# -- lead qualifier ------------------------------------------------------------------

LEAD_STEPS = ["Fetch CRM record", "Enrich company profile", "Score fit", "Draft outreach"]
REVISED_STEPS = [
    "Fetch CRM record",
    "Enrich company profile",
    "Score fit",
    "Request firmographics from the data team",
    "Re-score with firmographics",
    "Draft outreach",
]


async def lead_qualifier(world: World) -> None:
    """Qualifies one lead at a time: a plan, two models, retried enrichment.

    About one lead in three scores ambiguously, and the agent revises its plan
    mid-run (plan revision 1) - the "plan diverged" story on the timeline.
    """
    clock = world.clock
    agent = world.hb.agent(
        "lead-qualifier",
        type="sales",
        version="2.3.1",
        framework="langchain",
        heartbeat_interval=clock.interval(15),
        stuck_threshold=clock.threshold(120),
    )
    rng = world.rng("lead-qualifier")
    n = 0
    while True:
        n += 1
        lead = content.lead(rng, n)
        try:
            await _qualify(world, agent, rng, lead)
        except EnrichmentError:
            pass  # recorded as a failed run; the next lead goes on
        await clock.asleep(jittered(rng, 6))


async def _qualify(world: World, agent: Agent, rng: random.Random, lead: dict[str, object]) -> None:
    clock = world.clock
    company = str(lead["company"])
    with agent.task(str(lead["id"]), project="sales-pipeline", type="lead_qualification") as task:
        goal = f"Qualify {company} ({lead['source']})"
        steps = list(LEAD_STEPS)
        task.plan(goal, steps)
        revised = False
        i = 0
        while i < len(steps):
            task.plan_step(i, "started", steps[i])
            if i == 0:
                async with agent.track_context("fetch_crm_record") as action:
                    await clock.asleep(jittered(rng, 1.5))
                    action.set_payload({"lead_id": lead["id"], "employees": lead["employees"]})
            elif i == 1:
                await _enrich(world, agent, task, rng, company, i)
            elif steps[i] == "Score fit":
                ambiguous = await _score(world, agent, task, rng, lead)
                if ambiguous and not revised:
                    task.plan_step(i, "completed", "fit score 0.48: ambiguous", tokens=2100)
                    steps = list(REVISED_STEPS)
                    task.plan(goal, steps, revision=1)
                    for done in range(i + 1):  # the new plan starts where the old one was
                        task.plan_step(done, "completed", f"{steps[done]} (carried over)")
                    revised = True
                    i += 1
                    continue
            elif steps[i].startswith("Request firmographics"):
                async with agent.track_context("request_firmographics"):
                    await clock.asleep(jittered(rng, 4))
            elif steps[i].startswith("Re-score"):
                await _score(world, agent, task, rng, lead, rescore=True)
            else:
                await _draft(world, agent, task, rng, company)
            task.plan_step(i, "completed", steps[i], turns=1)
            i += 1
        task.set_payload({"company": company, "qualified": rng.random() < 0.6})


async def _enrich(
    world: World, agent: Agent, task: Task, rng: random.Random, company: str, step: int
) -> None:
    """Call the enrichment vendor with exponential backoff; three timeouts fail the lead."""
    for attempt in range(1, 4):
        try:
            async with agent.track_context("enrich_company") as action:
                await world.clock.asleep(jittered(rng, 2))
                if rng.random() < 0.3:
                    raise TimeoutError(f"enrichment API did not answer for {company} within 10 s")
                action.set_payload({"company": company, "industry": "B2B SaaS"})
            return
        except TimeoutError:
            if attempt == 3:
                task.plan_step(step, "failed", "enrichment vendor unreachable")
                raise EnrichmentError(f"gave up enriching {company} after 3 attempts") from None
            backoff = 2.0**attempt
            task.retry(
                f"Retrying enrichment of {company} in {backoff:.0f} s",
                attempt=attempt + 1,
                backoff_seconds=backoff,
            )
            await world.clock.asleep(backoff)


async def _score(
    world: World,
    agent: Agent,
    task: Task,
    rng: random.Random,
    lead: dict[str, object],
    rescore: bool = False,
) -> bool:
    """Extract with a small model (cost reported), score with a large one (cost estimated)."""
    async with agent.track_context("rescore_lead" if rescore else "score_lead"):
        tin, tout = rng.randint(900, 1600), rng.randint(120, 260)
        await world.clock.asleep(jittered(rng, 1.2))
        task.llm_call(
            "extract_signals",
            "gpt-4o-mini",
            tokens_in=tin,
            tokens_out=tout,
            cost=price("gpt-4o-mini", tin, tout),
            duration_ms=int(jittered(rng, 1200)),
            prompt_preview=content.preview(f"Extract buying signals for {lead['company']}: …"),
            response_preview='{"budget": "confirmed", "timeline": "Q3", "champion": true}',
        )
        tin, tout = rng.randint(1800, 3200), rng.randint(200, 450)
        await world.clock.asleep(jittered(rng, 2.5))
        task.llm_call(  # no cost: HiveBoard estimates it from the tokens
            "score_fit",
            "claude-sonnet-4",
            tokens_in=tin,
            tokens_out=tout,
            duration_ms=int(jittered(rng, 2600)),
            prompt_preview=content.preview(
                f"Score {lead['company']} ({lead['employees']} employees) against our ICP"
            ),
            response_preview="Fit 0.48: strong intent, but company size is outside the ICP.",
        )
    return not rescore and rng.random() < 0.35


async def _draft(world: World, agent: Agent, task: Task, rng: random.Random, company: str) -> None:
    async with agent.track_context("draft_outreach"):
        tin, tout = rng.randint(1200, 2000), rng.randint(300, 600)
        await world.clock.asleep(jittered(rng, 2))
        task.llm_call(
            "draft_email",
            "claude-sonnet-4",
            tokens_in=tin,
            tokens_out=tout,
            duration_ms=int(jittered(rng, 2100)),
            prompt_preview=content.preview(f"Write a first-touch email to {company}"),
            response_preview=f"Hi - saw {company} is scaling its ops team…",
        )


# -- support triage ------------------------------------------------------------------


async def support_triage(world: World) -> None:
    """Tickets arrive every few seconds and are handled concurrently (up to four).

    Sensitive ones (refunds, cancellations, lost MFA) are escalated and wait for a
    human approval that arrives a minute or so later, so there is nearly always
    something pending in the approvals view.
    """
    clock = world.clock
    agent = world.hb.agent(
        "support-triage",
        type="support",
        version="1.8.0",
        heartbeat_interval=clock.interval(20),
        # Longer than the slowest approval: a ticket waiting for a human is not stuck.
        stuck_threshold=clock.threshold(300),
    )
    rng = world.rng("support-triage")
    slots = asyncio.Semaphore(4)
    running: set[asyncio.Task[None]] = set()
    open_todos: list[str] = []
    n = 0
    try:
        while True:
            n += 1
            await slots.acquire()
            job = asyncio.create_task(
                _ticket(world, agent, rng, content.ticket(rng, n), open_todos, slots)
            )
            running.add(job)
            job.add_done_callback(running.discard)
            await clock.asleep(jittered(rng, 7))
    finally:
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _ticket(
    world: World,
    agent: Agent,
    rng: random.Random,
    ticket: dict[str, object],
    open_todos: list[str],
    slots: asyncio.Semaphore,
) -> None:
    clock = world.clock
    try:
        ticket_id = str(ticket["id"])
        with agent.task(ticket_id, project="customer-support", type="ticket_triage") as task:
            async with agent.track_context("classify_ticket") as action:
                await clock.asleep(jittered(rng, 1.5))
                tin, tout = rng.randint(500, 900), rng.randint(40, 90)
                task.llm_call(
                    "classify",
                    "claude-haiku-4-5",
                    tokens_in=tin,
                    tokens_out=tout,
                    duration_ms=int(jittered(rng, 700)),
                    prompt_preview=content.preview(f"Classify: {ticket['topic']}"),
                    response_preview=f'{{"category": "{ticket["category"]}"}}',
                )
                action.set_payload({"category": ticket["category"]})
            async with agent.track_context("draft_reply"):
                await clock.asleep(jittered(rng, 3))
                tin, tout = rng.randint(1500, 2600), rng.randint(250, 500)
                task.llm_call(
                    "draft_reply",
                    "gpt-4o",
                    tokens_in=tin,
                    tokens_out=tout,
                    cost=price("gpt-4o", tin, tout),
                    duration_ms=int(jittered(rng, 3000)),
                    prompt_preview=content.preview(f"Reply to {ticket['customer']}: …"),
                    response_preview="Thanks for reaching out - I have looked into this…",
                )
            if ticket["sensitive"]:
                await _human_in_the_loop(world, agent, task, rng, ticket, open_todos)
            async with agent.track_context("send_reply"):
                await clock.asleep(jittered(rng, 0.8))
            if open_todos and rng.random() < 0.4:
                done = open_todos.pop(0)
                agent.todo(done, "completed", f"Followed up ({done})")
    except DemoStopped:
        pass
    finally:
        slots.release()


async def _human_in_the_loop(
    world: World,
    agent: Agent,
    task: Task,
    rng: random.Random,
    ticket: dict[str, object],
    open_todos: list[str],
) -> None:
    task.escalate(
        f"{str(ticket['category']).title()} case needs a human: {ticket['topic']}",
        assigned_to="support-leads",
        reason="policy: refunds, cancellations and account recovery need sign-off",
    )
    task.request_approval(
        f"Approve the proposed resolution for {ticket['id']} ({ticket['customer']})",
        approver="maria.lopez",
    )
    await world.clock.asleep(jittered(rng, 75, 0.4))  # the human answers when they can
    decision = "rejected" if rng.random() < 0.2 else "approved"
    task.approval_received(
        f"Resolution for {ticket['id']} {decision}", approved_by="maria.lopez", decision=decision
    )
    if decision == "rejected":
        todo_id = f"follow-up-{ticket['id']}"
        agent.todo(
            todo_id,
            "created",
            f"Call {ticket['customer']} about {ticket['id']} before replying",
            priority="high",
            source=str(ticket["id"]),
        )
        open_todos.append(todo_id)


# -- research writer: the cost spike -----------------------------------------------

SPIKE_START, SPIKE_END, SPIKE_CYCLE = 45.0, 200.0, 900.0


async def research_writer(world: World) -> None:
    """Writes research briefs with claude-sonnet-4; for a while it switches to claude-opus-4.

    The switch (simulated seconds 45-200 of every 15 minutes) is the cost spike:
    longer contexts on a model five times dearer, visible in the cost view by model
    and by agent. Costs are reported by the agent itself.
    """
    clock = world.clock
    agent = world.hb.agent(
        "research-writer",
        type="content",
        version="0.9.4",
        framework="crewai",
        heartbeat_interval=clock.interval(20),
        stuck_threshold=clock.threshold(180),
    )
    rng = world.rng("research-writer")
    n = 0
    announced = False
    while True:
        n += 1
        phase = clock.sim_elapsed() % SPIKE_CYCLE
        expensive = SPIKE_START <= phase < SPIKE_END
        if expensive and not announced:
            world.say("research-writer switched to claude-opus-4: watch the cost view")
        announced = expensive
        model = "claude-opus-4" if expensive else "claude-sonnet-4"
        item = content.brief(rng, n)
        with agent.task(str(item["id"]), project="marketing", type="research_brief") as task:
            if expensive:
                task.event(
                    "custom",
                    {
                        "kind": "model_switch",
                        "summary": "Long context detected: drafting on claude-opus-4",
                        "data": {"from": "claude-sonnet-4", "to": "claude-opus-4"},
                    },
                    severity="warn",
                )
            for section in ("outline", "draft", "fact_check"):
                async with agent.track_context(f"write_{section}"):
                    await clock.asleep(jittered(rng, 3))
                    scale = 6 if expensive else 1
                    tin = rng.randint(3000, 6000) * scale
                    tout = rng.randint(400, 1200) * (2 if expensive else 1)
                    task.llm_call(
                        section,
                        model,
                        tokens_in=tin,
                        tokens_out=tout,
                        cost=price(model, tin, tout),
                        duration_ms=int(jittered(rng, 4000 * (2 if expensive else 1))),
                        prompt_preview=content.preview(f"{section.title()}: {item['topic']}"),
                        response_preview=content.preview(f"{item['topic']} - key findings…"),
                    )
        await clock.asleep(jittered(rng, 10))
