"""Costs, Pipeline & humans, Alerts and Settings.

Settings reuses the server's own key and user functions (``Storage.create_api_key``,
``revoke_api_key``, ``create_user``, ``set_price_override``): the dashboard is one more
front end to them, like the CLI.  Every POST checks the CSRF token and the role on the
server; hiding buttons from viewers is a courtesy, not the protection.  Every POST
answers with a redirect back to ``GET /settings`` (post/redirect/get) and leaves what
that page must say in a server-side flash (see ``flash.py``), so refreshing the page
never repeats an action and a new key's secret is never in a URL.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hiveboard.storage.base import KEY_KINDS, ROLES
from hiveboard.web import data
from hiveboard.web import users as user_store
from hiveboard.web.flash import Flash, flash_store
from hiveboard.web.render import render
from hiveboard.web.sessions import SessionUser, check_csrf, require_admin, require_user

router = APIRouter(include_in_schema=False)
User = Annotated[SessionUser, Depends(require_user)]


@router.get("/costs", response_class=HTMLResponse)
def costs_page(
    request: Request, user: User, window: Annotated[str, Query(max_length=4)] = "24h"
) -> Response:
    """Totals, reported vs estimated, by model/agent/task type/project, over time, top spend."""
    window = window if window in data.WINDOWS else "24h"
    ctx = data.context(request, user, since=window, limit=10)
    with data.reading(request) as conn:
        summary = data.cost_summary(conn, ctx)
        series = data.cost_series(conn, ctx, data.COST_INTERVAL[window])
        calls = data.dearest_calls(conn, ctx)
        tasks = data.tasks(conn, ctx, sort="cost").items
    return render(
        request,
        "costs.html",
        {
            "s": summary,
            "series": data.series_json(
                series.points, "cost_usd", "llm_calls", "unknown_cost_calls"
            ),
            "calls": calls,
            "tasks": tasks,
            "window": window,
            "windows": list(data.WINDOWS),
        },
        active="costs",
    )


@router.get("/pipeline", response_class=HTMLResponse)
def pipeline_page(request: Request, user: User) -> Response:
    """Queues, open issues by severity, TODOs, schedules and the waits on humans."""
    ctx = data.context(request, user, limit=100)
    with data.reading(request) as conn:
        agents = data.fleet_pipeline(conn, ctx)
        issues, more_issues = data.open_issues(conn, ctx)
        waits = data.waiting_on_humans(conn, ctx)
    busy = [a for a in agents if _has_pipeline(a)]
    return render(
        request,
        "pipeline.html",
        {
            "agents": busy,
            "idle_agents": len(agents) - len(busy),
            "issues": issues,
            "more_issues": more_issues,
            "waits": waits.items,
        },
        active="pipeline",
    )


def _has_pipeline(row: Any) -> bool:
    return bool(
        row.queue_depth
        or row.open_todos
        or row.open_issues
        or row.pending_approvals
        or row.open_escalations
        or row.scheduled_items
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: User) -> Response:
    """Placeholder until the alerting issue lands: says so instead of showing nothing."""
    return render(request, "alerts.html", active="alerts")


def _settings_context(request: Request, user: SessionUser) -> dict[str, Any]:
    storage = request.app.state.storage
    return {
        "keys": storage.list_api_keys(user.tenant_id) if user.is_admin else [],
        "users": user_store.list_users(storage.engine, user.tenant_id),
        "prices": sorted(storage.price_overrides(user.tenant_id).items()),
        "key_kinds": KEY_KINDS,
        "roles": ROLES,
        "retention_days": request.app.state.settings.retention_days,
    }


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: User) -> Response:
    """Keys (admins), users and roles, price overrides, retention; plus the one-time
    flash the last form left (taken here, so a refresh no longer shows it)."""
    ctx = _settings_context(request, user)
    flash = flash_store(request).pop(user.nonce) or Flash()
    ctx.update(message=flash.message, error=flash.error, new_key=flash.new_key)
    return render(request, "settings.html", ctx, active="settings", no_store=True)


def _back(
    request: Request, user: SessionUser, section: str, *, message: str = "", error: str = "",
    new_key: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    """Post/redirect/get: keep what to say for the next GET, send the browser there."""
    flash_store(request).put(user.nonce, Flash(message=message, error=error, new_key=new_key))
    return RedirectResponse(f"/settings#{section}", status_code=303)


@router.post("/settings/keys")
async def create_key(request: Request, user: User) -> Response:
    """Create a key; its secret is shown once, by the page this redirects to."""
    form = await check_csrf(request, user)
    require_admin(user)
    kind = form.get("kind", "live")
    if kind not in KEY_KINDS:
        kind = "live"
    storage = request.app.state.storage
    record, secret = storage.create_api_key(user.tenant_id, kind, form.get("name", "")[:100])
    new_key = {"id": record.id, "kind": record.kind, "name": record.name, "secret": secret}
    return _back(request, user, "keys", new_key=new_key)


@router.post("/settings/keys/{key_id}/revoke")
async def revoke_key(request: Request, user: User, key_id: str) -> Response:
    await check_csrf(request, user)
    require_admin(user)
    if not request.app.state.storage.revoke_api_key(user.tenant_id, key_id):
        return _back(request, user, "keys", error="No such active key: nothing was revoked.")
    return _back(request, user, "keys", message="Key revoked.")


@router.post("/settings/users")
async def create_user(request: Request, user: User) -> Response:
    form = await check_csrf(request, user)
    require_admin(user)
    email, password, role = form.get("email", ""), form.get("password", ""), form.get("role", "")
    if "@" not in email or len(password) < 8 or role not in ROLES:
        error = "Give an email, a password of at least 8 characters and a role."
    elif role == "owner" and user.role != "owner":
        error = "Only an owner can create another owner."
    else:
        try:
            request.app.state.storage.create_user(user.tenant_id, email, password, role)
        except Exception:  # unique email: say so instead of a 500
            error = "A user with that email already exists."
        else:
            return _back(request, user, "users", message="User created.")
    return _back(request, user, "users", error=error)


@router.post("/settings/users/{user_id}/role")
async def change_role(request: Request, user: User, user_id: str) -> Response:
    form = await check_csrf(request, user)
    require_admin(user)
    engine = request.app.state.storage.engine
    role = form.get("role", "")
    target = user_store.get_user(engine, user_id)
    error = _role_change_error(user, target, role, user_store.owner_count(engine, user.tenant_id))
    if error:
        return _back(request, user, "users", error=error)
    user_store.set_role(engine, user.tenant_id, user_id, role)
    return _back(request, user, "users", message="Role changed.")


def _role_change_error(
    actor: SessionUser, target: dict[str, Any] | None, role: str, owners: int
) -> str:
    if target is None or target["tenant_id"] != actor.tenant_id or role not in ROLES:
        return "No such user or role."
    if "owner" in (role, target["role"]) and actor.role != "owner":
        return "Only an owner can grant or remove the owner role."
    if target["role"] == "owner" and role != "owner" and owners <= 1:
        return "The last owner cannot be demoted."
    return ""


@router.post("/settings/users/{user_id}/disable")
async def disable_user(request: Request, user: User, user_id: str) -> Response:
    await check_csrf(request, user)
    require_admin(user)
    engine = request.app.state.storage.engine
    target = user_store.get_user(engine, user_id)
    if target is None or target["tenant_id"] != user.tenant_id or user_id == user.id:
        error = "You cannot disable yourself (or that user does not exist)."
        return _back(request, user, "users", error=error)
    if target["role"] == "owner" and user.role != "owner":
        return _back(request, user, "users", error="Only an owner can disable an owner.")
    user_store.disable_user(engine, user.tenant_id, user_id)
    return _back(request, user, "users", message="User disabled.")


@router.post("/settings/prices")
async def set_price(request: Request, user: User) -> Response:
    form = await check_csrf(request, user)
    require_admin(user)
    model = form.get("model", "").strip()[:200]
    try:
        price_in = float(form.get("input_per_mtok", ""))
        price_out = float(form.get("output_per_mtok", ""))
    except ValueError:
        price_in = price_out = -1.0
    # float() also parses "nan" and "inf": NaN fails the database insert (a 500) and an
    # infinite price would turn every estimate for the model into an infinite cost.
    finite = math.isfinite(price_in) and math.isfinite(price_out)
    if not model or not finite or price_in < 0 or price_out < 0:
        error = "Give a model name and two prices (USD per million tokens, ≥ 0)."
        return _back(request, user, "prices", error=error)
    request.app.state.storage.set_price_override(user.tenant_id, model, price_in, price_out)
    return _back(request, user, "prices", message="Price saved.")
