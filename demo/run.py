"""``make demo``: HiveBoard on SQLite in ``.demo-data`` plus the simulated fleet, one command.

Steps: start ``hiveboard serve`` on 127.0.0.1, wait until it answers, obtain an ingest
key and the login (printed by the server on its first start, then kept in
``.demo-data/demo-credentials`` with 0600 permissions so later runs can print them
again), start the fleet, print the URL, the login, the key and the SDK lines, and on
Ctrl-C stop the fleet first (so it flushes) and the server second.

Environment: ``DEMO_PORT`` (8080), ``DEMO_SPEED`` (1), ``DEMO_DURATION`` (seconds; run
that long, then stop both and exit 0), ``DEMO_DATA_DIR`` (``.demo-data``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = "demo-credentials"
HOST = "127.0.0.1"


class DemoError(Exception):
    """Something the user can fix (a busy port, a server that will not start)."""


class Interrupted(Exception):
    """Ctrl-C before the demo was up: stop without starting the fleet or printing a banner."""


def _config() -> dict[str, str]:
    return {
        "port": os.environ.get("DEMO_PORT", "8080"),
        "speed": os.environ.get("DEMO_SPEED", "1"),
        "duration": os.environ.get("DEMO_DURATION", ""),
        "data_dir": os.environ.get("DEMO_DATA_DIR", str(ROOT / ".demo-data")),
    }


def _bin(name: str) -> str:
    """A console script from the interpreter's own environment (the venv ``make`` built)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _child_env() -> dict[str, str]:
    # Settings for the demo come from flags; stray HIVEBOARD_* variables must not redirect it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVEBOARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# -- credentials ------------------------------------------------------------------------


def read_credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def write_credentials(path: Path, values: dict[str, str]) -> None:
    """Write secrets readable by the owner only (0600 from the first byte, not chmod after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# make demo: the login and ingest key of this demo server (keep private)\n")
        for key, value in values.items():
            out.write(f"{key}={value}\n")
    path.chmod(0o600)


def _hiveboard(*args: str, data_dir: str) -> str:
    done = subprocess.run(
        [_bin("hiveboard"), *args, "--data-dir", data_dir],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=60,
    )
    if done.returncode != 0:
        raise DemoError(f"hiveboard {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _key_works(base: str, key: str) -> bool:
    try:
        answer = httpx.get(f"{base}/v1/agents", headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def obtain_credentials(printed: str, data_dir: str, base: str) -> dict[str, str]:
    """The login and a working ingest key, from the first start or from the stored file.

    The server prints its secrets once; when they are gone (a data directory made
    before the demo stored them, or a revoked key) a fresh key is created with
    ``hiveboard keys create`` and, if need be, a demo user with ``users create``.
    """
    path = Path(data_dir) / CREDENTIALS
    creds = read_credentials(path)
    key = re.search(r"ingest key:\s+(hb_live_\S+)", printed)
    password = re.search(r"password:\s+(\S+)", printed)
    user = re.search(r"dashboard user:\s+(\S+)", printed)
    if key and password:
        creds = {
            "login": user.group(1) if user else "admin@localhost",
            "password": password.group(1),
            "api_key": key.group(1),
        }
    changed = bool(key)
    if not creds.get("api_key") or not _key_works(base, creds["api_key"]):
        out = _hiveboard("keys", "create", "--name", "make demo", data_dir=data_dir)
        creds["api_key"] = out.strip().splitlines()[-1].strip()
        changed = True
    if not creds.get("password"):
        login = f"demo-{int(time.time())}@localhost"
        out = _hiveboard("users", "create", login, "--role", "owner", data_dir=data_dir)
        found = re.search(r"password \(shown once\):\s+(\S+)", out)
        creds["login"], creds["password"] = login, found.group(1) if found else "?"
        changed = True
    if changed:
        write_credentials(path, creds)
    return creds


# -- processes --------------------------------------------------------------------------


class Server:
    """``hiveboard serve`` in its own session, its output kept in ``server.log``."""

    def __init__(self, port: int, data_dir: str) -> None:
        self.base = f"http://{HOST}:{port}"
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(data_dir) / "server.log"
        self.lines: list[str] = []
        self.ready_line = threading.Event()
        command = [_bin("hiveboard"), "serve", "--host", HOST, "--port", str(port)]
        self.proc = subprocess.Popen(
            [*command, "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_child_env(),
            start_new_session=True,  # Ctrl-C reaches us only; we stop it after the fleet
        )
        threading.Thread(target=self._pump, name="server-log", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        # The first start's output holds the one-time secrets: owner-only, like the file.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                if not self.ready_line.is_set():
                    # Only the start-up text is kept in memory: it holds the one-time secrets.
                    self.lines.append(line)
                    if line.startswith("HiveBoard http"):
                        self.ready_line.set()
        self.ready_line.set()

    def wait_ready(self, stopping: threading.Event, timeout: float = 60.0) -> str:
        """Block until /healthz answers (or Ctrl-C); returns the start-up output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stopping.is_set():
                raise Interrupted
            if self.proc.poll() is not None:
                self.ready_line.wait(2)
                raise DemoError("hiveboard serve exited:\n" + "".join(self.lines[-20:]))
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    self.ready_line.wait(5)
                    return "".join(self.lines)
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise DemoError(f"hiveboard did not answer within {timeout:.0f} s; see {self.log_path}")


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def banner(base: str, creds: dict[str, str]) -> str:
    return "\n".join(
        [
            "",
            "HiveBoard demo is running.",
            f"  dashboard:  {base}/",
            f"  login:      {creds['login']} / {creds['password']}",
            f"  API key:    {creds['api_key']}",
            f"  API docs:   {base}/docs",
            "",
            "Point your own agent at it:",
            "",
            "    import hiveloop",
            f'    hb = hiveloop.init(api_key="{creds["api_key"]}", endpoint="{base}")',
            '    agent = hb.agent("my-agent")',
            "",
            "Ctrl-C stops the fleet and the server; `make demo` again reuses the data, "
            "`make demo-reset` starts afresh.",
            "",
        ]
    )


def main() -> int:
    config = _config()
    port = int(config["port"])
    if not _port_is_free(port):
        print(f"port {port} on {HOST} is busy; run `DEMO_PORT=8090 make demo`", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    server: Server | None = None
    fleet: subprocess.Popen[bytes] | None = None
    try:
        print(f"starting HiveBoard on {HOST}:{port} (data in {config['data_dir']})", flush=True)
        server = Server(port, config["data_dir"])
        printed = server.wait_ready(stopping)
        creds = obtain_credentials(printed, config["data_dir"], server.base)
        if stopping.is_set():
            raise Interrupted
        env = _child_env()
        env["HIVELOOP_API_KEY"] = creds["api_key"]
        command = [sys.executable, "-m", "demo.fleet", "--endpoint", server.base]
        command += ["--speed", config["speed"]]
        if config["duration"]:
            command += ["--duration", config["duration"]]
        fleet = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        print(banner(server.base, creds), flush=True)
        while not stopping.is_set() and fleet.poll() is None:
            stopping.wait(0.2)
        # Stopped by Ctrl-C, or the fleet ended its DEMO_DURATION: success either way.
        return 0 if stopping.is_set() else (fleet.returncode or 0)
    except DemoError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1
    except Interrupted:
        return 0
    finally:
        print("stopping the fleet and HiveBoard…", flush=True)
        stop(fleet, 20)
        stop(server.proc if server else None, 15)
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
