"""Dashboard sessions: a signed cookie, a per-session CSRF token, role checks.

Why a signed cookie rather than a sessions table: the server stays stateless across
restarts and processes (the secret key is persisted in the data dir), so an operator's
open dashboard keeps working when the server restarts.  The cookie carries only the
user id, a random nonce and the issue time; the user row is read on every request, so
disabling a user or changing their role takes effect at once.

The CSRF token is an HMAC of the session nonce: every form POST must echo it (field
``csrf_token`` or header ``X-CSRF-Token``), which a cross-site page cannot read.

Known limitation, on purpose for now: logout is not revoked server-side.  ``/logout``
deletes the cookie in that browser, but a copy of the cookie taken before (another
device, a stolen cookie) stays valid until ``SESSION_MAX_AGE``.  Revocation needs state
checked on every request, e.g. a per-user ``session_epoch`` carried in the cookie and
compared with the user row already read here; the ``users`` table has no such column,
adding one is a schema migration, and the web layer has no table of its own to keep a
revoked-nonce list in.  Until then: disabling a user ends all their sessions at once (the
row is read per request), and rotating the secret key ends everyone's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from hiveboard.api.auth import Principal
from hiveboard.web import users as user_store

COOKIE_NAME = "hb_session"
SESSION_MAX_AGE = 14 * 24 * 3600
"""Two weeks: long enough for a dashboard left open on a second screen."""
WRITE_ROLES = ("owner", "admin", "member")
ADMIN_ROLES = ("owner", "admin")


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The signed-in dashboard user of one request."""

    id: str
    tenant_id: str
    email: str
    role: str
    nonce: str
    csrf_token: str

    @property
    def can_write(self) -> bool:
        """Viewers only look; every other role may act (ack, create, revoke...)."""
        return self.role in WRITE_ROLES

    @property
    def is_admin(self) -> bool:
        """Owners and admins manage keys, users and prices."""
        return self.role in ADMIN_ROLES

    def principal(self) -> Principal:
        """The same principal the JSON API uses, so reads are scoped identically."""
        return Principal(
            tenant_id=self.tenant_id, key_id=None, kind="session", role=self.role, user_id=self.id
        )


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Forbidden(Exception):
    """A signed-in user lacks the role for this action (or sent a bad CSRF token)."""


class SessionCodec:
    """Signs and reads session cookies with the server's secret key."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="hiveboard.session")
        self._csrf_key = hashlib.sha256(b"hiveboard.csrf:" + secret.encode()).digest()

    def issue(self, user_id: str) -> str:
        """A new cookie value for ``user_id`` with a fresh nonce (new CSRF token)."""
        return self._serializer.dumps({"u": user_id, "n": secrets.token_urlsafe(16)})

    def read(self, value: str) -> dict[str, Any] | None:
        """The payload of a valid, unexpired cookie, else None."""
        try:
            data = self._serializer.loads(value, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) and "u" in data and "n" in data else None

    def csrf_for(self, nonce: str) -> str:
        """The CSRF token bound to one session nonce."""
        return hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest()


def codec_of(request: Request) -> SessionCodec:
    """The app's codec, created on first use from the settings' (persisted) secret."""
    codec: SessionCodec | None = getattr(request.app.state, "session_codec", None)
    if codec is None:
        codec = SessionCodec(request.app.state.settings.ensure_secret_key())
        request.app.state.session_codec = codec
    return codec


def current_user(request: Request) -> SessionUser | None:
    """The session's user, read once per request (cached on ``request.state``)."""
    if hasattr(request.state, "hb_user"):
        return request.state.hb_user  # type: ignore[no-any-return]
    user: SessionUser | None = None
    raw = request.cookies.get(COOKIE_NAME)
    codec = codec_of(request)
    data = codec.read(raw) if raw else None
    if data is not None:
        row = user_store.get_user(request.app.state.storage.engine, str(data["u"]))
        if row is not None:
            nonce = str(data["n"])
            user = SessionUser(
                id=row["id"],
                tenant_id=row["tenant_id"],
                email=row["email"],
                role=row["role"],
                nonce=nonce,
                csrf_token=codec.csrf_for(nonce),
            )
    request.state.hb_user = user
    return user


def session_principal(request: Request) -> Principal | None:
    """Resolver the JSON API calls (``app.state.session_principal``): cookie → principal."""
    user = current_user(request)
    return user.principal() if user is not None else None


def require_user(request: Request) -> SessionUser:
    """Page dependency: the signed-in user, or a redirect to the login page."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


async def check_csrf(request: Request, user: SessionUser) -> dict[str, str]:
    """Read the posted form and verify its CSRF token; returns the form as plain strings."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    token = fields.get("csrf_token") or request.headers.get("x-csrf-token") or ""
    if not hmac.compare_digest(token, user.csrf_token):
        raise Forbidden("the form expired or came from another site: reload the page")
    return fields


def require_writer(user: SessionUser) -> None:
    """Refuse viewers (403) on anything that changes data."""
    if not user.can_write:
        raise Forbidden("viewers cannot change anything")


def require_admin(user: SessionUser) -> None:
    """Refuse non-admins (403) on keys, users and prices."""
    if not user.is_admin:
        raise Forbidden("only owners and admins can do this")


def login_url(next_url: str) -> str:
    """``/login?next=…`` for a local path only (no open redirect)."""
    return "/login?next=" + quote(safe_next(next_url), safe="")


def safe_next(value: str | None) -> str:
    """A same-site path to return to after login; anything else becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def set_cookie(response: Any, request: Request, value: str) -> None:
    """HttpOnly, SameSite=Lax; Secure when the dashboard is served over HTTPS."""
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_cookie(response: Any) -> None:
    response.delete_cookie(COOKIE_NAME, path="/")
