"""``create_app``: builds the FastAPI application and wires its parts; nothing else.

Routers are listed in ``ROUTERS``; add a resource by appending its router there. The
lifespan opens storage, applies migrations, bootstraps an empty database and runs the
status detector and retention pruning; it undoes each on shutdown.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from hiveboard import __version__
from hiveboard.api import ingest, read_routers
from hiveboard.api.errors import install_error_handlers
from hiveboard.bootstrap import bootstrap_if_empty
from hiveboard.config import Settings, load_settings
from hiveboard.detector import Detector
from hiveboard.ingest.ratelimit import RateLimiter
from hiveboard.retention import Retention
from hiveboard.storage.base import Storage, Transition
from hiveboard.storage.sql import SqlStorage
from hiveboard.web import install as install_dashboard

logger = logging.getLogger(__name__)


def _routers() -> list[APIRouter]:
    """Every router the app serves. Append new resources here, one line each."""
    routers: list[APIRouter] = [
        ingest.router,
        _health,
        *read_routers.ROUTERS,
    ]
    return routers


_health = APIRouter(tags=["health"])


@_health.get("/healthz", summary="Liveness probe")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


def _make_broker() -> Any:
    try:
        from hiveboard.live.broker import Broker
    except ImportError:  # live streaming not installed: ingest still works
        return None
    return Broker()


def create_app(
    settings: Settings | None = None,
    storage: Storage | None = None,
    *,
    run_detector: bool = True,
) -> FastAPI:
    """The HiveBoard ASGI app. ``storage`` defaults to one built from the settings."""
    settings = settings or load_settings()
    owns_storage = storage is None
    storage = storage or SqlStorage(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage.migrate()
        if settings.bootstrap:
            created = bootstrap_if_empty(storage)
            if created is not None:
                endpoint = f"http://{settings.host}:{settings.port}"
                print(created.render(endpoint), file=sys.stderr, flush=True)
        detector = Detector(storage, settings.detector_interval_seconds, publish=app_publish)
        app.state.detector = detector
        retention = Retention(storage, settings.retention_days)
        app.state.retention = retention
        if run_detector:
            detector.start()
            retention.start()
        try:
            yield
        finally:
            detector.stop()
            retention.stop()
            if owns_storage:
                storage.close()

    app = FastAPI(
        title="HiveBoard",
        version=__version__,
        description="Self-hosted server for HiveLoop agents: ingest, derived state, queries.",
        lifespan=lifespan,
    )

    def app_publish(transition: Transition) -> None:
        broker = getattr(app.state, "broker", None)
        if broker is not None:
            broker.publish(transition.tenant_id, transition.message())

    app.state.settings = settings
    app.state.storage = storage
    app.state.broker = _make_broker()
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_key)
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    install_dashboard(app)
    return app
