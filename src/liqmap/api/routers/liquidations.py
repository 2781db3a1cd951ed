"""``/liquidations/*``: realized-liquidation heatmap, recent feed, stats, cascades.

Windows end at the app clock (wall clock live, latest replayed event in replay mode) unless
``end_time`` says otherwise; parameters follow the one vocabulary of :mod:`liqmap.api.deps`
(``time_window`` alias ``timeframe``, ``start_time``/``end_time`` in ms or ISO-8601 with aliases
``start_ms``/``end_ms``). Every response carries ``meta = {mode, now_ms, start_ms, end_ms, ...}``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from liqmap.storage import duckdb_reads
from liqmap.api.errors import MAX_ECHO
from liqmap.api.deps import RangeQ, ScopeQ, WindowQ, bucket_ms_for, get_state, parse_exchanges, resolve_symbol
from liqmap.api.state import AppState
from liqmap.units import CASCADE_MIN_USD, MINUTE_MS, SECOND_MS

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
    win: WindowQ,
    symbol: str = Query("BTCUSDT", description="Symbol or underlying; BTCUSDT matches every BTC perpetual"),
    exchanges: str | None = Query(None, description="Comma list of venue ids; default all"),
    level_size: float | None = Query(None, gt=0, allow_inf_nan=False, description="Price level size in quote units; default auto"),
):
    """Realized liquidations (USD) aggregated by price level x side, and by time bucket x level.

    ``levels[i].price`` is the level's lower edge (quote units); ``cells`` are
    ``{t (bucket start, ms UTC), price, long_usd, short_usd, count}``; ``price`` is the
    value-weighted liquidation price per bucket (overlay).
    """
    # keyed on what the parameters RESOLVE to (underlying, venues), never on the raw text: a
    # million spellings of BTC share one entry (the response echoes the symbol, cut to 64 chars)
    ex = parse_exchanges(state, exchanges)
    base = resolve_symbol(state, symbol)
    key = ("heatmap-body", base, win.key(), tuple(ex or ()), level_size)
    hit = state.cache_peek(key)
    if hit is None:
        def compute() -> tuple[dict, bytes]:
            start, end, tf = win.resolve(state)
            with state.cursor() as cur:
                data = duckdb_reads.heatmap(cur, base, start, end, ex, bucket_ms_for(tf, start, end), level_size)
            fields = dict(underlying=base, time_window=tf, timeframe=tf, start_ms=start, end_ms=end,
                          exchanges=ex or "all", note=SAMPLED_NOTE)
            return fields, _enc.encode(data)

        hit = await run_in_threadpool(state.cached, key, compute)
    fields, data = hit
    meta = _enc.encode(state.meta(symbol=symbol.strip()[:MAX_ECHO], **fields))
    return _json(b'{"meta":' + meta + (b"," + data[1:] if len(data) > 2 else b"}"))


@router.get("/recent")
def recent_liquidations(
    state: State,
    scope: ScopeQ,
    rng: RangeQ,
    min_value_usd: float = Query(0.0, ge=0, allow_inf_nan=False),
    limit: int = Query(100, ge=1, le=1000),
):
    """Latest ``limit`` liquidations (newest first) in ``(start_time, end_time]`` (end default:
    now), each with the normalized Liquidation fields.

    Served from the in-memory tier when it holds them all (storage/reads.py), else DuckDB.
    """
    base, ex = scope.resolve(state)
    start, end = rng.start, rng.end
    if end is None and state.mode == "replay":
        end = state.now_ms()
    rows = state.reads.recent(base, ex, min_value_usd, limit, end)
    if start is not None:
        rows = [r for r in rows if r["timestamp"] > start]
    return {"meta": state.meta(symbol=scope.symbol, underlying=base, start_ms=start, end_ms=end), "liquidations": rows}


@router.get("/stats")
def liquidation_stats(
    state: State,
    win: WindowQ,
    scope: ScopeQ,
    bucket_minutes: int = Query(10, ge=1, le=1440, description="Timeline bucket, minutes"),
):
    """Totals, long/short split, per-exchange share, size tiers, largest event, timeline.

    Windows up to 1 h come from the in-memory tier when it holds the whole window, else DuckDB.
    """
    base, ex = scope.resolve(state)
    start, end, tf = win.resolve(state)
    s = state.settings

    def compute():
        return state.reads.stats(base, start, end, ex, s.large_usd, s.institutional_usd, bucket_minutes * MINUTE_MS)

    data = state.cached(("stats", base, tf, start if tf == "custom" else None, end if tf == "custom" else None,
                         tuple(ex or ()), bucket_minutes), compute)
    meta = state.meta(symbol=scope.symbol, underlying=base, time_window=tf, timeframe=tf, start_ms=start, end_ms=end,
                      large_usd=s.large_usd, institutional_usd=s.institutional_usd)
    return {"meta": meta, **data}


@router.get("/cascades")
def liquidation_cascades(
    state: State,
    win: WindowQ,
    scope: ScopeQ,
    window_seconds: int = Query(60, ge=1, le=3600),
    min_usd: float = Query(CASCADE_MIN_USD, ge=0, allow_inf_nan=False,
                           description="a burst's total within window_seconds, USD (the detector's threshold)"),
    min_count: int = Query(5, ge=1, le=1_000_000),
):
    """Liquidation cascades, newest first.

    ``cascades``: bursts of >= ``min_usd`` and >= ``min_count`` events of one underlying
    within ``window_seconds`` (adjacent windows merged), computed over the stored events.
    ``detected``: cascades of the storage tier's streaming detector (``risk_score`` and
    ``severity`` from ``liqmap.analytics.risk``, status active/ended); windows up to 1 h from the
    in-memory tier (live status before the DuckDB commit), longer ones from the ``cascades`` table.
    Both use the field names of ``liqmap cascades --json``.
    """
    base, ex = scope.resolve(state)
    start, end, tf = win.resolve(state)
    with state.cursor() as cur:
        rows = duckdb_reads.cascades(cur, base, start, end, ex, window_seconds * SECOND_MS, min_usd, min_count)
    detected = state.reads.detected_cascades(base, start, end)
    if ex:
        detected = [c for c in detected if set(c["exchanges"]) & set(ex)]
    meta = state.meta(symbol=scope.symbol, underlying=base, time_window=tf, timeframe=tf, start_ms=start, end_ms=end,
                      window_seconds=window_seconds, min_usd=min_usd, min_count=min_count)
    return {"meta": meta, "cascades": rows, "detected": detected}


@router.get("/symbols")
def liquidation_symbols(state: State):
    """Underlyings with stored liquidations and their venue symbols."""
    with state.cursor() as cur:
        known = duckdb_reads.known_underlyings(cur)
    if known is None:
        raise HTTPException(500, "no data")
    return {"meta": state.meta(), "underlyings": known}
