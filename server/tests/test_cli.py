"""The ``hiveboard`` command as a user runs it: a real subprocess on loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hbtest import body, ev

HIVEBOARD = [sys.executable, "-m", "hiveboard"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVEBOARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HIVEBOARD, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Start `hiveboard serve`; yield (base url, ingest key, admin password) from its output."""
    port = _free_port()
    proc = subprocess.Popen(
        [*HIVEBOARD, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("HiveBoard http"):
                break
        output = "".join(lines)
        key = re.search(r"ingest key:\s+(hb_live_\S+)", output)
        password = re.search(r"password:\s+(\S+)", output)
        assert key and password, output
        assert "hiveloop.init(" in output and f"http://127.0.0.1:{port}" in output
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, key.group(1), password.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_serve_bootstraps_and_accepts_ingest_with_the_printed_key(
    served: tuple[str, str, str],
) -> None:
    base, key, _ = served
    r = httpx.post(
        f"{base}/v1/ingest",
        json=body(ev("heartbeat")),
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert httpx.get(f"{base}/openapi.json", timeout=5).status_code == 200


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("tenants", "create", "Acme", "--id", "acme", data_dir=data).returncode == 0
    created = run("keys", "create", "--kind", "read", "--tenant", "acme", data_dir=data)
    key_id = created.stdout.split()[2]
    assert "hb_read_" in created.stdout
    listed = run("keys", "list", "--tenant", "acme", data_dir=data)
    assert key_id in listed.stdout and "active" in listed.stdout
    assert "hb_read_" in listed.stdout and created.stdout.splitlines()[-1] not in listed.stdout
    assert run("keys", "revoke", key_id, "--tenant", "acme", data_dir=data).returncode == 0
    assert "revoked" in run("keys", "list", "--tenant", "acme", data_dir=data).stdout
    assert run("keys", "revoke", key_id, "--tenant", "acme", data_dir=data).returncode == 1


def test_users_create_prints_generated_password_once(tmp_path: Path) -> None:
    data = tmp_path / "d"
    run("tenants", "create", "Default", "--id", "default", data_dir=data)
    out = run("users", "create", "bob@example.com", "--role", "viewer", data_dir=data)
    assert out.returncode == 0 and "password (shown once):" in out.stdout


def test_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    env = {**_env(), "HIVEBOARD_PORT": "eighty"}
    out = subprocess.run(
        [*HIVEBOARD, "migrate", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2 and "HIVEBOARD_PORT" in out.stderr
