"""Fleet (home) and Agent pages, plus the fragments the live script refreshes.

The live script never builds markup from agent data: when the stream says an agent
changed, it asks for that agent's card (``/fleet/card``) or the ribbon (``/fleet/ribbon``)
and the server renders them with the same escaping templates as the first paint.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from hiveboard.api.errors import ApiError
from hiveboard.api.read_common import ReadContext
from hiveboard.web import data
from hiveboard.web.render import STATUS_ORDER, render
from hiveboard.web.sessions import SessionUser, require_user
from hiveboard.web.sparklines import Sparkline, sparklines

router = APIRouter(include_in_schema=False)
User = Annotated[SessionUser, Depends(require_user)]


def endpoint_of(request: Request) -> str:
    """This server's URL as the browser reached it: what the SDK snippet should use."""
    return str(request.base_url).rstrip("/")


def fleet_series(metrics: Any) -> dict[str, list[Any]]:
    """The fleet charts' columns: throughput, errors and cost per bucket (and its calls of
    unknown cost, marked on the cost chart)."""
    return data.series_json(
        metrics.series,
        "tasks_completed",
        "tasks_failed",
        "errors",
        "cost_usd",
        "llm_calls",
        "cost_unknown_calls",
    )


def fleet_sparks(
    conn: Connection, ctx: ReadContext, user: SessionUser, agents: list[Any]
) -> dict[str, Sparkline]:
    """Every shown agent's 1 h sparkline, from one rollup query for the whole page."""
    ids = [a.agent_id for a in agents]
    return sparklines(data.activity_per_minute(conn, user.tenant_id, ids, ctx.now))


@router.get("/", response_class=HTMLResponse)
def fleet_page(
    request: Request,
    user: User,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Every agent, most in need of a human first; summary ribbon; live activity."""
    status = status if status in STATUS_ORDER else None
    ctx = data.context(request, user, cursor=cursor, limit=data.FLEET_PAGE)
    with data.reading(request) as conn:
        try:
            agents, next_cursor = data.fleet(conn, ctx, status)
        except ApiError as exc:  # a mangled "More agents" link: a page, not raw JSON
            page = {"title": "Bad link", "message": f"This page link is not valid ({exc.message})."}
            return render(request, "error.html", page, status_code=exc.status)
        sparks = fleet_sparks(conn, ctx, user, agents)
        metrics = data.summary(conn, data.context(request, user))
        events = data.recent_events(conn, data.context(request, user, limit=30))
    return render(
        request,
        "fleet.html",
        {
            "agents": agents,
            "sparks": sparks,
            "next_cursor": next_cursor,
            "metrics": metrics,
            "series": fleet_series(metrics),
            "events": events,
            "endpoint": endpoint_of(request),
            "status_filter": status or "",
            "paged": cursor is not None,
        },
        active="fleet",
    )


@router.get("/fleet/card", response_class=HTMLResponse)
def fleet_card(
    request: Request, user: User, agent: Annotated[str, Query(max_length=256)]
) -> Response:
    """One agent card (the live script swaps it in after the agent changed)."""
    ctx = data.context(request, user)
    with data.reading(request) as conn:
        try:
            item = data.agent_card(conn, ctx, agent)
        except ApiError:
            return Response(status_code=204)
        sparks = fleet_sparks(conn, ctx, user, [item])
    return render(request, "_agent_card.html", {"a": item, "sparks": sparks})


@router.get("/fleet/sparks", response_class=HTMLResponse)
def fleet_sparklines(
    request: Request,
    user: User,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The sparklines of the Fleet page's agents (same cursor and filter as the page).

    The live script fetches this once a minute so quiet agents' sparklines slide with
    the clock too; agents that send events get theirs with their card refresh.  The
    page's own cursor and filter pick the agents, so no list of ids rides in the URL.
    """
    status = status if status in STATUS_ORDER else None
    ctx = data.context(request, user, cursor=cursor, limit=data.FLEET_PAGE)
    with data.reading(request) as conn:
        agents, _ = data.fleet(conn, ctx, status)
        sparks = fleet_sparks(conn, ctx, user, agents)
    return render(request, "_sparks.html", {"sparks": sparks})


@router.get("/fleet/ribbon", response_class=HTMLResponse)
def fleet_ribbon(request: Request, user: User) -> Response:
    """The summary ribbon, refreshed after live events and every few seconds."""
    with data.reading(request) as conn:
        metrics = data.summary(conn, data.context(request, user))
    return render(request, "_ribbon.html", {"metrics": metrics})


@router.get("/agents/{agent_id:path}", response_class=HTMLResponse)
def agent_page(request: Request, user: User, agent_id: str) -> Response:
    """One agent: metadata, status history, tasks, pipeline, activity and cost over time."""
    ctx = data.context(request, user, agent=agent_id)
    with data.reading(request) as conn:
        try:
            agent = data.agent_detail(conn, ctx, agent_id)
        except ApiError:
            return render(
                request,
                "error.html",
                {"title": "No such agent", "message": f"No agent {agent_id!r} in this tenant."},
                status_code=404,
            )
        pipeline = data.agent_pipeline(conn, ctx, agent_id)
        tasks = data.tasks(conn, data.context(request, user, agent=agent_id, limit=15))
        activity = data.summary(conn, ctx, interval="1m")
        cost = data.cost_series(conn, data.context(request, user, agent=agent_id), "1h")
    return render(
        request,
        "agent.html",
        {
            "a": agent,
            "pipeline": pipeline,
            "tasks": tasks.items,
            "more_tasks": tasks.next_cursor is not None,
            "activity": data.series_json(activity.series, "events", "errors", "llm_calls"),
            "cost": data.series_json(
                cost.points,
                "cost_usd",
                "tokens_in",
                "tokens_out",
                "llm_calls",
                "unknown_cost_calls",
            ),
            "cost_total": sum(p.cost_usd for p in cost.points),
        },
        active="fleet",
    )
