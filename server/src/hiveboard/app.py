"""``create_app``: builds the FastAPI application and wires its parts; nothing else.

Routers are listed in ``ROUTERS``; add a resource by appending its router there. The
lifespan opens storage, applies migrations, bootstraps an empty database and runs the
status detector and retention pruning; it undoes each on shutdown.

``worker_app`` is the factory uvicorn calls in each process of ``hiveboard serve
--workers N``: the parent has already migrated and bootstrapped the database and runs the
detector and retention itself, once for all workers (cli.py).

A served app (``freeze_heap=True``: ``hiveboard serve``, every worker) moves its start-up
heap out of the garbage collector's reach once started: see :func:`freeze_startup_heap`.
"""

from __future__ import annotations

import gc
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
from hiveboard.detector import Detector, Publish
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
    prepared: bool = False,
    freeze_heap: bool = False,
) -> FastAPI:
    """The HiveBoard ASGI app. ``storage`` defaults to one built from the settings.

    ``prepared``: the caller has migrated and bootstrapped the database already (the
    parent of several workers), so the lifespan does neither. ``freeze_heap``: the app
    is this process's server (``hiveboard serve``), so once started it calls
    :func:`freeze_startup_heap`; tests and embedders leave it off.
    """
    settings = settings or load_settings()
    owns_storage = storage is None
    storage = storage or SqlStorage(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not prepared:
            _prepare(storage, settings)
        detector, retention = background_jobs(storage, settings, publish=app_publish)
        app.state.detector = detector
        app.state.retention = retention
        if run_detector:
            detector.start()
            retention.start()
        if freeze_heap:
            freeze_startup_heap()
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
    app.state.rate_limiter = RateLimiter(settings.rate_limit_share)
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    install_dashboard(app)
    return app


def _prepare(storage: Storage, settings: Settings) -> None:
    """Migrate, and bootstrap an empty database (printing its one-time secrets)."""
    storage.migrate()
    if settings.bootstrap:
        created = bootstrap_if_empty(storage)
        if created is not None:
            print(created.render(settings.public_url), file=sys.stderr, flush=True)


def freeze_startup_heap() -> None:
    """Collect once, then exempt every object alive now from later garbage collections.

    What a server process holds once started (modules, classes, FastAPI routes and
    pydantic validators, SQLAlchemy tables: about 130,000 objects) lives as long as the
    process, yet every full collection walked all of it: 80-140 ms on a 2-core machine,
    on whichever request happened to be allocating (in ``bench/queries.py`` one per run,
    the max of the fleet list or cost row). After ``gc.freeze()`` a full collection only
    walks what was allocated since, about 10,000 objects after the first requests:
    1-2 ms. Called at the end of the lifespan's start-up, after every import (uvicorn's
    included): freezing at the top of ``hiveboard serve``, before the app and its
    models were imported, still left 20 ms collections. Thresholds stay the defaults:
    the young collections take under a millisecond. The cost: start-up objects that
    later become cyclic garbage are never freed (they are the ones that stay anyway).
    Not for processes that build many apps (tests): each would pin its own.
    """
    gc.collect()
    gc.freeze()


def background_jobs(
    storage: Storage, settings: Settings, *, publish: Publish | None = None
) -> tuple[Detector, Retention]:
    """The status detector and retention pruning for ``storage``, not yet started."""
    detector = Detector(storage, settings.detector_interval_seconds, publish=publish)
    return detector, Retention(storage, settings.retention_days)


def worker_app() -> FastAPI:
    """uvicorn's factory in each ``hiveboard serve --workers N`` process.

    Settings come from the environment the parent exported (``worker_environment``).
    The parent prepared the database and runs the detector and retention once for the
    host: N detectors would do the same reads N times and race on every transition.
    """
    settings = load_settings()
    logging.basicConfig(
        level=settings.python_log_level, format="%(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings, prepared=True, run_detector=False, freeze_heap=True)
