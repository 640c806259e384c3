"""Tasks list and the task timeline (the "why did it fail, what did it cost" page).

Filters are server-side query parameters passed straight to the Query API's handler, so
the page only ever reads one page of runs; paging uses the API's stable cursors.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from hiveboard.api.errors import ApiError
from hiveboard.storage.read.tasks import RUN_STATUSES
from hiveboard.web import data
from hiveboard.web.render import is_htmx, render
from hiveboard.web.sessions import SessionUser, require_user

router = APIRouter(include_in_schema=False)
User = Annotated[SessionUser, Depends(require_user)]
Text = Annotated[str | None, Query(max_length=256)]

SORTS = {"started": "Newest first", "duration": "Longest first", "cost": "Dearest first"}
RANGES = {"": "Any time", "1h": "Last hour", "24h": "Last 24 h", "7d": "Last 7 days"}
RANGES["30d"] = "Last 30 days"


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    user: User,
    agent: Text = None,
    status: Text = None,
    type: Text = None,
    project: Text = None,
    since: Annotated[str | None, Query(max_length=8)] = None,
    q: Text = None,
    sort: Annotated[str, Query(max_length=16)] = "started",
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    """One page of task runs, filtered and sorted on the server."""
    filters = {
        "agent": agent or "",
        "status": status or "",
        "type": type or "",
        "project": project or "",
        "since": since if since in RANGES else "",
        "q": q or "",
        "sort": sort if sort in SORTS else "started",
    }
    error = ""
    items: list[Any] = []
    next_cursor = None
    try:
        ctx = data.context(
            request,
            user,
            since=filters["since"] or None,
            agent=agent,
            project=project,
            cursor=cursor,
            limit=50,
        )
        with data.reading(request) as conn:
            page = data.tasks(conn, ctx, status=status, task_type=type, q=q, sort=filters["sort"])
        items, next_cursor = page.items, page.next_cursor
    except ApiError as exc:
        error = exc.message
    return render(
        request,
        "tasks.html",
        {
            "items": items,
            "next_cursor": next_cursor,
            "paged": cursor is not None,
            "filters": filters,
            "statuses": RUN_STATUSES,
            "sorts": SORTS,
            "ranges": RANGES,
            "error": error,
        },
        active="tasks",
    )


def _walk(actions: list[Any], depth: int = 0) -> list[tuple[int, Any]]:
    """The action tree flattened depth-first, with each node's depth (for the waterfall)."""
    out: list[tuple[int, Any]] = []
    for node in actions:
        out.append((depth, node))
        out.extend(_walk(node.children, depth + 1))
    return out


def _span_ms(timeline: Any, rows: list[tuple[int, Any]]) -> int:
    """The waterfall's full width in ms: the run, or the furthest thing in it."""
    ends = [timeline.duration_ms or 0]
    for _, node in rows:
        ends.append(node.offset_ms + (node.duration_ms or 0))
        ends.extend(c.offset_ms + (c.duration_ms or 0) for c in node.llm_calls)
    ends.extend(c.offset_ms + (c.duration_ms or 0) for c in timeline.llm_calls)
    return max(1, *ends)


@router.get("/tasks/{task_id:path}", response_class=HTMLResponse)
def timeline_page(
    request: Request,
    user: User,
    task_id: str,
    run: Annotated[str | None, Query(max_length=256)] = None,
    agent: Text = None,
) -> Response:
    """A run's waterfall, plan, retries, approvals and failure; permalink with ``?run=``.

    ``?agent=`` picks that agent's latest run of the task: task ids are the agents' own
    names and often shared (two agents both run "daily-report"), so a link from one
    agent's card must not open another agent's run.
    """
    with data.reading(request) as conn:
        try:
            ctx = data.context(request, user, agent=agent)
            timeline = data.timeline(conn, ctx, task_id, run)
        except ApiError:
            message = f"No task {task_id!r} (run {run or 'latest'}) in this tenant."
            page = {"title": "No such task", "message": message}
            return render(request, "error.html", page, status_code=404)
    rows = _walk(timeline.actions)
    names = {node.action_id: node.name or node.action_id for _, node in rows}
    event_action = {ev.event_id: ev.action_id for ev in timeline.events}
    context = {
        "t": timeline,
        "task_id": task_id,
        "rows": rows,
        "span": _span_ms(timeline, rows),
        "names": names,
        "event_action": event_action,
        "run_id": timeline.run.task_run_id,
    }
    template = "_timeline_body.html" if is_htmx(request) else "timeline.html"
    return render(request, template, context, active="tasks")
