"""``/exchanges``: the registered venues and what their modules declare; ``/exchanges/health``."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from liqmap.storage import duckdb_reads
from liqmap.api.deps import get_state
from liqmap.api.state import AppState
from liqmap.exchanges.registry import VENUE_NAMES, get_venue
from liqmap.market.health import venue_stale_after_s
from liqmap.units import now_ms

router = APIRouter(prefix="/exchanges", tags=["exchanges"])
State = Annotated[AppState, Depends(get_state)]
HEALTH_TTL_S = 10.0


def venue_info(name: str, enabled: bool) -> dict[str, Any]:
    """What the venue module declares: capabilities, sampling, transports, colour."""
    v = get_venue(name)
    caps = v.capabilities
    transport = [t for t, specs in (("ws", v.connections(None)), ("rest", v.rest_polls(None))) if specs]
    return {
        "name": name,
        "enabled": enabled,
        "liquidations": "liquidations" in caps,
        "trades": "trades" in caps,
        "open_interest": "open_interest" in caps,
        "capabilities": list(caps),
        "sampling": v.sampling,
        "transport": transport,
        "rest_liquidations": v.rest_liquidations,
        "color": v.color,
    }


@router.get("")
def list_exchanges(state: State):
    """Supported venues, whether this process collects them, and what their feeds carry."""
    enabled = set(state.enabled)
    return {"meta": state.meta(), "exchanges": [venue_info(n, n in enabled) for n in VENUE_NAMES]}


def connection_status(h: dict[str, Any]) -> str:
    """Status of a venue that is not fully connected: ``down`` while a connection is
    closed or reconnecting, else ``unsubscribed`` (a liquidation topic rejected or never
    acknowledged) or ``subscribing`` (waiting for the venue's answer)."""
    states = set((h.get("connections") or {}).values())
    if not states or states - {"connected", "subscribing", "unsubscribed"}:
        return "down"
    return "unsubscribed" if "unsubscribed" in states else "subscribing"


def subscriptions_text(h: Any) -> str | None:
    """``"subscribed/requested"`` topics of a live venue, None without a feed."""
    if not isinstance(h, dict) or not h.get("requested"):
        return None
    return f"{h.get('subscribed', 0)}/{h['requested']}"


async def compute_health(state: AppState) -> dict[str, Any]:
    """Per-venue health: connection state (live aggregator), subscriptions
    (``subscribed/requested``; ``degraded`` when some topic is not subscribed,
    ``unsubscribed`` when a liquidation topic is not), events, last event/receipt age, and the
    open-interest values stored (``accepted``) and rejected by the guard per reason."""
    agg_health: dict[str, Any] = {}
    if state.aggregator is not None and hasattr(state.aggregator, "health_check_all"):
        try:
            res = state.aggregator.health_check_all()
            if asyncio.iscoroutine(res):
                res = await asyncio.wait_for(res, 5)
            agg_health = dict(res or {})
        except Exception as exc:  # report, do not fail the endpoint
            agg_health = {"_error": str(exc)}

    def db_part():
        with state.cursor() as cur:
            return duckdb_reads.coverage(cur), duckdb_reads.gaps(cur, 20)

    cov, gaps = await run_in_threadpool(db_part)
    market = state.market_stats() or {"oi_rejected": {}, "oi_accepted": {}}
    now = state.now_ms()
    wall = now_ms()
    pstats = state.pipeline.stats if state.pipeline else None
    out = []
    names = list(dict.fromkeys([*VENUE_NAMES, *(c["exchange"] for c in cov)]))
    for name in names:
        rows = [c for c in cov if c["exchange"] == name]
        last = max((r["last_ms"] for r in rows), default=None)
        last_recv = pstats.last_received_ms.get(name) if pstats else None
        h = agg_health.get(name)
        if h is not None and not isinstance(h, dict):
            h = msgspec.to_builtins(h)
        if state.mode == "replay":
            status = "replay" if rows else "no data"
        elif name not in state.enabled:
            status = "disabled"
        elif isinstance(h, dict) and (h.get("is_connected") is False or h.get("connected") is False):
            status = connection_status(h)
        elif isinstance(h, dict) and h.get("subscribed", 0) < h.get("requested", 0):
            status = "degraded"
        elif last_recv is not None and wall - last_recv > venue_stale_after_s(name, state.settings.ws_timeout) * 1000:
            status = "stale"
        else:
            status = "ok"
        out.append({
            "exchange": name,
            "enabled": name in state.enabled,
            "status": status,
            "events": sum(r["count"] for r in rows),
            "session_events": pstats.by_exchange.get(name, 0) if pstats else 0,
            "last_event_ms": last,
            "last_event_age_s": (now - last) / 1000 if last is not None else None,
            "last_received_ms": last_recv,
            "subscriptions": subscriptions_text(h),
            "warnings": list(h.get("warnings") or []) if isinstance(h, dict) else [],
            "open_interest": {"accepted": market["oi_accepted"].get(name, 0),
                              "rejected": market["oi_rejected"].get(name, {})},
            "connection": h,
            "gaps": [g for g in gaps if g["exchange"] == name][:5],
        })
    return {"meta": state.meta(cached_for_s=HEALTH_TTL_S), "exchanges": out}


@router.get("/health")
async def exchanges_health(state: State):
    """Per-venue health, cached for 10 s (the aggregator's health check may hit the network)."""
    cached = state._health_cache
    if cached and time.monotonic() - cached[0] < HEALTH_TTL_S:
        return cached[1]
    data = await compute_health(state)
    state._health_cache = (time.monotonic(), data)
    return data
