"""The live heatmap as the API serves it: stored steps (``storage.heatmap_store``) -> columns.

:func:`live_timeseries` answers ``GET /liquidations/heatmap-timeseries`` for an underlying
``serve`` keeps current: the columns are the stored book after the steps whose END is a
multiple of ``interval`` in ``(start, end]``, binned like the offline path
(:func:`liqmap.heatmap.model._bins`: display bins within ``band_pct`` of the step's close).
:func:`levels_message` is one step's ``levels`` websocket message. Both describe their inputs in
``meta``: parameter version and validation, the reference instrument, the open-interest venues
that contributed and the steps where the aggregate was partial.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from liqmap.heatmap.brackets import BRACKETS_AS_OF
from liqmap.heatmap.model import _bins, _nice
from liqmap.heatmap.params import ServedParams
from liqmap.storage import heatmap_store as hs
from liqmap.units import INTERVAL_MS

NOTE = ("Estimated liquidation levels (model, not observed), kept current by serve: positions inferred from "
        "open-interest changes across venues and the price path, assumed leverage ladder; levels removed when "
        "price crosses them.")


def dense(cells: np.ndarray, long_: np.ndarray, short: np.ndarray) -> tuple[int, np.ndarray]:
    """Sparse stored cells -> (origin, (2, n) levels) over ``cells[0] .. cells[-1]``."""
    origin = int(cells[0])
    out = np.zeros((2, int(cells[-1]) - origin + 1))
    out[0, cells - origin] = long_
    out[1, cells - origin] = short
    return origin, out


def binned(served: ServedParams, close: float, cells, long_, short, bin_size: float, band_pct: float) -> list[dict]:
    """``[{price, long, short}]`` display bins of one column (whole USD, non-empty only)."""
    if not len(cells) or close != close:
        return []
    origin, lv = dense(cells, long_, short)
    prices, lo, sh = _bins(served.params, close, origin, lv, bin_size, band_pct)
    return [{"price": p, "long": a, "short": b} for p, a, b in zip(prices.tolist(), lo.tolist(), sh.tolist())]


def _oi_meta(steps: list[dict]) -> dict[str, Any]:
    venues = sorted({v for s in steps for v in s["oi_present"]})
    last = steps[-1] if steps else None
    return {"venues": venues, "partial_steps": sum(1 for s in steps if s["oi_partial"]),
            "last": None if last is None else {"t_end": last["t_end"], "partial": last["oi_partial"],
                                                "present": list(last["oi_present"]), "missing": list(last["oi_missing"]),
                                                "open_interest": last["oi_total"], "open_interest_usd": last["oi_total_usd"]},
            "units": "base units (one side of the book) summed over the venues' USDT perpetuals"}


def live_timeseries(cur: duckdb.DuckDBPyConnection, served: ServedParams, base: str, reference: str, start: int,
                    end: int, interval: str, bin_size: float | None, band_pct: float) -> dict | None:
    """``{meta, data: [{timestamp, levels: [{price, long, short}]}]}`` of the stored live steps, or
    None when no column of ``interval`` lies in ``(start, end]``. Raises ValueError for an interval
    that is not a whole number of model steps."""
    iv = INTERVAL_MS[interval]
    if iv % served.step_ms:
        raise ValueError(f"interval {interval} is not a whole number of model steps ({served.step_ms // 60_000}m)")
    steps = hs.read_steps(cur, base, served.version, start + 1, end)
    cols = [s for s in steps if s["t_end"] % iv == 0]
    if not cols:
        return None
    closes = np.array([np.nan if s["close"] is None else s["close"] for s in steps])
    if bin_size is None:
        bin_size = _nice(float(np.nanmedian(closes)) * 0.0025) if np.isfinite(closes).any() else 1.0
    stored = hs.read_columns(cur, base, served.version, [s["t_end"] for s in cols])
    data, last_close = [], np.nan
    for s in steps:  # the band follows the last known close
        last_close = s["close"] if s["close"] is not None else last_close
        if s["t_end"] % iv == 0:
            cells = stored.get(s["t_end"])
            levels = [] if cells is None else binned(served, last_close, *cells, bin_size, band_pct)
            data.append({"timestamp": s["t_end"], "levels": levels})
    meta = {
        "symbol": base, "interval": interval, "model_step": f"{served.step_ms // 60_000}m", "source": "live",
        "start_ms": cols[0]["t_end"], "end_ms": cols[-1]["t_end"], "start": cols[0]["t_end"], "end": cols[-1]["t_end"],
        "steps": len(cols), "total_snapshots": len(cols), "estimate": True, "note": NOTE,
        "params_version": served.version, "validation": served.meta(), "params": served.params.to_dict(),
        "brackets_as_of": BRACKETS_AS_OF, "bin_size": bin_size, "band_pct": band_pct,
        "units": {"long": "USD", "short": "USD", "price": "USD", "timestamp": "ms UTC, step END"},
        "reference": reference, "open_interest": _oi_meta(steps),
        "consumption": "traded high/low of each model step (last price of the reference instrument)",
    }
    return {"meta": meta, "data": data}


def levels_message(served: ServedParams, base: str, reference: str, step: Any, band_pct: float = 10.0) -> dict:
    """The websocket ``levels`` message of one live step (``LiveStep``): the book after it, binned
    around its close (bin = a round number near 0.25 % of the close)."""
    close = step.close
    bin_size = _nice(close * 0.0025) if close == close else 1.0
    cells = hs.sparse_cells(step.origin, step.levels) if step.levels is not None else ([], [], [])
    agg = step.aggregate
    return {"type": "levels", "symbol": base, "timestamp": step.t_end,
            "model_step": f"{served.step_ms // 60_000}m", "close": None if close != close else close,
            "bin_size": bin_size, "band_pct": band_pct,
            "levels": binned(served, close, *cells, bin_size, band_pct),
            "consumed": {"long": float(step.consumed[0]), "short": float(step.consumed[1])},
            "meta": {"params_version": served.version, "reference": reference, "estimate": True,
                     "open_interest": {"value": None if step.oi != step.oi else step.oi, "partial": agg.partial,
                                       "present": list(agg.present), "missing": list(agg.missing)}}}
