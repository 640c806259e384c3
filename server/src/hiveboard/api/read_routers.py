"""The Query API's routers, in one list so ``app.py`` includes them with one line."""

from __future__ import annotations

from fastapi import APIRouter

from hiveboard.api import agents, approvals, cost, events, issues, metrics, pipeline, stream, tasks

ROUTERS: list[APIRouter] = [
    agents.router,
    pipeline.router,
    tasks.router,
    events.router,
    metrics.router,
    cost.router,
    issues.router,
    approvals.router,
    stream.router,
]
