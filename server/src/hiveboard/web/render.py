"""Jinja2 rendering for the dashboard: one autoescaping environment, filters, headers.

Every value an agent sent (ids, summaries, previews) reaches the page through these
templates, so autoescaping is forced on for every template regardless of its file name,
and links are built with :func:`path_quote`/:func:`query` rather than string
concatenation.  A strict Content-Security-Policy (scripts only from our own origin, no
inline script, no eval) is the second line of defence should anything slip through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hiveboard import __version__
from hiveboard.web.sessions import SessionUser, current_user

TEMPLATES = Path(__file__).parent / "templates"
STATUS_ORDER = ("stuck", "error", "waiting_approval", "processing", "idle", "offline")
STATUS_LABEL = {
    "stuck": "Stuck",
    "error": "Error",
    "waiting_approval": "Waiting",
    "processing": "Processing",
    "idle": "Idle",
    "offline": "Offline",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Inline *styles* are allowed for computed bar widths; inline *scripts* never are."""

NAV = (
    ("fleet", "/", "Fleet"),
    ("tasks", "/tasks", "Tasks"),
    ("costs", "/costs", "Costs"),
    ("pipeline", "/pipeline", "Pipeline & humans"),
    ("alerts", "/alerts", "Alerts"),
    ("settings", "/settings", "Settings"),
)


def path_quote(value: Any) -> str:
    """Quote an id for use as one URL path segment (slashes included)."""
    return quote(str(value), safe="")


def query(params: Mapping[str, Any] | None = None, **more: Any) -> str:
    """``?a=1&b=2`` from the non-empty values (a URL-encoded query string, or '')."""
    merged = {**(params or {}), **more}
    clean = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(clean) if clean else ""


def fmt_duration(ms: float | None) -> str:
    """Milliseconds as a short human duration: 340 ms, 1.2 s, 3 m 05 s, 2 h 10 m."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} m"
    return f"{hours // 24} d {hours % 24} h"


def fmt_age(seconds: float | None) -> str:
    """Seconds since something, compact: 4 s, 12 m, 3 h, 2 d."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} m"
    if seconds < 172800:
        return f"{seconds // 3600:.0f} h"
    return f"{seconds // 86400:.0f} d"


def fmt_usd(value: float | None) -> str:
    """Dollars with enough precision for cents-or-less LLM calls; '—' when unknown."""
    if value is None:
        return "—"
    if value == 0:
        return "$0.00"
    if abs(value) < 0.0001:
        return "<$0.0001" if value > 0 else "-<$0.0001"
    if abs(value) < 1:
        digits = f"{value:.4f}".rstrip("0")
        return "$" + digits + "0" * max(0, 2 - len(digits.split(".")[1]))
    if abs(value) < 100:
        return f"${value:.2f}"
    return f"${value:,.0f}"


def fmt_num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def fmt_time(value: datetime | None) -> str:
    """UTC wall-clock time, with the date when it is not today."""
    if value is None:
        return "—"
    value = value.astimezone(UTC)
    if value.date() == datetime.now(UTC).date():
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M")


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pq=path_quote,
        dur=fmt_duration,
        age=fmt_age,
        usd=fmt_usd,
        num=fmt_num,
        pct=fmt_pct,
        time=fmt_time,
        iso=iso,
    )
    env.globals.update(
        query=query,
        status_label=STATUS_LABEL,
        status_order=STATUS_ORDER,
        status_rank=status_rank,
        nav=NAV,
        version=__version__,
    )
    return env


ENV = _environment()


R = TypeVar("R", bound=Response)


def secure_headers(response: R) -> R:
    """Headers every dashboard page carries (CSP, no sniffing, no framing)."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    active: str = "",
    no_store: bool = False,
) -> HTMLResponse:
    """Render a page (or an htmx fragment) with the user, CSRF token and nav state."""
    user: SessionUser | None = current_user(request)
    html = ENV.get_template(template).render(
        request=request,
        user=user,
        csrf_token=user.csrf_token if user else "",
        active=active,
        **(context or {}),
    )
    response = HTMLResponse(html, status_code=status_code)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return secure_headers(response)


def is_htmx(request: Request) -> bool:
    """True for requests htmx made (they want a fragment, not a whole page)."""
    return request.headers.get("hx-request") == "true"
