"""FastAPI app factory: ``create_app(state)``.

Routers (one per resource, under ``liqmap.api.routers``): liquidations, exchanges,
health/metrics, websocket, dashboard, heatmap, market (cross-exchange view, ``/exchanges/best``), and ``routers.docs`` (Swagger UI at ``/docs``
and the favicon, offline).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from liqmap.api.routers import (
    dashboard, docs, exchanges, health, heatmap, liquidations, market, open_interest, reference, ws,
)
from liqmap import __version__
from liqmap.api.errors import ERROR_RESPONSES, validation_items
from liqmap.api.guard import RequestGuard, split_list
from liqmap.api.state import AppState, open_readonly_state
from liqmap.settings import Settings

log = logging.getLogger("liqmap.api")


def create_app(state: AppState | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the API around ``state`` (pipeline, DuckDB connection, clock, hub).

    Without ``state`` the app reads the DuckDB file of ``settings.db`` (no ingestion).
    The pipeline starts on app startup and is stopped, flushed and closed on shutdown.
    Every request passes :mod:`liqmap.api.guard` first (request-target cap, websocket Origin,
    optional Host allow-list, from ``state.settings``).
    """
    if state is None:
        state = open_readonly_state(settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="liqmap",
        description="Open multi-exchange crypto liquidation aggregator: predicted liquidation levels "
        "(heatmap and liquidation map, a validated model), realized liquidations (feed, heatmap, stats, "
        "cascades), open interest and prices.",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served offline by routers.docs (FastAPI's default page loads a CDN)
        redoc_url=None,
    )
    app.state.liqmap = state

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        items = validation_items(exc.errors())
        reasons = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in items)
        return JSONResponse(status_code=422, content={"detail": reasons[:1000], "errors": items})

    @app.middleware("http")
    async def _count(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        state.metrics.http.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    for r in (liquidations.router, market.router, exchanges.router, health.router, ws.router, dashboard.router, docs.router,
              open_interest.router, reference.router, heatmap.router):
        app.include_router(r, responses=ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    cfg = state.settings  # the guard (liqmap.api.guard): request-target cap, websocket Origin, Host
    app.add_middleware(RequestGuard, max_target=cfg.max_request_target, ws_origins=split_list(cfg.ws_origins))
    if split_list(cfg.allowed_hosts):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=split_list(cfg.allowed_hosts))
    return app
