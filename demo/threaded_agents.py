"""Agents written as plain threads: CRM sync, scheduler, a hanging enricher, invoice workers.

Each function is a thread's whole life. They only use the public ``hiveloop`` API;
the misbehaviour (expired credentials, a missed job, a hang, a backlog) is
simulated, the instrumentation is exactly what a real agent would carry.
"""

from __future__ import annotations

import collections
import functools
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hiveloop import Agent, Task

from demo import content
from demo.clock import jittered
from demo.world import World, price


class CrmAuthError(Exception):
    """The CRM answered 401: the OAuth token has expired."""


class LedgerUnavailable(Exception):
    """The ledger API answered 503; worth retrying."""


class ValidationFailed(Exception):
    """The invoice does not add up; a human has to look."""


class VendorTimeout(Exception):
    """The vendor's file server stopped sending bytes."""


# -- CRM sync: credentials expire, a recurring issue until they are rotated -----------

EXPIRES_AT, OUTAGE, EXPIRY_CYCLE = 25.0, 260.0, 900.0


def crm_sync(world: World) -> None:
    """Syncs contacts every ~10 s; its token expires 25 s in and stays broken ~4 minutes.

    Every failed run re-reports the same ``issue_id`` with a growing occurrence
    count (a high-severity issue, so the agent shows ``error``), and a TODO asks a
    human to rotate the token. When the token is rotated the issue is resolved
    and the TODO completed; the cycle repeats every 15 simulated minutes.
    """
    clock = world.clock
    agent = world.hb.agent(
        "crm-sync",
        type="integration",
        version="4.0.2",
        heartbeat_interval=clock.interval(15),
        stuck_threshold=clock.threshold(120),
    )
    rng = world.rng("crm-sync")
    occurrences = 0
    n = 0
    while True:
        n += 1
        phase = clock.sim_elapsed() % EXPIRY_CYCLE
        expired = EXPIRES_AT <= phase < EXPIRES_AT + OUTAGE
        if not expired and occurrences:
            agent.resolve_issue("CRM OAuth token rotated; sync recovered", issue_id="crm-token")
            agent.todo("rotate-crm-token", "completed", "Rotated the CRM OAuth token")
            world.say("crm-sync: token rotated, issue resolved")
            occurrences = 0
        try:
            with agent.task(f"crm-sync-{n}", project="crm", type="contact_sync") as task:
                with agent.track_context("fetch_changed_contacts") as action:
                    clock.sleep(jittered(rng, 1.5))
                    if expired:
                        raise CrmAuthError("401 Unauthorized: OAuth access token expired")
                    action.set_payload({"changed": rng.randint(3, 60)})
                with agent.track_context("upsert_contacts"):
                    clock.sleep(jittered(rng, 2))
                task.set_payload({"pages": rng.randint(1, 4)})
        except CrmAuthError:
            occurrences += 1
            agent.report_issue(
                "CRM rejects our OAuth token (401): contact sync is failing",
                "high",
                issue_id="crm-token",
                category="credentials",
                context={"endpoint": "/services/data/v59.0/query", "status": 401},
                occurrence_count=occurrences,
            )
            if occurrences == 1:
                world.say("crm-sync: credentials expired, reporting an issue")
                agent.todo(
                    "rotate-crm-token",
                    "created",
                    "Rotate the CRM OAuth token (expired)",
                    priority="high",
                    source="crm-sync",
                )
        clock.sleep(jittered(rng, 10))


# -- scheduler: recurring jobs, one of which is missed ----------------------------------


class Job:
    """A recurring job in simulated seconds; ``miss_first`` makes its first window pass."""

    def __init__(self, job_id: str, name: str, every: float, first: float, miss_first: bool):
        self.id = job_id
        self.name = name
        self.every = every
        self.due = first
        self.miss_first = miss_first
        self.last_status: str | None = None
        self.last_run: str | None = None

    def describe(self, world: World, now_sim: float) -> dict[str, object]:
        """The item as ``agent.scheduled`` wants it, ``next_run`` in wall-clock time."""
        ahead = world.clock.real(max(0.0, self.due - now_sim))
        item: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "next_run": (datetime.now(UTC) + timedelta(seconds=ahead)).isoformat(),
            "interval": f"{int(self.every // 60)}m" if self.every >= 60 else f"{int(self.every)}s",
            "enabled": True,
        }
        if self.last_status:
            item["last_status"] = self.last_status
            item["last_run"] = self.last_run
        return item


