"""Sign in and sign out.

The login form is protected against CSRF before any session exists with a double-submit
token: a random value in a short-lived cookie that the form must echo.  A successful
login always issues a new session (new nonce, new CSRF token), so a token seen before
login is worthless after it.
"""

from __future__ import annotations

import hmac
import secrets
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
    storage = request.app.state.storage
    user = await anyio.to_thread.run_sync(storage.verify_user, email, fields.get("password", ""))
    if user is None:
        await anyio.sleep(0.2)  # brute-force friction without locking anyone out
        return _login_page(request, "Wrong email or password.", email=email, status=401)
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
