"""A pool of worker threads sharing one agent, with a queue reported on each heartbeat.

HIVELOOP_API_KEY=hb_live_... HIVELOOP_ENDPOINT=http://localhost:8080 python threaded_workers.py
"""

import queue
import time
from concurrent.futures import ThreadPoolExecutor

import hiveloop

jobs: "queue.Queue[str]" = queue.Queue()
for n in range(40):
    jobs.put(f"invoice-{n}")

hb = hiveloop.init()
agent = hb.agent(
    "invoice-worker",
    type="finance",
    heartbeat_interval=5,
    queue_provider=lambda: {"depth": jobs.qsize()},
)


@agent.track("extract_fields")
def extract_fields(invoice_id: str) -> dict[str, str]:
    time.sleep(0.005)
    agent.llm_call("extract", "gpt-4o-mini", tokens_in=2200, tokens_out=180)
    return {"invoice": invoice_id, "total": "420.00"}


def work() -> None:
    while True:
        try:
            invoice_id = jobs.get_nowait()
        except queue.Empty:
            return
        with agent.task(invoice_id, project="accounts-payable", type="invoice"):
            extract_fields(invoice_id)


with ThreadPoolExecutor(max_workers=4) as pool:
    for _ in range(4):
        pool.submit(work)

hiveloop.shutdown()
