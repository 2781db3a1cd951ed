"""Raw klines + open interest → the stepper's per-step inputs (the ONE feeder, heatmap-model.md §3.2).

The API (``heatmap.model``, from DuckDB), ``liqmap validate`` (``heatmap.validate``, from the
shipped reference files) and the live path build their :class:`StepSeries` here, so every
path sees the same alignment rules. Pure functions, no I/O.

Time convention (enforced here, at the edge): a step is named by its END ``t_end`` and covers
``(t_end − step, t_end]``.

* a kline opening at ``open_time`` with interval ``D`` covers ``[open_time, open_time + D)``
  and belongs to the step ending at ``open_time + D`` (``open_time`` must be a multiple of ``D``);
* an OI observation stamped ``t`` is the OI at ``t``. Binance ``metrics`` ``create_time`` is the
  END of its 5-minute bar and is sometimes 1–2 s late: a stamp up to :data:`STAMP_JITTER_MS`
  past a grid point is floored onto it. The step's OI is the last observation inside its window.

Price per step, finest source first:

1. klines with an interval dividing the step (1m, 5m …): OHLC aggregated, taker-buy share
   β = taker-buy quote volume / quote volume;
2. coarser klines (e.g. 15m under 5-minute steps): the bar's OHLC and β go to its LAST sub-step;
   earlier sub-steps take their close from the OI observation's USD value / contracts (Binance's
   mark price at that instant) and their range from the previous to this close, with no β
   (the stepper carries the last one). Nothing of a bar reaches a sub-step that ends before it.

``StepSeries.price_source`` records which rule priced each step (:data:`SOURCES`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from liqmap.heatmap.engine import StepInput

STAMP_JITTER_MS = 5_000
SOURCES = ("none", "klines", "coarse_bar_end", "coarse_bar_mark")


@dataclass(frozen=True)
class Klines:
    """Bars of one interval (arrays of equal length N, sorted by ``open_time``).

    interval_ms: bar length; open_time: (N,) int64 ms UTC (bar START); open/high/low/close: USD;
    quote_volume, taker_buy_quote: (N,) USD, NaN when unknown.
    """

    interval_ms: int
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    quote_volume: np.ndarray
    taker_buy_quote: np.ndarray


@dataclass(frozen=True)
class OpenInterest:
    """OI observations: t (N,) int64 ms UTC (the instant the OI refers to), contracts (N,),
    value_usd (N,) USD value at that instant (NaN unknown)."""

    t: np.ndarray
    contracts: np.ndarray
    value_usd: np.ndarray


@dataclass
class StepSeries:
    """Per-step inputs, dense on the step grid (K steps).

    t_end (K,) int64; open/high/low/close/oi/taker_buy (K,) float (NaN = unknown);
    price_source (K,) int8 index into :data:`SOURCES`.
    """

    step_ms: int
    t_end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi: np.ndarray
    taker_buy: np.ndarray
    price_source: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t_end)

    def inputs(self, start: int = 0, stop: int | None = None) -> Iterator[StepInput]:
        """:class:`StepInput` of steps ``start .. stop − 1``, in order."""
        cols = (self.t_end, self.open, self.high, self.low, self.close, self.oi, self.taker_buy)
        for row in zip(*(c[start:stop].tolist() for c in cols)):
            yield StepInput(*row)

    def counts(self) -> dict[str, int]:
        """Steps per price source."""
        return {name: int((self.price_source == i).sum()) for i, name in enumerate(SOURCES)}


def _grid_index(t_end: np.ndarray, t0: int, step_ms: int) -> np.ndarray:
    return (t_end - t0) // step_ms


def _fine(s: dict, k: Klines, t0: int, K: int, step_ms: int) -> None:
    """Aggregate bars dividing the step into empty steps (first/max/min/last/sum)."""
    ends = k.open_time + k.interval_ms
    idx = _grid_index(ends + step_ms - 1, t0, step_ms)  # step holding the bar's end
    ok = (idx >= 0) & (idx < K)
    idx, rows = idx[ok], np.flatnonzero(ok)
    free = s["src"][idx] == 0
    idx, rows = idx[free], rows[free]
    if not len(idx):
        return
    first = np.full(K, -1)
    first[idx[::-1]] = rows[::-1]
    last = np.full(K, -1)
    last[idx] = rows
    hit = last >= 0
    s["open"][hit] = k.open[first[hit]]
    s["close"][hit] = k.close[last[hit]]
    hi = np.full(K, -np.inf)
    lo = np.full(K, np.inf)
    np.maximum.at(hi, idx, k.high[rows])
    np.minimum.at(lo, idx, k.low[rows])
    s["high"][hit], s["low"][hit] = hi[hit], lo[hit]
    qv = np.bincount(idx, weights=np.nan_to_num(k.quote_volume[rows]), minlength=K)
    tb = np.bincount(idx, weights=np.nan_to_num(k.taker_buy_quote[rows]), minlength=K)
    known = np.bincount(idx, weights=np.isfinite(k.taker_buy_quote[rows]) & np.isfinite(k.quote_volume[rows]),
                        minlength=K)
    good = hit & (qv > 0) & (known > 0)
    s["taker_buy"][good] = np.clip(tb[good] / qv[good], 0.0, 1.0)
    s["src"][hit] = 1


def _coarse(s: dict, k: Klines, mark: np.ndarray, t0: int, K: int, step_ms: int) -> None:
    """Bars longer than the step: OHLC + β on the last sub-step, mark-close ranges before it."""
    m = k.interval_ms // step_ms
    for j in range(1, m + 1):
        idx = _grid_index(k.open_time + j * step_ms, t0, step_ms)
        ok = (idx >= 0) & (idx < K)
        idx, rows = idx[ok], np.flatnonzero(ok)
        free = s["src"][idx] == 0
        idx, rows = idx[free], rows[free]
        if j == m:
            s["open"][idx], s["high"][idx], s["low"][idx], s["close"][idx] = (
                k.open[rows], k.high[rows], k.low[rows], k.close[rows])
            qv, tb = k.quote_volume[rows], k.taker_buy_quote[rows]
            good = np.isfinite(qv) & np.isfinite(tb) & (qv > 0)
            s["taker_buy"][idx[good]] = np.clip(tb[good] / qv[good], 0.0, 1.0)
            s["src"][idx] = 2
            continue
        prev = k.open[rows] if j == 1 else s["close"][np.clip(idx - 1, 0, K - 1)]
        now = mark[idx]
        have = np.isfinite(now) & np.isfinite(prev)
        idx, prev, now = idx[have], prev[have], now[have]
        s["open"][idx], s["close"][idx] = prev, now
        s["high"][idx], s["low"][idx] = np.maximum(prev, now), np.minimum(prev, now)
        s["src"][idx] = 3


def _oi_on_grid(oi: OpenInterest | None, t0: int, K: int, step_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(K,) OI contracts observed in each step's window (last one wins) and (K,) mark = USD value / contracts."""
    out, mark = np.full(K, np.nan), np.full(K, np.nan)
    if oi is None or not len(oi.t):
        return out, mark
    t = np.asarray(oi.t, dtype=np.int64)
    off = t % step_ms
    t = np.where(off <= STAMP_JITTER_MS, t - off, t)
    idx = _grid_index(t + step_ms - 1, t0, step_ms)
    ok = (idx >= 0) & (idx < K) & np.isfinite(oi.contracts) & (oi.contracts >= 0)
    order = np.argsort(t[ok], kind="stable")
    idx_o = idx[ok][order]
    out[idx_o] = np.asarray(oi.contracts, dtype=float)[ok][order]
    on_grid = (t[ok][order] % step_ms) == 0
    val = np.asarray(oi.value_usd, dtype=float)[ok][order] / np.asarray(oi.contracts, dtype=float)[ok][order]
    mark[idx_o[on_grid]] = val[on_grid]
    return out, mark


