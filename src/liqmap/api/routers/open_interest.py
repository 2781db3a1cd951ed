"""``GET /open-interest/aggregated``: one open-interest series per underlying across venues.

Query: ``symbol`` (an underlying or any of its symbols: ``BTC``, ``BTCUSDT``), ``interval``
(5m, 15m, 1h, 4h, 1d; default 5m), ``time_window`` (default 1d) or ``start_time``/``end_time``
(ms UTC; ``end_time`` default: the newest stored value), ``quotes`` (comma list of quote
currencies, e.g. ``USDT,USDC``; default all), ``exchanges`` (comma list; default all).

Answer ``{meta, data: [{timestamp, open_interest, open_interest_usd, partial, venues, missing}]}``:
per step ``(timestamp - interval, timestamp]`` the sum over the venue perpetuals that reported
(each one's last stored value: the live collectors' samples and the REST backfill,
``storage.market_reads.oi_per_step``), in base units (one side of the book) and USD;
``partial`` when a perpetual that reported within the six hours before did not
(:mod:`liqmap.analytics.oi_aggregate`), with the ones that did (``venues``) and did not
(``missing``). ``meta.venues`` lists every perpetual that contributed to the window. Values the
open-interest guard rejected were never stored. 422 for bad parameters, 404 when nothing is
stored for the symbol in the window.
"""

from __future__ import annotations


from fastapi import APIRouter, HTTPException, Query

from liqmap.analytics.oi_aggregate import OIChain
from liqmap.api.errors import MAX_TIME_MS, echo
from liqmap.api.deps import Cursor
from liqmap.api.deps import parse_window
from liqmap.storage import market_reads as mr
from liqmap.units import INTERVAL_MS

router = APIRouter(tags=["open interest"])
INTERVALS = ("5m", "15m", "1h", "4h", "1d")
MAX_POINTS = 20_000


def _list(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _num(x: float) -> float | None:
    return None if x != x else x


@router.get("/open-interest/aggregated")
def open_interest_aggregated(
    cur: Cursor,
    symbol: str = Query(..., description="underlying or one of its symbols: BTC, BTCUSDT"),
    interval: str = Query("5m", description="step: 5m, 15m, 1h, 4h, 1d"),
    time_window: str | None = Query(None, description="e.g. 1d; default 1d when no start_time"),
    start_time: int | None = Query(None, ge=0, le=MAX_TIME_MS, description="ms UTC"),
    end_time: int | None = Query(None, ge=0, le=MAX_TIME_MS, description="ms UTC; default = newest value"),
    quotes: str | None = Query(None, description="quote currencies, e.g. USDT,USDC; default all"),
    exchanges: str | None = Query(None, description="venues, e.g. binance,bybit,okx; default all"),
):
    """The aggregate open interest of one underlying (module docstring)."""
    from liqmap.symbols import parse_symbol

    if interval not in INTERVALS:
        raise HTTPException(422, f"interval must be one of {list(INTERVALS)}, got {echo(interval)}")
    try:
        base = parse_symbol(symbol).base
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    step = INTERVAL_MS[interval]
    q, ex = _list(quotes), _list(exchanges)
    newest = max(mr.oi_complete_through(cur, base, 0, q, ex).values(), default=None)
    if newest is None:
        raise HTTPException(404, f"no open interest stored for {base}")
    end = -(-(end_time if end_time is not None else newest) // step) * step
    try:
        start = start_time if start_time is not None else end - parse_window(time_window or "1d")
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if start >= end or (end - start) // step > MAX_POINTS:
        raise HTTPException(422, f"need start < end and at most {MAX_POINTS} steps")
    first = (start // step + 1) * step
    # six hours before the window tell which venues are expected at its first steps
    warm = max(first - OIChain().expect_ms, 0) // step * step + step
    per = mr.oi_per_step(cur, base, warm, end, step, q, ex)
    chain, data, venues = OIChain(), [], set()
    for t in range(warm, end + 1, step):
        a = chain.step(t, {i.key: v[t] for i, v in per.items() if t in v})
        if t >= first and a.present:
            venues.update(a.present)
            data.append({"timestamp": t, "open_interest": _num(a.total), "open_interest_usd": _num(a.total_usd),
                         "partial": a.partial, "venues": list(a.present), "missing": list(a.missing)})
    if not data:
        raise HTTPException(404, f"no open interest for {base} between {start} and {end}")
    meta = {"symbol": base, "interval": interval, "start": data[0]["timestamp"], "end": data[-1]["timestamp"],
            "venues": sorted(venues), "quotes": q, "exchanges": ex,
            "partial_steps": sum(1 for d in data if d["partial"]),
            "units": {"open_interest": "base units, one side of the book", "open_interest_usd": "USD",
                      "timestamp": "ms UTC, step END"}}
    return {"meta": meta, "data": data}


__all__ = ["router"]
