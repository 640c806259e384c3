"""Sign-in under attack: password guessing and floods of sign-ins, on a real server.

Without these limits anyone could guess a user's password at full speed, and a burst of
sign-ins (no credentials needed) made as many 64 MiB argon2 checks at once as the thread
pool had threads: 16 at once took the server from 140 MB to over 1 GB.
"""

from __future__ import annotations

import re
import sys
import threading
import uuid
from pathlib import Path

import requests
from hbweb import REPO, Server

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tests_e2e.hbserver import HiveBoardProcess

MIB = 1024 * 1024


def _attempt(session: requests.Session, url: str, email: str, password: str) -> int:
    """One sign-in through the real form (fresh form token each time, as a browser)."""
    page = session.get(f"{url}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"email": email, "password": password, "csrf_token": token.group(1)}
    return session.post(f"{url}/login", data=form, allow_redirects=False, timeout=60).status_code


def test_password_guessing_is_throttled_per_client_and_email(server: Server) -> None:
    tenant_id = server.storage.list_tenants()[0].id
    email = f"guessed-{uuid.uuid4().hex[:8]}@localhost"
    server.storage.create_user(tenant_id, email, "the-right-password", role="viewer")
    session = requests.Session()
    codes = [_attempt(session, server.url, email, f"guess-{i}") for i in range(10)]
    assert codes == [401] * 10
    # The eleventh try is refused unchecked, even with the right password.
    page = session.get(f"{server.url}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"email": email, "password": "the-right-password", "csrf_token": token.group(1)}
    refused = session.post(f"{server.url}/login", data=form, allow_redirects=False, timeout=30)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.text
    assert "hb_session" not in refused.cookies
    # Another account from the same client is not locked out by it.
    assert _attempt(requests.Session(), server.url, *server.admin) == 303


def test_a_flood_of_sign_ins_does_not_take_the_servers_memory(tmp_path: Path) -> None:
    proc = HiveBoardProcess.start(tmp_path / "data")
    try:
        before = proc.rss_bytes()
        barrier = threading.Barrier(16)
        codes: list[int] = []

        def flood(i: int) -> None:
            session = requests.Session()
            session.get(f"{proc.url}/login", timeout=30)
            barrier.wait()
            codes.append(_attempt(session, proc.url, f"nobody-{i}@localhost", "guess"))

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = proc.rss_bytes("VmHWM")
    finally:
        proc.stop()
    assert codes == [401] * 16
    # Two checks at a time hold 128 MiB; sixteen at once held over 900 MiB.
    assert peak - before < 400 * MIB, f"peak {peak // MIB} MiB from {before // MIB} MiB"
