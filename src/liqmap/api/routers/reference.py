"""``GET /reference/realized-hourly``: the realized liquidations shipped with liqmap as reference
data (CoinGlass's hourly BTC export, ``heatmap/reference/``; PROVENANCE.md there), so charts can
draw the realized long/short liquidations of the same period against the predicted levels.

``?symbol=BTC&start_time=&end_time=`` (ms or ISO-8601) → ``{meta: {source, note, exchanges,
symbol}, data: [{t_ms (hour END, ms UTC), long_usd, short_usd}]}`` for the hours ending in
``(start_time, end_time]``. Only BTC has a reference; any other underlying gets ``data: []`` and
a note. A third-party aggregate, labelled as such.
"""

from __future__ import annotations

import json
from functools import lru_cache

from fastapi import APIRouter, Query

from liqmap.api.deps import one_of, parse_time
from liqmap.heatmap.reference import REALIZED_1H, load_realized
from liqmap.symbols import parse_symbol

router = APIRouter(tags=["reference"])
SOURCE = "CoinGlass hourly export (third-party aggregate; its meta file names Binance, Bybit, OKX)"


@lru_cache(maxsize=1)
def _realized():
    r = load_realized()
    meta = json.loads(REALIZED_1H.with_name(REALIZED_1H.name.replace(".csv.gz", ".meta.json")).read_text())
    return r, meta


@router.get("/reference/realized-hourly")
def realized_hourly(
    symbol: str = Query("BTC", description="underlying or symbol (BTC, BTCUSDT)"),
    start_time: str | None = Query(None, description="ms UTC or ISO-8601"),
    end_time: str | None = Query(None, description="ms UTC or ISO-8601"),
    start_ms: str | None = Query(None, description="alias of start_time"),
    end_ms: str | None = Query(None, description="alias of end_time"),
):
    """Realized long/short liquidations per hour from the shipped reference (module docstring)."""
    start = parse_time(one_of("start_time", start_time, "start_ms", start_ms), "start_time")
    end = parse_time(one_of("end_time", end_time, "end_ms", end_ms), "end_time")
    try:
        base = parse_symbol(symbol).base
    except ValueError:
        base = symbol.strip().upper()
    r, meta = _realized()
    info = {"symbol": base, "source": SOURCE, "exchanges": (meta.get("requested") or {}).get("exchangeList"),
            "units": {"long_usd": "USD", "short_usd": "USD", "t_ms": "hour END, ms UTC"},
            "file": REALIZED_1H.name, "start_ms": start, "end_ms": end}
    if base != "BTC":
        return {"meta": {**info, "note": f"no reference realized liquidations for {base} (only BTC is shipped)"},
                "data": []}
    keep = [i for i, t in enumerate(r.t_end.tolist())
            if (start is None or t > start) and (end is None or t <= end)]
    return {"meta": info, "data": [{"t_ms": int(r.t_end[i]), "long_usd": float(r.long[i]),
                                    "short_usd": float(r.short[i])} for i in keep]}
