"""The dashboard: server-rendered pages (Jinja2 + htmx), live through ``/v1/stream``.

:func:`install` is the one call ``create_app`` makes: it mounts the static files,
includes the page routers, teaches the JSON API to accept a dashboard session (so the
pages' own scripts can read ``/v1/...`` and the live stream with the session cookie),
and turns "not signed in" / "not allowed" into a login redirect / a 403 page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hiveboard.web import routes_admin, routes_auth, routes_fleet, routes_tasks
from hiveboard.web.render import is_htmx, render
from hiveboard.web.sessions import Forbidden, LoginRequired, login_url, session_principal

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the dashboard on ``app``."""
    app.state.session_principal = session_principal
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (routes_auth, routes_fleet, routes_tasks, routes_admin):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_url)
        if is_htmx(request):
            # htmx would swap the login page into a fragment: send the whole tab there.
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(
            request,
            "error.html",
            {"title": "Not allowed", "message": str(exc)},
            status_code=403,
        )
