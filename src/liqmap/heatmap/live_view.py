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

import math
from typing import Any

import duckdb
import numpy as np

from liqmap.heatmap.brackets import BRACKETS_AS_OF
from liqmap.heatmap.model import _ENCODER, Column, Level, _nice, default_bin_size
from liqmap.heatmap.params import ServedParams
from liqmap.storage import heatmap_store as hs
from liqmap.units import INTERVAL_MS, MINUTE_MS

NOTE = ("Estimated liquidation levels (model, not observed), kept current by serve: positions inferred from "
        "open-interest changes across venues and the price path, assumed leverage ladder; levels removed when "
        "price crosses them.")


def band_edges(g: float, close: float, band_pct: float) -> tuple[int, int] | None:
    """Global cells ``[lo, hi)`` whose level price lies within ±``band_pct`` % of ``close`` (the
    offline binner's band, :func:`liqmap.heatmap.model._bins`), None for an unknown close."""
    if close != close:
        return None
    return (math.ceil(math.log(close * (1 - band_pct / 100)) / g - 0.5),
            math.floor(math.log(close * (1 + band_pct / 100)) / g - 0.5) + 1)


def bin_columns(g: float, col: np.ndarray, cells: np.ndarray, long_: np.ndarray, short: np.ndarray,
                edges: list[tuple[int, int] | None], bin_size: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Display bins of many stored columns at once.

    ``col`` (R,) column index of each stored row, non-decreasing, ``cells`` (R,) its global cell
    (ascending within a column), ``long_``/``short`` (R,) USD; ``edges[k]`` the band of column
    ``k`` (:func:`band_edges`). Returns per column (bin lower edges USD, long, short whole USD),
    non-empty bins only -- the offline binner's result for the same levels (cells under
    :data:`~liqmap.storage.heatmap_store.MIN_CELL_USD` were not stored; zeros add nothing).
    """
    lo = np.array([e[0] if e else 0 for e in edges], dtype=np.int64)
    hi = np.array([e[1] if e else 0 for e in edges], dtype=np.int64)
    keep = (cells >= lo[col]) & (cells < hi[col])
    col, cells, long_, short = col[keep], cells[keep], long_[keep], short[keep]
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))] * len(edges)
    if not len(col):
        return out
    bidx = np.floor(np.exp((cells.astype(np.int64) + 0.5) * g) / bin_size).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], (bidx[1:] != bidx[:-1]) | (col[1:] != col[:-1]))))
    lo_ = np.round(np.add.reduceat(long_, starts)).astype(np.int64)
    sh = np.round(np.add.reduceat(short, starts)).astype(np.int64)
    nz = (lo_ > 0) | (sh > 0)
    gcol, price = col[starts][nz], np.round(bidx[starts][nz] * bin_size, 8)
    lo_, sh = lo_[nz], sh[nz]
    cuts = np.searchsorted(gcol, np.arange(len(edges) + 1))
    return [(price[a:b], lo_[a:b], sh[a:b]) if b > a else out[k] for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def _as_levels(binned: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[dict]:
    prices, lo, sh = binned
    return [{"price": p, "long": a, "short": b} for p, a, b in zip(prices.tolist(), lo.tolist(), sh.tolist())]


def binned(served: ServedParams, close: float, cells, long_, short, bin_size: float, band_pct: float) -> list[dict]:
    """``[{price, long, short}]`` display bins of one column (whole USD, non-empty only)."""
    cells = np.asarray(cells, dtype=np.int64)
    g = served.params.g
    return _as_levels(bin_columns(g, np.zeros(len(cells), dtype=np.int64), cells, np.asarray(long_, dtype=float),
                                  np.asarray(short, dtype=float), [band_edges(g, close, band_pct)], bin_size)[0])


def _oi_meta(cur: duckdb.DuckDBPyConnection, base: str, version: str, lo: int, hi: int) -> dict[str, Any]:
    venues, partial = hs.step_summary(cur, base, version, lo, hi)
    last = hs.read_steps(cur, base, version, lo, hi, newest=1)
    last = last[0] if last else None
    return {"venues": venues, "partial_steps": partial,
            "last": None if last is None else {"t_end": last["t_end"], "partial": last["oi_partial"],
                                                "present": list(last["oi_present"]), "missing": list(last["oi_missing"]),
                                                "open_interest": last["oi_total"], "open_interest_usd": last["oi_total_usd"]},
            "units": "base units (one side of the book) summed over the venues' USDT perpetuals"}


def step_name(step_ms: int) -> str:
    """``1m``, ``5m``, ``15m``, ``1h`` ... of a step in ms (the API's interval names)."""
    return next((k for k, v in INTERVAL_MS.items() if v == step_ms), f"{step_ms // MINUTE_MS}m")


def _step_meta(served: ServedParams, step_ms: int) -> dict[str, Any]:
    """``model_step`` of a live run, and the step the parameters were validated at when it differs."""
    out: dict[str, Any] = {"model_step": step_name(step_ms)}
    if step_ms != served.step_ms:
        out["validated_step"] = step_name(served.step_ms)
        out["step_note"] = (f"the parameters were fitted and scored at {served.step_ms // MINUTE_MS}-minute steps; "
                            f"this run steps every {step_ms // MINUTE_MS} minutes (serve --heatmap-step)")
    return out


def _live_grid(cur: duckdb.DuckDBPyConnection, served: ServedParams, base: str, reference: str, start: int,
               end: int, interval: str, bin_size: float | None, band_pct: float, step_ms: int | None = None):
    """(meta, column ends, binned columns) of :func:`live_timeseries`, or None."""
    iv = INTERVAL_MS[interval]
    step_ms = int(step_ms or served.step_ms)
    if iv % step_ms:
        raise ValueError(f"interval {interval} is not a whole number of model steps ({step_name(step_ms)})")
    t_end, closes = hs.step_closes(cur, base, served.version, start + 1, end)
    is_col = t_end % iv == 0
    if not is_col.any():
        return None
    if bin_size is None:
        bin_size = default_bin_size(closes)  # the window's first close: later steps never re-bin earlier columns
    filled = closes.copy()  # the band follows the last known close
    for k in range(1, len(filled)):
        if filled[k] != filled[k]:
            filled[k] = filled[k - 1]
    ends = t_end[is_col]
    g = served.params.g
    edges = [band_edges(g, float(c), band_pct) for c in filled[is_col]]
    rows = hs.read_level_rows(cur, base, served.version, int(ends[0]), int(ends[-1]), iv)
    col = np.minimum(np.searchsorted(ends, rows["t_end"]), len(ends) - 1)
    if len(col) and not (ends[col] == rows["t_end"]).all():  # a level row without its step row: not drawn
        ok = ends[col] == rows["t_end"]
        col, rows = col[ok], {k: v[ok] for k, v in rows.items()}
    bins = bin_columns(g, col, rows["cell"], rows["long_usd"], rows["short_usd"], edges, bin_size)
    first, last = int(ends[0]), int(ends[-1])
    meta = {
        "symbol": base, "interval": interval, **_step_meta(served, step_ms), "source": "live",
        "start_ms": first, "end_ms": last, "start": first, "end": last,
        "steps": len(ends), "total_snapshots": len(ends), "estimate": True, "note": NOTE,
        "params_version": served.version, "validation": served.meta(), "params": served.params.to_dict(),
        "brackets_as_of": BRACKETS_AS_OF, "bin_size": bin_size, "band_pct": band_pct,
        "units": {"long": "USD", "short": "USD", "price": "USD", "timestamp": "ms UTC, step END"},
        "reference": reference, "open_interest": _oi_meta(cur, base, served.version, start + 1, end),
        "consumption": "traded high/low of each model step (last price of the reference instrument)",
    }
    return meta, ends, bins


def live_timeseries(cur: duckdb.DuckDBPyConnection, served: ServedParams, base: str, reference: str, start: int,
                    end: int, interval: str, bin_size: float | None, band_pct: float,
                    step_ms: int | None = None) -> dict | None:
    """``{meta, data: [{timestamp, levels: [{price, long, short}]}]}`` of the stored live steps, or
    None when no column of ``interval`` lies in ``(start, end]``. Columns are the stored book after
    the steps ending at multiples of ``interval``, binned like the offline path. Raises ValueError
    for an interval that is not a whole number of model steps (``step_ms``: the run's step, default
    the parameters')."""
    grid = _live_grid(cur, served, base, reference, start, end, interval, bin_size, band_pct, step_ms)
    if grid is None:
        return None
    meta, ends, bins = grid
    return {"meta": meta, "data": [{"timestamp": int(t), "levels": _as_levels(b)} for t, b in zip(ends.tolist(), bins)]}


def live_timeseries_json(cur: duckdb.DuckDBPyConnection, served: ServedParams, base: str, reference: str,
                         start: int, end: int, interval: str, bin_size: float | None, band_pct: float,
                         step_ms: int | None = None) -> bytes | None:
    """:func:`live_timeseries` encoded straight to JSON bytes (msgspec Structs, no per-level dicts:
    what the API sends), or None."""
    grid = _live_grid(cur, served, base, reference, start, end, interval, bin_size, band_pct, step_ms)
    if grid is None:
        return None
    meta, ends, bins = grid
    data = [Column(t, list(map(Level, pr.tolist(), lo.tolist(), sh.tolist())))
            for t, (pr, lo, sh) in zip(ends.tolist(), bins)]
    return _ENCODER.encode({"meta": meta, "data": data})


def levels_message(served: ServedParams, base: str, reference: str, step: Any, band_pct: float = 10.0,
                   step_ms: int | None = None) -> dict:
    """The websocket ``levels`` message of one live step (``LiveStep``): the book after it, binned
    around its close (bin = a round number near 0.25 % of the close)."""
    close = step.close
    bin_size = _nice(close * 0.0025) if close == close else 1.0
    cells = hs.sparse_cells(step.origin, step.levels) if step.levels is not None else ([], [], [])
    agg = step.aggregate
    return {"type": "levels", "symbol": base, "timestamp": step.t_end,
            **_step_meta(served, int(step_ms or served.step_ms)), "close": None if close != close else close,
            "bin_size": bin_size, "band_pct": band_pct,
            "levels": binned(served, close, *cells, bin_size, band_pct),
            "consumed": {"long": float(step.consumed[0]), "short": float(step.consumed[1])},
            "meta": {"params_version": served.version, "reference": reference, "estimate": True,
                     "open_interest": {"value": None if step.oi != step.oi else step.oi, "partial": agg.partial,
                                       "present": list(agg.present), "missing": list(agg.missing)}}}
