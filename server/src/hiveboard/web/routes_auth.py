"""Sign in and sign out.

The login form is protected against CSRF before any session exists with a double-submit
token: a random value in a short-lived cookie that the form must echo.  A successful
login always issues a new session (new nonce, new CSRF token), so a token seen before
login is worthless after it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hiveboard.web.render import render, secure_headers
from hiveboard.web.sessions import (
    SessionUser,
    check_csrf,
    clear_cookie,
    codec_of,
    current_user,
    require_user,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "hb_login_csrf"
MAX_FAILURES = 10
"""Failed sign-ins allowed per (client address, email) within ``FAILURE_WINDOW``."""
FAILURE_WINDOW = 300.0
CONCURRENT_VERIFICATIONS = 2
"""Password checks run at once: each argon2 verification holds 64 MiB, and they share the
thread pool with every page, so a flood of sign-ins must queue instead of taking the
server's memory and threads."""


class LoginThrottle:
    """Failed sign-ins per (client, email) in memory: past ``MAX_FAILURES`` within
    ``FAILURE_WINDOW`` further attempts are refused unchecked until the oldest ages out.

    Keyed on the pair so that guessing one user's password from one address stops, while
    that user can still sign in from anywhere else.
    """

    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= FAILURE_WINDOW:
            times.popleft()
        return times

    def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) < MAX_FAILURES:
            return 0
        return max(1, int(FAILURE_WINDOW - (now - times[0])) + 1)

    def failed(self, key: tuple[str, str]) -> None:
        now = time.monotonic()
        if len(self._failures) > 100_000:  # bounded memory under a spray of addresses
            self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


def _throttle(request: Request) -> tuple[LoginThrottle, anyio.CapacityLimiter]:
    """The app's throttle and verification limiter (made in the event loop on first use)."""
    state = request.app.state
    if getattr(state, "login_throttle", None) is None:
        state.login_throttle = LoginThrottle()
        state.login_limiter = anyio.CapacityLimiter(CONCURRENT_VERIFICATIONS)
    return state.login_throttle, state.login_limiter


def _login_page(request: Request, error: str = "", email: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "error": error,
            "email": email,
            "login_csrf": token,
            "next": safe_next(request.query_params.get("next")),
        },
        status_code=status,
        no_store=True,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The sign-in form (or straight to the dashboard when already signed in)."""
    if current_user(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password against the server's users; start a session."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    posted = fields.get("csrf_token", "")
    if not cookie_token or not hmac.compare_digest(cookie_token, posted):
        return _login_page(request, "The form expired; please sign in again.", status=400)
    email = fields.get("email", "").strip()
    throttle, limiter = _throttle(request)
    key = (request.client.host if request.client else "", email.lower())
    wait = throttle.retry_after(key)
    if wait:
        minutes = (wait + 59) // 60
        message = f"Too many failed sign-ins; try again in {minutes} minute(s)."
        response = _login_page(request, message, email=email, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    storage = request.app.state.storage
    user = await anyio.to_thread.run_sync(
        storage.verify_user, email, fields.get("password", ""), limiter=limiter
    )
    if user is None:
        throttle.failed(key)
        await anyio.sleep(0.2)  # brute-force friction on top of the throttle
        return _login_page(request, "Wrong email or password.", email=email, status=401)
    throttle.succeeded(key)
    response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
    set_cookie(response, request, codec_of(request).issue(user.id))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return secure_headers(response)


@router.post("/logout")
async def logout(request: Request, user: Annotated[SessionUser, Depends(require_user)]) -> Response:
    """End the session (CSRF-checked, so another site cannot sign you out)."""
    await check_csrf(request, user)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response)
    return response