def build_series(step_ms: int, klines: list[Klines], oi: OpenInterest | None,
                 first_end: int | None = None, last_end: int | None = None) -> StepSeries:
    """Dense per-step inputs from klines of any intervals and OI observations (module docstring).

    ``first_end``/``last_end``: step ends of the first/last step (default: the klines' span).
    Raises ``ValueError`` when a kline interval neither divides nor is a multiple of the step, an
    ``open_time`` is off its interval grid, or there are no klines.
    """
    klines = [k for k in klines if len(k.open_time)]
    if not klines:
        raise ValueError("no klines")
    for k in klines:
        if step_ms % k.interval_ms and k.interval_ms % step_ms:
            raise ValueError(f"kline interval {k.interval_ms} ms does not divide or span whole {step_ms} ms steps")
        if (np.asarray(k.open_time) % k.interval_ms).any():
            raise ValueError(f"kline open_time off the {k.interval_ms} ms grid (open_time is the bar START)")
    lo_end = min(int(k.open_time[0]) // step_ms * step_ms + step_ms for k in klines)  # first step any bar touches
    hi_end = max(int(k.open_time[-1]) + k.interval_ms for k in klines)
    t0 = first_end if first_end is not None else lo_end
    t1 = last_end if last_end is not None else -(-hi_end // step_ms) * step_ms
    if t0 % step_ms or t1 % step_ms or t1 < t0:
        raise ValueError("first_end/last_end must be step ends with last_end >= first_end")
    K = (t1 - t0) // step_ms + 1
    s = {c: np.full(K, np.nan) for c in ("open", "high", "low", "close", "taker_buy")}
    s["src"] = np.zeros(K, dtype=np.int8)
    oi_k, mark = _oi_on_grid(oi, t0, K, step_ms)
    for k in sorted(klines, key=lambda k: k.interval_ms):
        if k.interval_ms <= step_ms:
            _fine(s, k, t0, K, step_ms)
        else:
            _coarse(s, k, mark, t0, K, step_ms)
    return StepSeries(step_ms, t0 + np.arange(K, dtype=np.int64) * step_ms, s["open"], s["high"], s["low"],
                      s["close"], oi_k, s["taker_buy"], s["src"])
