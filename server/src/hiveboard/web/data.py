"""What the pages show, read through the Query API's own handlers (no second query layer).

The JSON API's route functions are plain functions of a :class:`ReadContext` and a
connection; calling them here means a page shows exactly the numbers ``/v1/...`` returns
for the same filters (the browser tests compare both), with the same tenant scoping,
validation and response models.  Errors come back as the API's ``ApiError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, select

from hiveboard.api import agents as agents_api
from hiveboard.api import approvals as approvals_api
from hiveboard.api import cost as cost_api
from hiveboard.api import events as events_api
from hiveboard.api import issues as issues_api
from hiveboard.api import metrics as metrics_api
from hiveboard.api import pipeline as pipeline_api
from hiveboard.api import tasks as tasks_api
from hiveboard.api.read_common import ReadContext, engine_of, now_of, parse_time
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.read.metrics import bucket_start
from hiveboard.storage.tables import rollups
from hiveboard.web.sessions import SessionUser

FLEET_PAGE = 200
"""Agents per Fleet page: the whole of a typical fleet, bounded for a huge one."""

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
WINDOWS["30d"] = timedelta(days=30)
COST_INTERVAL = {"1h": "5m", "24h": "1h", "7d": "6h", "30d": "1d"}
SPARK_MINUTES = 60
"""The Fleet cards' sparkline: events per minute over the last hour."""


@contextmanager
def reading(request: Request) -> Iterator[Connection]:
    """One read connection for everything a page shows."""
    with engine_of(request).connect() as conn:
        yield conn


def context(
    request: Request,
    user: SessionUser,
    *,
    since: str | None = None,
    until: str | None = None,
    agent: str | None = None,
    project: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ReadContext:
    """The API's read context for this user (tenant from the session, never the URL)."""
    now = now_of(request)
    scope = Scope(
        tenant_id=user.tenant_id,
        since=parse_time(since, "since", now),
        until=parse_time(until, "until", now),
        agent_id=agent or None,
        project_id=project or None,
    )
    return ReadContext(scope=scope, cursor=cursor or None, limit=limit, now=now)


def fleet(
    conn: Connection, ctx: ReadContext, status: str | None = None
) -> tuple[list[Any], str | None]:
    """Agents in attention order (stuck first), one page, optionally of some statuses."""
    page = agents_api.list_agents(ctx, conn, status=status or None, sort="attention")
    return page.items, page.next_cursor


def agent_card(conn: Connection, ctx: ReadContext, agent_id: str) -> Any:
    """One agent as the fleet shows it (raises the API's 404 when unknown)."""
    return agents_api.get_agent(agent_id, ctx, conn, history=0)


def summary(conn: Connection, ctx: ReadContext, interval: str = "5m") -> Any:
    """Last-hour metrics: the ribbon's figures and the fleet charts' series."""
    return metrics_api.get_metrics(ctx, conn, interval=interval)


def recent_events(conn: Connection, ctx: ReadContext) -> list[Any]:
    """The newest events, for the activity stream's first paint."""
    return events_api.list_events(
        ctx, conn, type=None, severity=None, kind=None, task_id=None, task_run_id=None
    ).items


def agent_detail(conn: Connection, ctx: ReadContext, agent_id: str) -> Any:
    return agents_api.get_agent(agent_id, ctx, conn, history=50)


def agent_pipeline(conn: Connection, ctx: ReadContext, agent_id: str) -> Any:
    return pipeline_api.agent_pipeline(agent_id, ctx, conn)


def tasks(
    conn: Connection,
    ctx: ReadContext,
    *,
    status: str | None = None,
    task_type: str | None = None,
    q: str | None = None,
    sort: str = "started",
) -> Any:
    return tasks_api.list_tasks(
        ctx, conn, status=status or None, type=task_type or None, task_id=None, q=q or None,
        sort=sort,
    )  # fmt: skip


def timeline(conn: Connection, ctx: ReadContext, task_id: str, run: str | None) -> Any:
    return tasks_api.task_timeline(task_id, ctx, conn, run=run or None)


def cost_summary(conn: Connection, ctx: ReadContext) -> Any:
    return cost_api.cost_summary(ctx, conn)


def cost_series(
    conn: Connection, ctx: ReadContext, interval: str, group_by: str | None = None
) -> Any:
    return cost_api.cost_timeseries(ctx, conn, interval=interval, group_by=group_by)


def dearest_calls(conn: Connection, ctx: ReadContext) -> list[Any]:
    page = cost_api.list_llm_calls(
        ctx, conn, model=None, cost_source=None, task_id=None, sort="cost"
    )
    return page.items


def fleet_pipeline(conn: Connection, ctx: ReadContext) -> list[Any]:
    return pipeline_api.fleet_pipeline(ctx, conn).agents


ISSUE_SEVERITIES = ("critical", "high", "medium", "low")


def open_issues(conn: Connection, ctx: ReadContext) -> tuple[list[Any], bool]:
    """Open issues, most severe first (most recent first within a severity), at most
    ``ctx.limit``; and whether more are open than shown.

    One read per severity rather than one "most recent" page: a critical issue must
    never fall off the page behind a hundred newer low ones.
    """
    items: list[Any] = []
    more = False
    for severity in ISSUE_SEVERITIES:
        room = ctx.limit - len(items)
        if room <= 0:
            more = True
            break
        page = issues_api.list_issues(
            replace(ctx, limit=room), conn, state="open", severity=severity, category=None
        )
        items.extend(page.items)
        more = more or page.next_cursor is not None
    return items, more


def waiting_on_humans(conn: Connection, ctx: ReadContext) -> Any:
    return approvals_api.list_approvals(ctx, conn, kind=None, state="pending,open", task_id=None)


def activity_per_minute(
    conn: Connection,
    tenant_id: str,
    agent_ids: Sequence[str],
    now: datetime,
    minutes: int = SPARK_MINUTES,
) -> dict[str, list[int]]:
    """Events per minute for each agent over the last ``minutes``, oldest first.

    One indexed range read of the per-agent minute ``rollups`` for all the agents a
    page shows (``(tenant_id, agent_id, bucket)`` is their unique key), however many
    cards there are: the Query API has per-agent series only, which would cost one
    query per card.  Minutes without a rollup row are zeros; agents absent from the
    rollups get a row of zeros.  The fleet rows (agent "") are not among the agents
    asked for, so they are never read here.
    """
    out = {agent_id: [0] * minutes for agent_id in agent_ids}
    if not out:
        return out
    first = bucket_start(now, 60) - timedelta(minutes=minutes - 1)
    query = select(rollups.c.agent_id, rollups.c.bucket, rollups.c.events).where(
        rollups.c.tenant_id == tenant_id,
        rollups.c.agent_id.in_(list(out)),
        rollups.c.bucket >= first,
        rollups.c.bucket <= now,
    )
    for agent_id, bucket, events in conn.execute(query):
        index = int((bucket - first).total_seconds() // 60)
        counts = out.get(agent_id)
        if counts is not None and 0 <= index < minutes:
            counts[index] += int(events or 0)
    return out


def series_json(points: list[Any], *fields: str) -> dict[str, list[Any]]:
    """Columns for uPlot: ``{"t": [unix seconds...], field: [values...]}``."""
    out: dict[str, list[Any]] = {"t": [int(p.bucket.timestamp()) for p in points]}
    for name in fields:
        out[name] = [getattr(p, name) for p in points]
    return out
