"""``/liquidations/*``: realized-liquidation heatmap, recent feed, stats, cascades.

All windows end at the app clock (wall clock live, latest replayed event in replay
mode); every response carries ``meta = {mode, now_ms, ...}``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from liqmap.storage import duckdb_reads
from liqmap.api.deps import get_state, parse_exchanges, parse_timeframe, resolve_symbol, window
from liqmap.api.state import AppState
from liqmap.units import MINUTE_MS, SECOND_MS

router = APIRouter(prefix="/liquidations", tags=["liquidations"])

State = Annotated[AppState, Depends(get_state)]
SAMPLED_NOTE = ("Binance publishes at most one liquidation per symbol per second and BitMEX rows "
                "carry no exchange time: totals are lower bounds.")


_enc = msgspec.json.Encoder()


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/heatmap")
async def liquidation_heatmap(
    state: State,
    symbol: str = Query("BTCUSDT", description="Symbol or underlying; BTCUSDT matches every BTC perpetual"),
    timeframe: str = Query("24h", description="1h, 4h, 12h, 24h, 7d, 30d or all"),
    exchanges: str | None = Query(None, description="Comma list of venue ids; default all"),
    level_size: float | None = Query(None, gt=0, allow_inf_nan=False, description="Price level size in quote units; default auto"),
):
    """Realized liquidations (USD) aggregated by price level x side, and by time bucket x level.

    ``levels[i].price`` is the level's lower edge (quote units); ``cells`` are
    ``{t (bucket start, ms UTC), price, long_usd, short_usd, count}``; ``price`` is the
    value-weighted liquidation price per bucket (overlay).
    """
    tf = parse_timeframe(timeframe)
    key = ("heatmap-body", symbol.strip().upper(), tf, (exchanges or "").lower(), level_size)
    hit = state.cache_peek(key)
    if hit is not None:  # hot path: same view within the last second, already encoded
        return _json(hit)

    def compute() -> bytes:
        ex = parse_exchanges(state, exchanges)
        base = resolve_symbol(state, symbol)
        start, end = window(state, tf)
        with state.cursor() as cur:
            data = duckdb_reads.heatmap(cur, base, start, end, ex, duckdb_reads.BUCKET_MS[tf], level_size)
        meta = state.meta(symbol=symbol, underlying=base, timeframe=tf, start_ms=start, end_ms=end,
                          exchanges=ex or "all", note=SAMPLED_NOTE)
        return _enc.encode({"meta": meta, **data})

    body = await run_in_threadpool(state.cached, key, compute)
    return _json(body)


@router.get("/recent")
def recent_liquidations(
    state: State,
    symbol: str | None = Query(None, description="Symbol or underlying; default all"),
    exchanges: str | None = Query(None),
    min_value_usd: float = Query(0.0, ge=0, allow_inf_nan=False),
    limit: int = Query(100, ge=1, le=1000),
):
    """Latest liquidations (newest first), each with the normalized Liquidation fields.

    Served from the in-memory tier when it holds them all (storage/reads.py), else DuckDB.
    """
    ex = parse_exchanges(state, exchanges)
    base = resolve_symbol(state, symbol, required=False)
    rows = state.reads.recent(base, ex, min_value_usd, limit, state.now_ms() if state.mode == "replay" else None)
    return {"meta": state.meta(symbol=symbol, underlying=base), "liquidations": rows}


@router.get("/stats")
def liquidation_stats(
    state: State,
    symbol: str | None = Query(None),
    timeframe: str = Query("24h"),
    exchanges: str | None = Query(None),
    bucket_minutes: int = Query(10, ge=1, le=1440, description="Timeline bucket, minutes"),
):
    """Totals, long/short split, per-exchange share, size tiers, largest event, timeline.

    Windows up to 1 h come from the in-memory tier when it holds the whole window, else DuckDB.
    """
    tf = parse_timeframe(timeframe)
    ex = parse_exchanges(state, exchanges)
    base = resolve_symbol(state, symbol, required=False)
    start, end = window(state, tf)
    s = state.settings

    def compute():
        return state.reads.stats(base, start, end, ex, s.large_usd, s.institutional_usd, bucket_minutes * MINUTE_MS)

    data = state.cached(("stats", base, tf, tuple(ex or ()), bucket_minutes), compute)
    meta = state.meta(symbol=symbol, underlying=base, timeframe=tf, start_ms=start, end_ms=end,
                      large_usd=s.large_usd, institutional_usd=s.institutional_usd)
    return {"meta": meta, **data}


@router.get("/cascades")
def liquidation_cascades(
    state: State,
    symbol: str | None = Query(None),
    timeframe: str = Query("24h"),
    exchanges: str | None = Query(None),
    window_seconds: int = Query(60, ge=1, le=3600),
    min_usd: float = Query(250_000.0, ge=0, allow_inf_nan=False),
    min_count: int = Query(5, ge=1),
):
    """Liquidation cascades, newest first.

    ``cascades``: bursts of >= ``min_usd`` and >= ``min_count`` events of one underlying
    within ``window_seconds`` (adjacent windows merged), computed over the stored events.
    ``detected``: cascades of the storage tier's streaming detector (``risk_score`` and
    ``severity`` from ``liqmap.analytics.risk``, status active/ended); windows up to 1 h from the
    in-memory tier (live status before the DuckDB commit), longer ones from the ``cascades`` table.
    """
    tf = parse_timeframe(timeframe)
    ex = parse_exchanges(state, exchanges)
    base = resolve_symbol(state, symbol, required=False)
    start, end = window(state, tf)
    with state.cursor() as cur:
        rows = duckdb_reads.cascades(cur, base, start, end, ex, window_seconds * SECOND_MS, min_usd, min_count)
    detected = state.reads.detected_cascades(base, start, end)
    if ex:
        detected = [c for c in detected if set(c["exchanges"]) & set(ex)]
    meta = state.meta(symbol=symbol, underlying=base, timeframe=tf, window_seconds=window_seconds,
                      min_usd=min_usd, min_count=min_count)
    return {"meta": meta, "cascades": rows, "detected": detected}


@router.get("/symbols")
def liquidation_symbols(state: State):
    """Underlyings with stored liquidations and their venue symbols."""
    with state.cursor() as cur:
        known = duckdb_reads.known_underlyings(cur)
    if known is None:
        raise HTTPException(500, "no data")
    return {"meta": state.meta(), "underlyings": known}