def scheduler(world: World) -> None:
    """Runs four recurring jobs and reports them with ``agent.scheduled`` every tick.

    ``invoice-reminders`` misses its first window (the scheduler was busy with the
    digest): that is reported as a warning, kept as ``last_status: missed`` on the
    item, and a TODO to re-send the reminders, completed when the next run succeeds.
    """
    clock = world.clock
    agent = world.hb.agent(
        "ops-scheduler",
        type="ops",
        version="1.2.0",
        heartbeat_interval=clock.interval(15),
        stuck_threshold=clock.threshold(120),
    )
    rng = world.rng("ops-scheduler")
    jobs = [
        Job("daily-digest", "Daily pipeline digest", 300, 8, False),
        Job("invoice-reminders", "Overdue invoice reminders", 120, 14, True),
        Job("warehouse-export", "Export events to the warehouse", 60, 20, False),
        Job("kb-reindex", "Re-index the support knowledge base", 240, 90, False),
    ]
    paused = {"id": "weekly-report", "name": "Weekly board report", "interval": "7d"}
    while True:
        now = clock.sim_elapsed()
        for job in jobs:
            if job.due > now:
                continue
            stamp = datetime.now(UTC).isoformat()
            if job.miss_first:
                job.miss_first = False
                job.last_status, job.last_run = "missed", stamp
                agent.event(
                    "custom",
                    {
                        "kind": "schedule_missed",
                        "summary": f"{job.name} missed its window: scheduler busy",
                        "data": {"job_id": job.id},
                    },
                    severity="warn",
                )
                agent.todo(
                    f"rerun-{job.id}",
                    "created",
                    f"Re-send the reminders {job.name.lower()} missed",
                    priority="medium",
                    source="ops-scheduler",
                )
                world.say(f"ops-scheduler: {job.id} missed its window")
            else:
                _run_job(world, agent, rng, job, stamp)
            job.due = now + job.every
        items: list[Mapping[str, Any]] = [job.describe(world, now) for job in jobs]
        items.append({**paused, "next_run": None, "enabled": False})
        agent.scheduled(items)
        clock.sleep(jittered(rng, 5, 0.2))


def _run_job(world: World, agent: Agent, rng: random.Random, job: Job, stamp: str) -> None:
    run_id = f"{job.id}-{stamp[:19]}"
    action_name = f"run_{job.id.replace('-', '_')}"
    task = agent.task(run_id, project="operations", type=job.id)
    with task, agent.track_context(action_name) as a:
        world.clock.sleep(jittered(rng, 3))
        a.set_payload({"rows": rng.randint(10, 5000)})
    if job.last_status == "missed":
        agent.todo(f"rerun-{job.id}", "completed", f"{job.name} ran again")
    job.last_status, job.last_run = "success", stamp


# -- data enricher: hangs mid-task, becomes stuck -----------------------------------------

HANG_EVERY = 600.0


