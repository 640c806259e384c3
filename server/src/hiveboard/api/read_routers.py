"""The Query API's routers, in one list so ``app.py`` includes them with one line."""

from __future__ import annotations

from fastapi import APIRouter

from hiveboard.api import agents, approvals, cost, events, issues, metrics, pipeline, stream, tasks

# pipeline before agents: ``/agents/{id}/pipeline`` must be tried before
# ``/agents/{id}``, whose id may contain slashes.
ROUTERS: list[APIRouter] = [
    pipeline.router,
    agents.router,
    tasks.router,
    events.router,
    metrics.router,
    cost.router,
    issues.router,
    approvals.router,
    stream.router,
]
