"""One-shot messages ("flashes") that survive exactly one redirect, kept server-side.

Every Settings form answers with a 303 to ``GET /settings`` (post/redirect/get), so a
browser refresh or Back never re-submits it, and a created key is never created twice.
What the next page must say (a confirmation, an error, the secret of a new key shown
once) waits here, keyed by the session's nonce, until that page takes it.

Why in server memory rather than in the session cookie or the URL: the cookie is signed,
not encrypted, so a key's secret in it could be read from the browser's cookie store and
would ride along on every request until used; a URL lands in history and logs.  The cost
is that a flash does not survive a server restart between the POST and its redirect (a
few milliseconds), nor a redirect answered by another server process; the key itself is
created either way and can be revoked from the list.  Entries expire after
``TTL_SECONDS`` and the store is bounded, so abandoned flashes cannot grow it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

TTL_SECONDS = 300.0
MAX_ENTRIES = 1000


@dataclass(slots=True)
class Flash:
    """What the next Settings page shows once: a message, an error, a new key."""

    message: str = ""
    error: str = ""
    new_key: dict[str, Any] | None = None
    created: float = field(default_factory=time.monotonic)


class FlashStore:
    """Flashes by session nonce: ``put`` after a POST, ``pop`` on the following GET."""

    def __init__(self, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._items: OrderedDict[str, Flash] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, nonce: str, flash: Flash) -> None:
        """Keep ``flash`` for the session ``nonce`` (replacing an unread one)."""
        with self._lock:
            self._items.pop(nonce, None)
            self._items[nonce] = flash
            self._expire()
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def pop(self, nonce: str) -> Flash | None:
        """The session's unexpired flash, removed so a refresh shows it no more."""
        with self._lock:
            self._expire()
            return self._items.pop(nonce, None)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.created >= cutoff:
                break
            self._items.popitem(last=False)


def flash_store(request: Request) -> FlashStore:
    """The app's store, created on first use (request handlers may run in threads)."""
    state = request.app.state
    store: FlashStore | None = getattr(state, "web_flash", None)
    if store is None:
        with _CREATE_LOCK:
            store = getattr(state, "web_flash", None)
            if store is None:
                store = FlashStore()
                state.web_flash = store
    return store


_CREATE_LOCK = threading.Lock()
