"""The liquidation map (Coinglass's "Liquidation Map"): the served model's open liquidation
levels at ONE instant, per price bin, side and leverage tier.

The book of :mod:`liqmap.heatmap.engine` does not keep the tier a level came from, so the tiers
come from the same engine run once per ladder tier (that tier alone, its weight unchanged, every
other parameter the served one). Consumption, decay and the OI closes act on every cell alike, but
the contracts a step opens or closes depend on the WHOLE book's liquidations (voluntary change =
ΔOI + liquidated contracts), which a one-tier run sees only in part, so the tier books add up to
the served book only approximately (within 1.3 % of the total on the December 2025 BTCUSDT data;
``tests/test_liquidation_map.py``). They are used as proportions: each bin's served long/short USD
is split in the tiers' shares of that bin, so the map's totals ARE the served levels (the same
numbers as the heatmap time series' 5-minute column at that instant). Pure over a DuckDB read.

``liquidation_map(con, "BTCUSDT", end_ms)`` →
``{"meta": {symbol, time_ms, price, bin_size, band_pct, tiers, params_version, note, ...},
"levels": [{"price", "long": [USD per tier], "short": [USD per tier]}]}`` (prices ascending, the
lower edge of each ``bin_size`` bin within ±``band_pct`` % of the price, whole USD).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from liqmap.heatmap.model import NoData, _bins, _nice, default_warmup_ms, model_series
from liqmap.heatmap.params import ServedParams, load_params
from liqmap.heatmap.pipeline import run

NOTE = ("Estimated open liquidation levels (model, not observed) at one instant, split by the leverage "
        "tier the model assumes; longs below the price, shorts above.")


def _binned(p, close: float, snap, bin_size: float, band_pct: float) -> dict[float, tuple[int, int]]:
    origin, levels = snap
    prices, lo, sh = _bins(p, close, origin, levels, bin_size, band_pct)
    return {float(x): (int(a), int(b)) for x, a, b in zip(prices.tolist(), lo.tolist(), sh.tolist())}


def liquidation_map(con, symbol: str, end_ms: int, bin_size: float | None = None, band_pct: float = 10.0,
                    served: ServedParams | None = None) -> dict:
    """The map at the last model step ending at or before ``end_ms`` (module docstring).
    Raises :class:`~liqmap.heatmap.model.UnknownSymbol` / :class:`~liqmap.heatmap.model.NoData`."""
    served = served or load_params()
    p, step = served.params, served.step_ms
    end = (int(end_ms) // step) * step
    # the same simulation start as the heatmap time series' 5-minute column ending at ``end``, so the
    # map equals that column bin for bin
    series, used = model_series(con, symbol.upper(), end - step - default_warmup_ms(p), end, step)
    closes = series.close[np.isfinite(series.close)]
    if not len(closes):
        raise NoData(f"no price for {symbol} before the requested time")
    k = len(series) - 1
    close = float(closes[-1])
    size = float(bin_size) if bin_size else _nice(close * 0.0025)
    full = _binned(p, close, run(p, series, snapshot_steps=[k]).snapshots[k], size, band_pct)
    tiers = [_binned(p, close, run(replace(p, ladder=((lev, w),)), series, snapshot_steps=[k]).snapshots[k],
                     size, band_pct) for lev, w in p.ladder]
    levels = []
    for price in sorted(full):
        out = {"price": price, "long": [], "short": []}
        for side, key in ((0, "long"), (1, "short")):
            parts = np.array([t.get(price, (0, 0))[side] for t in tiers], dtype=float)
            total = full[price][side]
            share = parts / parts.sum() if parts.sum() > 0 else np.full(len(parts), 1 / len(parts))
            out[key] = [int(round(total * s)) for s in share]
        levels.append(out)
    meta = {"symbol": symbol.upper(), "time_ms": int(series.t_end[k]), "price": close, "bin_size": size,
            "band_pct": band_pct, "tiers": [f"{lev:g}x" for lev, _ in p.ladder], "params_version": served.version,
            "estimate": True, "note": NOTE, "units": {"long": "USD", "short": "USD", "price": "USD"},
            "sources": {"tables": used}}
    return {"meta": meta, "levels": levels}
