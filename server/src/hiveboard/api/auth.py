"""Authentication dependencies: who is calling, for which tenant, allowed to do what.

The tenant always comes from the credential, never from the request, so every query a
route runs with ``principal.tenant_id`` is scoped to the caller's tenant.

* ``require_ingest_key``: a ``hb_live_``/``hb_test_`` key (401 missing/unknown/revoked,
  403 for a read-only key).
* ``require_read_access``: any valid key, or a dashboard session when the web layer has
  installed a resolver at ``app.state.session_principal`` (a callable
  ``(request) -> Principal | None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from hiveboard.api.errors import ApiError
from hiveboard.storage.base import ApiKey, Storage

WWW_AUTH = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    tenant_id: str
    key_id: str | None  # None for a dashboard session
    kind: str  # "live" / "test" / "read" for keys, "session" for dashboard users
    role: str | None = None  # dashboard role (owner/admin/member/viewer); None for keys
    user_id: str | None = None

    @property
    def can_write(self) -> bool:
        """May change data (ingest, settings): ingest keys and non-viewer users."""
        if self.kind == "session":
            return self.role in ("owner", "admin", "member")
        return self.kind in ("live", "test")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _authenticate(request: Request, token: str) -> ApiKey:
    storage: Storage = request.app.state.storage
    key = storage.authenticate_api_key(token) if token.startswith("hb_") else None
    if key is None:
        raise ApiError(401, "invalid_api_key", "unknown API key", headers=WWW_AUTH)
    if key.revoked_at is not None:
        raise ApiError(
            401,
            "revoked_api_key",
            f"API key {key.prefix}… was revoked; create a new one with `hiveboard keys create`",
            headers=WWW_AUTH,
        )
    return key


def require_ingest_key(request: Request) -> Principal:
    """FastAPI dependency for write endpoints that accept only ingest keys."""
    token = _bearer(request)
    if token is None:
        raise ApiError(
            401, "missing_api_key", "send 'Authorization: Bearer hb_live_…'", headers=WWW_AUTH
        )
    key = _authenticate(request, token)
    if not key.can_ingest:
        raise ApiError(
            403, "read_only_key", "this is a read-only key (hb_read_…); use a hb_live_/hb_test_ key"
        )
    return Principal(tenant_id=key.tenant_id, key_id=key.id, kind=key.kind)


def require_read_access(request: Request) -> Principal:
    """FastAPI dependency for read endpoints: any valid key or a dashboard session."""
    token = _bearer(request)
    if token is not None:
        key = _authenticate(request, token)
        return Principal(tenant_id=key.tenant_id, key_id=key.id, kind=key.kind)
    resolver: Callable[[Request], Principal | None] | None = getattr(
        request.app.state, "session_principal", None
    )
    if resolver is not None:
        principal = resolver(request)
        if principal is not None:
            return principal
    raise ApiError(
        401,
        "missing_api_key",
        "send 'Authorization: Bearer <key>' (a read or ingest key) or sign in",
        headers=WWW_AUTH,
    )
