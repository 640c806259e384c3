"""A new tenant: the empty Fleet tells what to do; then it shows 200 agents.

How fast the 200-agent Fleet becomes interactive is printed here and measured in
bench/ (timings are figures to read, not assertions that fail on a busy machine).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from hbweb import Server, login, shoot

SEED_200 = """
import os, sys, hiveloop
hb = hiveloop.init(api_key=sys.argv[2], endpoint=sys.argv[1], flush_interval=0.1)
for i in range(200):
    agent = hb.agent(f"worker-{i:03d}", type="batch", heartbeat_interval=0)
    if i % 10 == 0:
        agent.start_task(f"job-{i}")
    if i % 25 == 0:
        agent.report_issue("disk almost full", severity="high", issue_id="disk")
assert hb.flush(timeout=20)
os._exit(0)
"""


def test_empty_state_then_200_agents(new_page: Any, server: Server) -> None:
    tenant = server.storage.create_tenant("Big Co")
    server.storage.create_user(tenant.id, "big@localhost", "big-password-1", "owner")
    _, key = server.storage.create_api_key(tenant.id, "live")
    page = new_page()
    login(page, "big@localhost", "big-password-1")
    empty = page.locator("#empty-fleet")
    assert f'endpoint="{server.url}"' in empty.locator(".code code").inner_text()
    assert "hiveloop.init" in empty.inner_text() and "Settings" in empty.inner_text()
    shoot(page, "fleet-empty")

    # Another process (the SDK keeps one client per process), which exits without the
    # clean-shutdown notice so its agents keep their live statuses.
    seed = subprocess.run(
        [sys.executable, "-c", SEED_200, server.url, key],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seed.returncode == 0, seed.stderr

    timings = []
    for _ in range(3):
        started = time.monotonic()
        page.goto("/", wait_until="domcontentloaded")
        page.wait_for_selector("#cards .agent-card >> nth=199")
        timings.append(time.monotonic() - started)
    interactive = page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive")
    assert page.locator("#cards .agent-card").count() == 200
    ready = min(timings)
    print(
        f"200-agent Fleet: ready in {ready:.2f} s (best of 3), DOM interactive {interactive:.0f} ms"
    )
    assert page.locator("#cards .agent-card").first.get_attribute("data-rank") == "1"  # error
    page.wait_for_selector("#live-state[data-state=on]")
