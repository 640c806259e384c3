"""Many concurrent asyncio tasks; each keeps its own task and action context.

HIVELOOP_API_KEY=hb_live_... HIVELOOP_ENDPOINT=http://localhost:8080 python asyncio_agent.py
"""

import asyncio

import hiveloop

hb = hiveloop.init()
agent = hb.agent("example-support-triage", type="support", framework="asyncio")


@agent.track("classify")
async def classify(ticket_id: str) -> str:
    await asyncio.sleep(0.01)
    agent.llm_call("classify", "gpt-4o-mini", tokens_in=600, tokens_out=20)
    return "billing" if ticket_id.endswith(("0", "5")) else "technical"


@agent.track("draft_reply")
async def draft_reply(category: str) -> str:
    await asyncio.sleep(0.02)
    agent.llm_call("draft", "gpt-4o", tokens_in=1500, tokens_out=300)
    return f"Thanks for reaching out about your {category} question."


async def handle(ticket_id: str) -> None:
    with agent.task(ticket_id, project="support", type="ticket"):
        category = await classify(ticket_id)
        await draft_reply(category)


async def main() -> None:
    await asyncio.gather(*(handle(f"ticket-{n}") for n in range(20)))


asyncio.run(main())
hiveloop.shutdown()
