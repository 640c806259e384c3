"""The ``hiveboard`` command as a user runs it: a real subprocess on loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hbtest import body, ev
from hiveboard.config import SettingsError, load_settings

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


@dataclass
class Served:
    """A running ``hiveboard serve``: its address and what its first start printed."""

    proc: subprocess.Popen[str]
    base: str
    key: str
    password: str
    lines: list[str]

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[Served]:
    """Run ``hiveboard serve`` with ``args``; after the block, ``lines`` holds all output."""
    port = _free_port()
    proc = subprocess.Popen(
        [*HIVEBOARD, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"), *args],
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
        yield Served(proc, base, key.group(1), password.group(1), lines)
    finally:
        proc.terminate()
        try:
            rest, _ = proc.communicate(timeout=15)
            lines.append(rest)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Start `hiveboard serve`; yield (base url, ingest key, admin password) from its output."""
    with serving(tmp_path) as running:
        yield running.base, running.key, running.password


def _workers(pid: int) -> list[int]:
    """The worker processes of a server (its spawned children, not the resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_serve_with_two_workers_ingests_and_answers_queries(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Migrations, bootstrap and its printout happen once, in the parent; both workers
    serve the API on one port and one database; stopping the parent stops them."""
    args = ["--workers", "2"]
    if backend == "postgres":
        pg = request.getfixturevalue("pg_server")
        args += ["--database-url", pg.create_database("cli_two_workers")]
    with serving(tmp_path, *args) as served:
        workers = _workers(served.proc.pid)
        assert len(workers) == 2, workers
        auth = {"Authorization": f"Bearer {served.key}"}
        agents = {f"agent-{i}" for i in range(8)}
        for i, agent in enumerate(sorted(agents)):
            # A new connection each time: the kernel hands them to either worker.
            with httpx.Client(base_url=served.base, headers=auth, timeout=10) as client:
                r = client.post("/v1/ingest", json=body(ev("heartbeat", i), agent_id=agent))
                assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        for _ in range(4):
            with httpx.Client(base_url=served.base, headers=auth, timeout=10) as client:
                listed = client.get("/v1/agents")
                assert listed.status_code == 200, listed.text
                assert {a["agent_id"] for a in listed.json()["items"]} == agents
    assert served.proc.returncode is not None
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the parent"
    assert served.output.count("ingest key:") == 1, served.output
    assert "2 worker processes" in served.output


def test_workers_setting_from_the_environment() -> None:
    assert load_settings().workers == 1
    os.environ["HIVEBOARD_WORKERS"] = "3"
    try:
        assert load_settings().workers == 3
    finally:
        del os.environ["HIVEBOARD_WORKERS"]
    with pytest.raises(SettingsError, match="HIVEBOARD_WORKERS"):
        load_settings(workers=0)


def test_worker_environment_rebuilds_the_same_settings(tmp_path: Path) -> None:
    """What ``serve --workers`` exports is enough for a worker to see the flags it got."""
    settings = load_settings(
        data_dir=tmp_path / "d", port=9123, workers=2, database_url="postgresql://u:pw@db/hb"
    )
    env = settings.worker_environment()
    assert "HIVEBOARD_SECRET_KEY" not in env
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        rebuilt = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert rebuilt.model_dump() == settings.model_dump()
    assert rebuilt.effective_database_url == settings.effective_database_url


