"""Pipeline & humans lists open issues by severity: the worst is never crowded out."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from hbweb import Server, login

# Another process (the SDK keeps one client per process, and switching it to another
# tenant's key would shut down the main tenant's agents).
SEED = """
import os, sys, hiveloop
hb = hiveloop.init(api_key=sys.argv[2], endpoint=sys.argv[1], flush_interval=0.1)
agent = hb.agent("noisy-agent", type="noisy", heartbeat_interval=0)
agent.report_issue("Database is gone", severity="critical", issue_id="db-gone")
assert hb.flush(timeout=10)
for i in range(105):
    agent.report_issue(f"slow reply {i}", severity="low", issue_id=f"slow-{i}")
assert hb.flush(timeout=20)
os._exit(0)
"""


def test_critical_issue_shown_first_behind_many_newer_low_ones(
    new_page: Any, server: Server
) -> None:
    """The page shows at most 100 issues; a critical one older than 100 open low ones
    must still be on it, at the top."""
    tenant = server.storage.create_tenant("Noisy Co")
    server.storage.create_user(tenant.id, "noisy@localhost", "noisy-password-1", "owner")
    _, key = server.storage.create_api_key(tenant.id, "live")
    seed = subprocess.run(
        [sys.executable, "-c", SEED, server.url, key], capture_output=True, text=True, timeout=60
    )
    assert seed.returncode == 0, seed.stderr
    page = new_page()
    login(page, "noisy@localhost", "noisy-password-1", "/pipeline")
    rows = page.locator("#issues tbody tr.issue")
    assert rows.count() == 100
    assert rows.first.locator(".issue-summary").inner_text() == "Database is gone"
    assert rows.first.locator("td").first.inner_text() == "critical"
    assert "most severe first" in page.locator("#issues").inner_text()
