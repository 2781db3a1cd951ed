"""Heatmap HTTP API (FastAPI ``router``; the app factory includes it).

Endpoints (all JSON; times ms UTC; prices/notional USDT):

* ``GET /liquidations/heatmap-timeseries?symbol=ETHUSDT&time_window=7d`` (or ``start_time``,
  ``end_time`` in ms or ISO-8601; aliases ``timeframe``, ``start_ms``, ``end_ms``; ``interval``
  5m|15m|30m|1h|4h, default 15m; ``bin_size`` USDT; ``band_pct``)
  → ``{meta, data: [{timestamp, levels: [{price, long, short}]}]}``. ``meta`` states that the
  values are an ESTIMATE and lists the assumptions (ladder, weights, mmr, step, bin, coverage);
  ``meta.total_snapshots`` = number of columns, ``meta.start_ms``/``end_ms`` = first/last column.
* ``GET /prices/klines?symbol=&interval=15m&limit=100[&start_time=&end_time=]`` → ``{symbol, interval,
  source, count, data: [{open_time, open, high, low, close, quote_volume}]}`` (most recent ``limit``,
  or those in the window; finer klines resampled).
* ``GET /liquidations/liquidation-map?symbol=BTCUSDT[&end_time=]`` → the map at one instant by price
  bin, side and leverage tier (``{meta, levels: [{price, long: [USD per tier], short: [...]}]}``).
* ``GET /data/date-range?symbol=`` → per-table ``{start, end, rows}``.
* ``GET /data/symbols`` → ``{symbols: [...]}``.

``symbol`` is an archive symbol (``BTCUSDT``) or its underlying (``BTC``: its USDT perpetual, else
its only symbol), as the realized-liquidation endpoints read it.

Errors: 422 with a reason for bad parameters, 404 for an unknown symbol (the body lists the
known ones) or an empty window.

**Live.** For an underlying ``serve`` keeps current (``--heatmap-symbols``; ``BTCUSDT`` and ``BTC``
both name BTC) the time series is the LIVE result: the steps the running model stored
(:mod:`liqmap.serve.heatmap`, :func:`liqmap.heatmap.live_view.live_timeseries`), ``meta.source``
``"live"``, with the reference instrument and the open-interest venues that contributed (and
the steps where their aggregate was partial) in ``meta``. ``end_time`` defaults to the newest
step. Other symbols are computed from the archive tables as before (``meta`` without ``source``).

**Database.** Every endpoint reads the app's own database (:class:`liqmap.api.state.AppState`,
a cursor per request from :func:`liqmap.api.deps.db_cursor`) through
:mod:`liqmap.storage.archive_reads` and the model; no second connection.
Heatmap bodies are sent gzip-compressed when the client accepts gzip (a 30-day 15-minute
series is ~10 MB of JSON, ~1.5 MB gzipped). Results are cached in-process (LRU, 16 entries,
stored gzipped) keyed by the parameters and the ingest
state (row counts of the OI/klines tables and the last ``ingest_log`` load time), so a new
ingest or REST collection invalidates the cache.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import OrderedDict

import msgspec
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response

from liqmap.api.errors import echo
from liqmap.api.deps import Cursor, WindowQ, one_of, parse_time, parse_window
from liqmap.fmt import iso
from liqmap.heatmap.live_view import live_timeseries_json
from liqmap.heatmap.model import INTERVAL_MS, NoData, UnknownSymbol, get_heatmap_timeseries_json
from liqmap.storage.heatmap_store import latest_step
from liqmap.storage.archive_reads import data_version, date_range, known_symbols, latest_price_time, price_steps

router = APIRouter(tags=["heatmap"])

_ENC = msgspec.json.Encoder()
_CACHE: "OrderedDict[tuple, bytes]" = OrderedDict()
_CACHE_MAX = 16
_LOCK = threading.Lock()
_SYMBOLS: dict[tuple, list[str]] = {}
HEATMAP_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h")  # 1m: a serve run with --heatmap-step 1m
MAX_STEPS = 20_000


def clear_cache() -> None:
    """Drop all cached heatmap responses."""
    with _LOCK:
        _CACHE.clear()
        _SYMBOLS.clear()


def _json(body: bytes | dict, cache: str = "miss") -> Response:
    content = body if isinstance(body, bytes) else _ENC.encode(body)
    return Response(content=content, media_type="application/json", headers={"X-Cache": cache})


def _gz_response(gz: bytes, request: Request, cache: str) -> Response:
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(content=gz, media_type="application/json",
                        headers={"X-Cache": cache, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(content=gzip.decompress(gz), media_type="application/json",
                    headers={"X-Cache": cache, "Vary": "Accept-Encoding"})


def _symbol_or_404(cur, symbol: str) -> str:
    sym = symbol.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_\-]{2,40}", sym):
        raise HTTPException(422, f"symbol must be letters/digits (e.g. ETHUSDT), got {echo(symbol)}")
    ver = data_version(cur)
    with _LOCK:
        known = _SYMBOLS.get(ver)
    if known is None:
        known = known_symbols(cur)
        with _LOCK:
            _SYMBOLS.clear()
            _SYMBOLS[ver] = known
    if sym in known:
        return sym
    resolved = _underlying_symbol(sym, known)
    if resolved is None:
        raise HTTPException(404, {"reason": f"unknown symbol {sym}", "known_symbols": known})
    return resolved


def _underlying_symbol(sym: str, known: list[str]) -> str | None:
    """The archive symbol an underlying names (``BTC`` -> ``BTCUSDT``, as the realized endpoints
    read it, :func:`liqmap.symbols.base_of`): its USDT perpetual, else its only symbol; None
    when there is none or several."""
    from liqmap.symbols import base_of

    base = base_of(sym)
    same = [k for k in known if base_of(k) == base]
    if f"{base}USDT" in same:
        return f"{base}USDT"
    return same[0] if len(same) == 1 else None


def _latest_end(cur, symbol: str) -> int:
    t = latest_price_time(cur, symbol)
    if t is None:
        raise HTTPException(404, f"no price data for {symbol}")
    return t


@router.get("/liquidations/heatmap-timeseries")
def heatmap_timeseries(
    request: Request,
    cur: Cursor,
    win: WindowQ,
    symbol: str = Query(..., description="e.g. ETHUSDT"),
    interval: str = Query("15m", description="column width: 5m, 15m, 30m, 1h, 4h (a multiple of the model step: 5m; a live serve's --heatmap-step: 1m..1h)"),
    bin_size: float | None = Query(None, gt=0, allow_inf_nan=False, description="display price bin, USDT"),
    band_pct: float = Query(10.0, gt=0, le=50, description="levels within ±band_pct % of the step close"),
) -> Response:
    """Estimated liquidation levels per time step (see module docstring)."""
    if interval not in HEATMAP_INTERVALS:
        raise HTTPException(422, f"interval must be one of {list(HEATMAP_INTERVALS)}, got {echo(interval)}")
    time_window, start_q, end_q = win.time_window, win.start, win.end
    live = _live(request, cur, symbol, time_window, start_q, end_q, interval, bin_size, band_pct)
    if live is not None:
        return live
    sym = _symbol_or_404(cur, symbol)
    end = end_q if end_q is not None else _latest_end(cur, sym) + INTERVAL_MS[interval]
    start = _window(end, time_window, start_q, interval)
    key = (sym, start, end, interval, bin_size, band_pct, data_version(cur))
    return _cached(request, key, lambda: get_heatmap_timeseries_json(sym, start, end, interval, bin_size=bin_size,
                                                                     band_pct=band_pct, con=cur))


def _cached(request: Request, key: tuple, compute) -> Response:
    """The gzipped JSON body cached under ``key`` (LRU of :data:`_CACHE_MAX`), else ``compute()``'s
    bytes, gzipped and kept. The model's errors become 404 (unknown symbol with the known ones, no
    data) or 422 (a bad value)."""
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return _gz_response(hit, request, "hit")
    try:
        body = compute()
    except UnknownSymbol as exc:
        raise HTTPException(404, {"reason": str(exc), "known_symbols": exc.known}) from None
    except NoData as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    gz = gzip.compress(body, compresslevel=1, mtime=0)
    with _LOCK:
        _CACHE[key] = gz
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return _gz_response(gz, request, "miss")


def _window(end: int, time_window: str | None, start_time: int | None, interval: str) -> int:
    """Start of the requested window (422 on bad or contradicting parameters)."""
    if start_time is not None:
        if time_window is not None:
            raise HTTPException(422, "give either time_window or start_time, not both")
        start = start_time
    else:
        try:
            start = end - parse_window(time_window or "7d")
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    if end <= start:
        raise HTTPException(422, f"end_time ({iso(end)}) must be after start_time ({iso(start)})")
    if (end - start) // INTERVAL_MS[interval] > MAX_STEPS:
        raise HTTPException(422, f"too many steps (> {MAX_STEPS}); use a larger interval or a shorter window")
    return start


def _live(request: Request, cur, symbol: str, time_window, start_time, end_time, interval, bin_size,
          band_pct) -> Response | None:
    """The live result for an underlying serve tracks (module docstring), else None."""
    service = getattr(request.app.state.liqmap, "heatmap", None)
    if service is None:
        return None
    try:
        from liqmap.symbols import parse_symbol

        base = parse_symbol(symbol).base
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    ref = service.reference_name(base)
    newest = latest_step(cur, base, service.served.version) if ref else None
    if newest is None:
        return None
    end = end_time if end_time is not None else newest
    start = _window(end, time_window, start_time, interval)
    key = ("live", base, start, end, interval, bin_size, band_pct, newest)

    def compute() -> bytes:
        body = live_timeseries_json(cur, service.served, base, ref, start, end, interval, bin_size, band_pct,
                                    service.step_ms)
        if body is None:
            raise HTTPException(404, f"no live {interval} step for {base} between {iso(start)} and {iso(end)}")
        return body

    return _cached(request, key, compute)


@router.get("/liquidations/liquidation-map")
def liquidation_map_view(
    request: Request,
    cur: Cursor,
    symbol: str = Query(..., description="e.g. BTCUSDT"),
    end_time: str | None = Query(None, description="ms UTC or ISO-8601: the map at the last model step "
                                                   "ending at or before it; default = last data"),
    end_ms: str | None = Query(None, description="alias of end_time"),
    bin_size: float | None = Query(None, gt=0, allow_inf_nan=False, description="price bin, USDT"),
    band_pct: float = Query(10.0, gt=0, le=50, description="levels within ±band_pct % of the price"),
) -> Response:
    """Coinglass-style liquidation map: the served model's open liquidation levels at one instant by
    price bin, side and leverage tier (:mod:`liqmap.heatmap.liquidation_map`): ``{meta: {symbol,
    time_ms, price, bin_size, tiers, ...}, levels: [{price, long: [USD per tier], short: [...]}]}``."""
    from liqmap.heatmap.liquidation_map import liquidation_map

    sym = _symbol_or_404(cur, symbol)
    end_q = parse_time(one_of("end_time", end_time, "end_ms", end_ms), "end_time")
    end = end_q if end_q is not None else _latest_end(cur, sym) + INTERVAL_MS["5m"]
    key = ("map", sym, end // INTERVAL_MS["5m"], bin_size, band_pct, data_version(cur))
    return _cached(request, key, lambda: _ENC.encode(liquidation_map(cur, sym, end, bin_size=bin_size,
                                                                     band_pct=band_pct)))


@router.get("/prices/klines")
def prices_klines(
    cur: Cursor,
    symbol: str = Query(...),
    interval: str = Query("15m"),
    limit: int = Query(100, ge=1, le=5000),
    start_time: str | None = Query(None, description="ms UTC or ISO-8601: candles opening at or after it"),
    end_time: str | None = Query(None, description="ms UTC or ISO-8601; default = last data"),
    start_ms: str | None = Query(None, description="alias of start_time"),
    end_ms: str | None = Query(None, description="alias of end_time"),
) -> Response:
    """OHLC candles of ``interval`` (resampled from finer klines or aggTrades): the most recent
    ``limit`` ending at ``end_time``, or those opening in ``[start_time, end_time)`` (at most
    ``limit``). ``{symbol, interval, source, count, data: [{open_time, open, high, low, close,
    quote_volume}]}``."""
    if interval not in INTERVAL_MS:
        raise HTTPException(422, f"interval must be one of {list(INTERVAL_MS)}, got {echo(interval)}")
    start_q = parse_time(one_of("start_time", start_time, "start_ms", start_ms), "start_time")
    end_q = parse_time(one_of("end_time", end_time, "end_ms", end_ms), "end_time")
    sym = _symbol_or_404(cur, symbol)
    step = INTERVAL_MS[interval]
    end = end_q if end_q is not None else _latest_end(cur, sym) + step
    lo = end - limit * step if start_q is None else start_q
    if end <= lo:
        raise HTTPException(422, f"end_time ({iso(end)}) must be after start_time ({iso(lo)})")
    rows, src = price_steps(cur, sym, lo, end, step)
    if rows is None:
        raise HTTPException(404, f"no candles for {sym} between {iso(lo)} and {iso(end)}")
    cols = list(rows.keys())
    te = np.asarray(rows[cols[0]], dtype=np.int64)
    vals = [np.ma.asarray(rows[c], dtype=float).filled(np.nan) for c in cols[1:6]]
    candles = [{"open_time": int(t - step), "open": o, "high": h, "low": lo_, "close": c,
                "quote_volume": None if v != v else v}
               for t, o, h, lo_, c, v in zip(te.tolist(), *(x.tolist() for x in vals))]
    data = candles[-limit:] if start_q is None else candles[:limit]
    return _json({"symbol": sym, "interval": interval, "source": src, "count": len(data), "data": data})


@router.get("/data/date-range")
def data_date_range(cur: Cursor, symbol: str = Query(...)) -> Response:
    """First/last timestamp (ms UTC) and row count per history table for ``symbol``."""
    sym = _symbol_or_404(cur, symbol)
    return _json({"symbol": sym, "tables": date_range(cur, sym)})


@router.get("/data/symbols")
def data_symbols(cur: Cursor) -> Response:
    """Symbols with price history."""
    return _json({"symbols": known_symbols(cur)})


__all__ = ["router", "clear_cache"]