def _migrate_with(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``hiveboard migrate`` configured by the environment alone, run in ``tmp_path``."""
    return subprocess.run(
        [*HIVEBOARD, "migrate"],
        capture_output=True,
        text=True,
        env={**_env(), **variables},
        cwd=tmp_path,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HIVEBOARD_SECRET_KEY", ""),  # would sign session cookies with a blank key
        ("HIVEBOARD_SECRET_KEY", "hunter2"),  # guessable offline from one cookie
        ("HIVEBOARD_HOST", ""),  # would bind every interface
        ("HIVEBOARD_DATA_DIR", " "),  # would silently mean the current directory
    ],
)
def test_blank_or_weak_settings_are_refused_at_start(
    tmp_path: Path, variable: str, value: str
) -> None:
    out = _migrate_with(tmp_path, **{variable: value})
    assert out.returncode == 2, out.stdout + out.stderr
    assert variable in out.stderr and "accepted:" in out.stderr
    assert not value.strip() or value not in out.stderr, "the rejected secret was printed"


def test_an_emptied_secret_key_file_is_replaced_not_used(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("\n")
    settings = load_settings(data_dir=tmp_path)
    key = settings.ensure_secret_key()
    assert len(key) >= 32 and (tmp_path / "secret.key").read_text() == key
    assert load_settings(data_dir=tmp_path).ensure_secret_key() == key


def _serve_banner(tmp_path: Path, *args: str, **variables: str) -> str:
    """What ``hiveboard serve`` prints up to its "HiveBoard http…" line; then stop it."""
    proc = subprocess.Popen(
        [*HIVEBOARD, "serve", "--port", str(_free_port()), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**_env(), **variables},
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("HiveBoard http"):
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    return "".join(lines)


def test_serve_honours_bootstrap_false(tmp_path: Path) -> None:
    data = tmp_path / "d"
    output = _serve_banner(tmp_path, "--data-dir", str(data), HIVEBOARD_BOOTSTRAP="false")
    assert "HiveBoard http" in output, output
    assert "ingest key" not in output and "password" not in output, output
    # Nothing was created: the tenant the bootstrap would have made is still free.
    assert run("tenants", "create", "Mine", "--id", "default", data_dir=data).returncode == 0


def _one_line_error(out: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """A user error: the exit code, one line naming the problem, no traceback or SQL."""
    assert out.returncode == code, out.stdout + out.stderr
    assert text in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and "INSERT" not in out.stderr


def test_unknown_tenant_and_duplicates_are_named_not_dumped(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("tenants", "create", "Acme", "--id", "acme", data_dir=data).returncode == 0
    _one_line_error(
        run("tenants", "create", "Again", "--id", "acme", data_dir=data), 1, "already exists"
    )
    for args in (("keys", "create"), ("keys", "list"), ("users", "create", "a@x.io")):
        _one_line_error(run(*args, "--tenant", "nope", data_dir=data), 1, "no tenant 'nope'")
    created = run("users", "create", "a@x.io", "--tenant", "acme", data_dir=data)
    assert created.returncode == 0, created.stderr
    _one_line_error(
        run("users", "create", "A@x.io", "--tenant", "acme", data_dir=data), 1, "already exists"
    )


def test_users_create_refuses_what_the_dashboard_refuses(tmp_path: Path) -> None:
    """An empty --password created the user with a random password that was never shown."""
    data = tmp_path / "d"
    run("tenants", "create", "Default", "--id", "default", data_dir=data)
    _one_line_error(run("users", "create", "b@x.io", "--password", "", data_dir=data), 2, "8")
    _one_line_error(run("users", "create", "b-at-x.io", data_dir=data), 2, "EMAIL")
    again = run("users", "create", "b@x.io", "--password", "long enough", data_dir=data)
    assert again.returncode == 0, again.stderr


def test_unreachable_database_is_one_line_with_the_password_masked(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://hb:hunter2@127.0.0.1:{_free_port()}/hb"
    out = run("migrate", "--database-url", url, data_dir=tmp_path)
    _one_line_error(out, 1, "cannot open database postgresql+psycopg://hb:***@127.0.0.1")
    assert "hunter2" not in out.stdout + out.stderr


def test_printed_sdk_lines_work_when_pasted_on_ipv6(tmp_path: Path) -> None:
    """The three SDK lines of the first start, run as a script, register an agent."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    port = _free_port()
    proc = subprocess.Popen(
        [*HIVEBOARD, "serve", "--host", "::1", "--port", str(port), "--data-dir", "d"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "Application startup complete" in line:
                break
        output = "".join(lines)
        assert f"HiveBoard http://[::1]:{port}/" in output, output
        sdk = [ln.strip() for ln in lines if ln.startswith("    ") and ln.strip()]
        assert len(sdk) == 3 and sdk[0] == "import hiveloop", output
        ran = subprocess.run(
            [sys.executable, "-c", "\n".join(sdk)], capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr
        key = re.search(r'api_key="(hb_live_[^"]+)"', output)
        assert key, output
        listed = httpx.get(
            f"http://[::1]:{port}/v1/agents",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        )
        assert [a["agent_id"] for a in listed.json()["items"]] == ["my-agent"], listed.text
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("0.0.0.0", 8080, "http://127.0.0.1:8080"),
        ("::", 8080, "http://[::1]:8080"),
        ("fe80::1", 80, "http://[fe80::1]:80"),
        ("hive.internal", 8080, "http://hive.internal:8080"),
    ],
)
def test_wildcard_binds_print_an_address_that_can_be_opened(
    host: str, port: int, url: str, tmp_path: Path
) -> None:
    """The URL ``serve`` and the app's own start-up print (with the SDK lines)."""
    settings = load_settings(host=host, port=port, data_dir=tmp_path)
    assert settings.public_url == url


def test_a_bad_flag_is_named_as_the_flag(tmp_path: Path) -> None:
    """``--port 0`` must not send the user looking for an unset HIVEBOARD_PORT."""
    out = run("serve", "--port", "0", data_dir=tmp_path)
    assert out.returncode == 2 and "--port (HIVEBOARD_PORT):" in out.stderr, out.stderr
    assert "an integer 1..65535" in out.stderr


def test_postgres_scheme_is_accepted_as_documented() -> None:
    """docs/server.md: ``postgres://`` (Heroku-style) is accepted and uses psycopg 3."""
    url = load_settings(database_url="postgres://hb:pw@db.internal/hb").effective_database_url
    assert url == "postgresql+psycopg://hb:pw@db.internal/hb"


@pytest.mark.parametrize(
    "scheme", ["postgresql+asyncpg", "postgresql+psycopg2", "sqlite+aiosqlite"]
)
def test_an_unsupported_driver_is_refused_at_start(tmp_path: Path, scheme: str) -> None:
    """Not an import-error traceback once the database is opened."""
    out = run("migrate", "--database-url", f"{scheme}://hb:pw@db/hb", data_dir=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "HIVEBOARD_DATABASE_URL" in out.stderr and "is not supported" in out.stderr
    assert "Traceback" not in out.stderr
