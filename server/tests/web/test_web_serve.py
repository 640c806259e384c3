"""``hiveboard serve`` itself serves the dashboard, and its first-run login works."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from hbweb import free_port


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    cli = Path(sys.executable).parent / "hiveboard"
    command = [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_first_run_credentials_open_the_dashboard(new_page: Any, tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path, port)
    try:
        assert proc.stdout is not None
        printed: dict[str, str] = {}
        for line in proc.stdout:
            for name in ("dashboard user", "password"):
                match = re.match(rf"\s+{name}:\s+(\S+)", line)
                if match:
                    printed[name] = match.group(1)
            if line.startswith("HiveBoard http"):
                break
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        page = new_page()
        page.goto(f"{url}/")
        assert page.url.startswith(f"{url}/login")
        page.fill("input[name=email]", printed["dashboard user"])
        page.fill("input[name=password]", printed["password"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        assert page.locator("#empty-fleet").is_visible()
        assert f'endpoint="{url}"' in page.locator("#empty-fleet .code").inner_text()
        page.close()  # its live stream would otherwise hold the server's shutdown
    finally:
        proc.terminate()
        proc.wait(timeout=15)
