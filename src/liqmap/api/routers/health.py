"""``/health`` (process liveness and pipeline counters) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from liqmap.api.deps import get_state
from liqmap.api.state import AppState
from liqmap.units import CASCADE_MIN_USD

router = APIRouter(tags=["health"])
State = Annotated[AppState, Depends(get_state)]


@router.get("/health")
def health(state: State):
    """``{"status": "ok", meta, pipeline counters, ws_clients}``.

    ``storage``: ``committed`` -- liquidations committed to DuckDB this run (never above the
    rows on disk); ``buffered`` -- events received and not committed yet (a crash loses at
    most these; replaying the source restores them); ``commit_lag_ms``; ``tiers`` -- DuckDB,
    Redis and PostgreSQL state (``ok`` / ``degraded`` / ``down`` / ``off``, backlog, lag,
    last error; :mod:`liqmap.storage.mirror`).

    ``pipeline.plausibility``: per venue, the events the plausibility gate dropped
    (``rejected``) and stored apart (``quarantined``), by reason
    (:mod:`liqmap.exchanges.plausibility`).

    ``meta`` carries the size tiers (``large_usd``, ``institutional_usd``: settings) and the
    streaming cascade detector's threshold (``cascade_min_usd``), all USD, so clients such as
    the dashboard use the server's thresholds instead of their own copies.

    ``recordings``: in a replay whose recordings are known (``liqmap demo``), each one's
    ``{name, exchange, start_ms, end_ms, files}``, so a client can label an event with the
    recording it comes from; else null.
    """
    p = state.pipeline
    pipe = None
    if p is not None:
        s = p.stats
        dups = state.aggregator.duplicates if state.aggregator is not None else 0
        pipe = {"events": s.events, "liquidations": s.liquidations, "duplicates": dups,
                "gaps": s.gaps, "store_errors": s.store_errors,
                "source_finished": s.finished, "by_exchange": s.by_exchange,
                "plausibility": state.aggregator.gate_counts() if state.aggregator is not None else {}}
    return {
        "status": "ok",
        "meta": state.meta(large_usd=state.settings.large_usd, institutional_usd=state.settings.institutional_usd,
                           cascade_min_usd=CASCADE_MIN_USD),
        "db": state.db_path,
        "uptime_s": round(time.time() - state.started_ms / 1000, 1),
        "enabled": state.enabled,
        "pipeline": pipe,
        "storage": state.storage_health(),
        "ws_clients": len(state.hub.subscribers),
        "heatmap": state.heatmap.status() if state.heatmap is not None else None,
        "recordings": state.recordings,
    }


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition (version 0.0.4)"}})
def metrics(state: State):
    """Prometheus text exposition of this process's metrics."""
    state.sync_parse_errors()
    state.metrics.ws_clients.set(len(state.hub.subscribers))
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