def data_enricher(world: World) -> None:
    """Enriches accounts in short tasks; its third task hangs on a vendor download.

    Heartbeats keep coming (the process is fine) but the task makes no progress
    for four simulated minutes, longer than the agent's 20 s ``stuck_threshold``:
    HiveBoard marks it stuck. The download then times out and the run fails.
    """
    clock = world.clock
    agent = world.hb.agent(
        "data-enricher",
        type="data",
        version="0.4.0",
        heartbeat_interval=clock.interval(5),
        stuck_threshold=clock.threshold(20),
    )
    rng = world.rng("data-enricher")
    n = 0
    next_hang = 3
    while True:
        n += 1
        account = rng.choice(content.COMPANIES)
        try:
            with agent.task(f"enrich-{account.split()[0].lower()}-{n}", type="enrichment") as task:
                with agent.track_context("download_vendor_file") as action:
                    if n == next_hang:
                        world.say("data-enricher: vendor download hung (stuck soon)")
                        clock.sleep(240)
                        raise VendorTimeout("vendor SFTP read timed out after 240 s")
                    clock.sleep(jittered(rng, 2))
                    action.set_payload({"bytes": rng.randint(20_000, 900_000)})
                with agent.track_context("merge_firmographics"):
                    clock.sleep(jittered(rng, 1.5))
                    tin, tout = rng.randint(400, 800), rng.randint(60, 140)
                    task.llm_call(
                        "normalize_industry", "gpt-4o-mini", tokens_in=tin, tokens_out=tout
                    )
        except VendorTimeout:
            next_hang = n + int(HANG_EVERY // 8)
        clock.sleep(jittered(rng, 4))


# -- invoice processor: a worker pool whose queue backs up --------------------------------


class InvoiceQueue:
    """A thread-safe FIFO that remembers when each item arrived (for oldest-item age)."""

    def __init__(self) -> None:
        self._items: collections.deque[tuple[float, dict[str, object]]] = collections.deque()
        self._lock = threading.Lock()
        self.processing: dict[str, dict[str, object]] = {}

    def put(self, item: dict[str, object]) -> None:
        with self._lock:
            self._items.append((time.monotonic(), item))

    def get(self) -> dict[str, object] | None:
        with self._lock:
            return self._items.popleft()[1] if self._items else None

    def snapshot(self) -> dict[str, object]:
        """What ``queue_provider`` reports with every heartbeat."""
        with self._lock:
            now = time.monotonic()
            oldest = now - self._items[0][0] if self._items else 0.0
            head = [
                {"id": item["id"], "vendor": item["vendor"], "amount": item["amount"]}
                for _, item in list(self._items)[:5]
            ]
            depth = len(self._items)
            current = next(iter(self.processing.values()), None)
        snapshot: dict[str, object] = {
            "depth": depth,
            "oldest_age_seconds": round(oldest, 1),
            "items": head,
        }
        if current is not None:
            snapshot["processing"] = current
        return snapshot


def invoice_processor(world: World, workers: int = 3) -> list[tuple[str, Callable[[], None]]]:
    """The producer and a pool of workers sharing one ``invoice-processor`` agent, as
    (thread name, body) pairs for the fleet to run in threads.

    Invoices trickle in, then a month-end batch of 40 lands at once (and every 10
    simulated minutes after): with three workers at ~11 s an invoice the backlog
    takes four to five simulated minutes to drain, so depth and age climb, then fall.
    """
    clock = world.clock
    queue = InvoiceQueue()
    agent = world.hb.agent(
        "invoice-processor",
        type="finance",
        version="3.1.0",
        heartbeat_interval=clock.interval(10),
        stuck_threshold=clock.threshold(120),
        queue_provider=queue.snapshot,
    )
    rng = world.rng("invoice-processor")
    bodies: list[tuple[str, Callable[[], None]]] = [
        ("invoice-feed", functools.partial(_produce, world, queue, rng))
    ]
    for w in range(workers):
        worker_rng = random.Random(rng.random())
        work = functools.partial(_work, world, agent, queue, worker_rng)
        bodies.append((f"invoice-worker-{w}", work))
    return bodies


def _produce(world: World, queue: InvoiceQueue, rng: random.Random) -> None:
    clock = world.clock
    n = 0
    next_batch = 15.0
    while True:
        if clock.sim_elapsed() >= next_batch:
            world.say("invoice-processor: month-end batch of 40 invoices arrived")
            for _ in range(40):
                n += 1
                queue.put(content.invoice(rng, n))
            next_batch += 600.0
        n += 1
        queue.put(content.invoice(rng, n))
        clock.sleep(jittered(rng, 9))


def _work(world: World, agent: Agent, queue: InvoiceQueue, rng: random.Random) -> None:
    clock = world.clock
    name = threading.current_thread().name
    while True:
        item = queue.get()
        if item is None:
            clock.sleep(1)
            continue
        queue.processing[name] = {"id": item["id"], "vendor": item["vendor"]}
        try:
            _process(world, agent, rng, item)
        except ValidationFailed:
            pass  # the failed run is on the dashboard with its exception
        finally:
            queue.processing.pop(name, None)


def _process(world: World, agent: Agent, rng: random.Random, item: dict[str, object]) -> None:
    clock = world.clock
    with agent.task(str(item["id"]), project="finance-ops", type="invoice_processing") as task:
        with agent.track_context("extract_fields"):
            clock.sleep(jittered(rng, 8))
            tin, tout = rng.randint(2200, 4000), rng.randint(150, 300)
            task.llm_call(
                "extract_invoice_fields",
                "gpt-4o-mini",
                tokens_in=tin,
                tokens_out=tout,
                cost=price("gpt-4o-mini", tin, tout),
                duration_ms=int(jittered(rng, 1800)),
                prompt_preview=content.preview(f"Extract vendor, lines and VAT from {item['id']}"),
                response_preview=f'{{"vendor": "{item["vendor"]}", "total": {item["amount"]}}}',
            )
        with agent.track_context("validate_totals"):
            clock.sleep(jittered(rng, 1.5))
            if rng.random() < 0.12:
                raise ValidationFailed(f"{item['id']}: line items do not add up to the total")
        _post_to_ledger(world, agent, task, rng, item)


def _post_to_ledger(
    world: World, agent: Agent, task: Task, rng: random.Random, item: dict[str, object]
) -> None:
    """Post with exponential backoff on 503s; the ledger is flaky but recovers."""
    for attempt in range(1, 5):
        try:
            with agent.track_context("post_to_ledger"):
                world.clock.sleep(jittered(rng, 1.5))
                if attempt < 4 and rng.random() < 0.25:
                    raise LedgerUnavailable("ledger API answered 503 Service Unavailable")
            return
        except LedgerUnavailable:
            backoff = 1.5 * 2 ** (attempt - 1)
            task.retry(
                f"Ledger unavailable, retrying {item['id']} in {backoff:.1f} s",
                attempt=attempt + 1,
                backoff_seconds=backoff,
            )
            world.clock.sleep(backoff)
