"""The served heatmap, read from DuckDB history: the ONE model of ``heatmap.engine`` with the
parameters of ``heatmap/params/<CURRENT>.json`` (the ones ``liqmap validate`` fitted and scored).

Data (tables of ``liqmap.heatmap.ingest`` / the storage migrations; times ms UTC):

* ``klines_<interval>_history`` of every interval that divides or spans whole model steps
  (1m, 5m, 15m, 1h …; ``open_time`` = bar START); without klines, 5-minute bars are built from
  ``aggtrades_history`` (OHLC, quote volume, taker-buy quote volume: the same fields);
* ``open_interest_history`` (``timestamp`` = the instant the OI refers to — Binance ``metrics``
  ``create_time``, the END of its 5-minute bar; ``sum_open_interest`` in contracts = base units;
  ``sum_open_interest_value`` USDT).

These feed :func:`liqmap.heatmap.series.build_series` (the alignment rules live there, shared
with ``validate`` and the live path) and :func:`liqmap.heatmap.pipeline.run`. The simulation
starts ``warmup_ms`` before ``start``; columns are the book after the steps whose END is a
multiple of ``interval``. Levels come from data at or before each column's time only, so a
column never changes when later data arrives (same ``start``/``warmup_ms``).

Known limitation: positions opened before the warm-up are unknown, so early columns hold a
thin book (``meta.coverage`` = book contracts / real OI at the last step).
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import msgspec
import numpy as np

from liqmap.fmt import iso
from liqmap.heatmap.brackets import BRACKETS_AS_OF
from liqmap.heatmap.params import ServedParams, load_params
from liqmap.heatmap.pipeline import RunResult, run
from liqmap.heatmap.series import Klines, OpenInterest, StepSeries, build_series
from liqmap.storage import archive_reads as reads
from liqmap.storage.archive_reads import known_symbols
from liqmap.units import DAY_MS, HOUR_MS, INTERVAL_MS, MINUTE_MS

_ENCODER = msgspec.json.Encoder()
MAX_WARMUP_MS = 7 * DAY_MS


def default_warmup_ms(p) -> int:
    """Warm-up before the first column: 12 half-lives of the book (2^-12 of the starting state is
    left), at most 7 days (also without decay). The served v1 book (2 h) gets one day."""
    if p.half_life_ms is None:
        return MAX_WARMUP_MS
    return int(min(MAX_WARMUP_MS, max(HOUR_MS, 12 * p.half_life_ms)))


class UnknownSymbol(LookupError):
    """Symbol has no price history; ``known`` lists the symbols that do."""

    def __init__(self, symbol: str, known: list[str]):
        super().__init__(f"unknown symbol {symbol!r}; known: {known}")
        self.symbol, self.known = symbol, known


class NoData(LookupError):
    """No price rows in the requested window."""


def load_market(con: duckdb.DuckDBPyConnection, symbol: str, lo: int, hi: int,
                step: int) -> tuple[list[Klines], OpenInterest | None, list[str]]:
    """Bars opening in [lo, hi) of every klines table whose interval divides or spans whole model
    steps (5-minute aggTrades bars when there is none) and the OI observations in [lo − step, hi]
    for ``symbol`` (SQL in :mod:`liqmap.storage.archive_reads`); plus the names of the tables read."""
    kl, used = [], []
    for iv, t in reads.kline_tables(con, step):
        r = reads.kline_rows(con, t, iv, symbol, lo - iv, hi)
        if r is not None:
            kl.append(Klines(iv, *r))
            used.append(t)
    if not kl:
        r = reads.trade_bars(con, symbol, lo, hi, step)
        if r is not None:
            kl.append(Klines(step, *r))
            used.append("aggtrades_history (5-minute bars)")
    oi = None
    r = reads.open_interest_rows(con, symbol, lo - step, hi)
    if r is not None:
        oi = OpenInterest(*r)
        used.append("open_interest_history")
    return kl, oi, used


def model_series(con: duckdb.DuckDBPyConnection, symbol: str, sim_start: int, end: int,
                 step: int) -> tuple[StepSeries, list[str]]:
    """Steps ending in (sim_start, end] for ``symbol``. Raises UnknownSymbol / NoData."""
    first, last = (sim_start // step + 1) * step, (end // step) * step
    kl, oi, used = load_market(con, symbol, first - step, last, step)
    if not kl or last < first:
        known = known_symbols(con)
        if symbol not in known:
            raise UnknownSymbol(symbol, known)
        raise NoData(f"no price data for {symbol} between {iso(sim_start)} and {iso(end)}")
    return build_series(step, kl, oi, first_end=first, last_end=last), used


def to_ms(t: int | float | str | dt.datetime) -> int:
    """ms UTC from an int/float (ms), a datetime (naive = UTC) or an ISO-8601 string. Raises ValueError."""
    if isinstance(t, dt.datetime):
        return int((t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp() * 1000)
    if isinstance(t, str):
        return to_ms(dt.datetime.fromisoformat(t.replace("Z", "+00:00")))
    return int(t)


def _default_con() -> duckdb.DuckDBPyConnection:
    from liqmap.settings import get_settings

    return duckdb.connect(get_settings().db, read_only=True)


def _nice(x: float) -> float:
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if x <= m * e:
            return m * e
    return 10 * e


def calculate_time_evolving_heatmap(symbol: str, start, end, interval: str = "15m", served: ServedParams | None = None,
                                    warmup_ms: int | None = None, *, con: duckdb.DuckDBPyConnection | None = None,
                                    reduce_for=None) -> tuple[StepSeries, RunResult, np.ndarray, list[str]]:
    """Run the served model from ``start − warmup_ms`` (default :func:`default_warmup_ms`) to ``end``
    (ms UTC, datetime or ISO string).

    Returns (series, run result, column step indices, tables read); columns are the steps ending
    after ``start`` at multiples of ``interval``, their levels in ``result.snapshots`` (through
    ``reduce_for(series)(index, origin, levels)`` when given). ``served`` default: :func:`load_params`.
    Raises UnknownSymbol, NoData, ValueError.
    """
    start, end = to_ms(start), to_ms(end)
    if end <= start:
        raise ValueError("end must be after start")
    if interval not in INTERVAL_MS:
        raise ValueError(f"interval must be one of {list(INTERVAL_MS)}")
    served = served or load_params()
    warmup_ms = default_warmup_ms(served.params) if warmup_ms is None else warmup_ms
    con = con if con is not None else _default_con()
    step, iv = served.step_ms, INTERVAL_MS[interval]
    if iv % step:
        raise ValueError(f"interval {interval} is not a whole number of model steps ({step // MINUTE_MS}m)")
    series, used = model_series(con, symbol.upper(), start - warmup_ms, end, step)
    cols = np.flatnonzero((series.t_end > start) & (series.t_end % iv == 0))
    if not len(cols):
        raise NoData(f"no {interval} column for {symbol} after {iso(start)}")
    res = run(served.params, series, snapshot_steps=cols, reduce=reduce_for(series) if reduce_for else None)
    return series, res, cols, used


def default_bin_size(closes) -> float:
    """Display bin (USD): a round number near 0.25 % of the FIRST known close of ``closes`` (1.0 when
    none). It depends on the window's start only, never on later rows, so extending a window (or new
    data arriving) never re-bins its earlier columns."""
    c = np.asarray(closes, dtype=float)
    known = c[np.isfinite(c) & (c > 0)]
    return _nice(float(known[0]) * 0.0025) if len(known) else 1.0


def _binner(p, bin_size: float | None, band_pct: float, out: dict):
    """``reduce_for`` of :func:`calculate_time_evolving_heatmap`: display bins within the band, whole USD.
    The bin size (given, or :func:`default_bin_size` of the run's closes) is stored in ``out``."""
    def reduce_for(series: StepSeries):
        closes = series.close.copy()
        for k in range(1, len(closes)):  # the band follows the last known close
            if not np.isfinite(closes[k]):
                closes[k] = closes[k - 1]
        out["bin_size"] = size = float(bin_size) if bin_size else default_bin_size(series.close)
        cache: dict = {}
        return lambda i, origin, levels: _bins(p, closes[i], origin, levels, size, band_pct, cache)
    return reduce_for


def _bins(p, c: float, origin: int, levels: np.ndarray, bin_size: float, band_pct: float, cache: dict | None = None):
    """(bin lower edges, long USD, short USD) of one column's non-empty bins, over the cells whose
    price lies within ±``band_pct`` % of the close ``c``. ``cache`` keeps each origin's cell → bin map."""
    n = levels.shape[1]
    key = (origin, n)
    if cache is None or key not in cache:
        bidx = np.floor(np.exp((origin + np.arange(n) + 0.5) * p.g) / bin_size).astype(np.int64)
        first = np.concatenate(([True], bidx[1:] != bidx[:-1]))  # cell k opens a bin
        if cache is not None:
            cache[key] = bidx, first
    else:
        bidx, first = cache[key]
    if c != c:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    # cells are sorted by price: the band is one index range
    i0 = max(math.ceil(math.log(c * (1 - band_pct / 100)) / p.g - origin - 0.5), 0)
    i1 = min(math.floor(math.log(c * (1 + band_pct / 100)) / p.g - origin - 0.5) + 1, n)
    if i1 <= i0:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    opens = first[i0:i1].copy()
    opens[0] = True
    starts = opens.nonzero()[0]
    usd = np.empty((2, len(starts)))
    np.add.reduceat(levels[0, i0:i1], starts, out=usd[0])
    np.add.reduceat(levels[1, i0:i1], starts, out=usd[1])
    whole = usd.round().astype(np.int64)  # ndarray.round is np.round without its Python wrapper
    nz = np.maximum.reduce(whole, axis=0) > 0  # long > 0 or short > 0
    lo_, sh = whole[:, nz]
    return (bidx[i0:i1][starts[nz]] * bin_size).round(8), lo_, sh


def _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct, served, warmup_ms):
    """Shared core of the two renderers: (meta, column times, [(prices, long, short)] per column)."""
    served = served or load_params()
    warmup_ms = default_warmup_ms(served.params) if warmup_ms is None else warmup_ms
    con = con if con is not None else _default_con()
    box: dict = {}
    series, res, cols, used = calculate_time_evolving_heatmap(
        symbol, start, end, interval, served, warmup_ms, con=con, reduce_for=_binner(served.params, bin_size, band_pct, box))
    bin_size = box["bin_size"]
    k_last = len(series) - 1
    oi_last = series.oi[np.isfinite(series.oi)][-1] if np.isfinite(series.oi).any() else None
    meta = {
        "symbol": symbol.upper(), "interval": interval, "model_step": f"{served.step_ms // MINUTE_MS}m",
        "start_ms": int(series.t_end[cols[0]]), "end_ms": int(series.t_end[cols[-1]]),
        "start": int(series.t_end[cols[0]]), "end": int(series.t_end[cols[-1]]),  # aliases of start_ms/end_ms
        "steps": len(cols), "total_snapshots": len(cols),
        "estimate": True,
        "note": ("Estimated liquidation levels (model, not observed): positions inferred from open-interest "
                 "changes and the price path, assumed leverage ladder; levels removed when price crosses them."),
        "params_version": served.version, "validation": served.meta(), "params": served.params.to_dict(),
        "brackets_as_of": BRACKETS_AS_OF, "bin_size": bin_size, "band_pct": band_pct, "warmup_ms": warmup_ms,
        "units": {"long": "USD", "short": "USD", "price": "USD", "timestamp": "ms UTC, step END"},
        "consumption": "traded high/low of each model step (last price; mark-price klines are not read)",
        "coverage": None if not oi_last else round(float(res.book_qty[k_last] / oi_last), 4),
        "sources": {"tables": used, "steps_by_price_source": series.counts(),
                    "steps_with_oi": int(np.isfinite(series.oi).sum()), "steps": len(series)},
    }
    return meta, series.t_end[cols], [res.snapshots[int(i)] for i in cols]


def get_heatmap_timeseries(symbol: str, start, end, interval: str = "15m", bin_size: float | None = None,
                           band_pct: float = 10.0, served: ServedParams | None = None,
                           warmup_ms: int | None = None, *, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """JSON-ready heatmap time series: ``{meta, data: [{timestamp, levels: [{price, long, short}]}]}``.

    ``timestamp`` = step END (ms UTC); ``price`` = lower edge of a display bin (USD); ``long``/``short``
    = ESTIMATED open liquidation notional (whole USD) whose level lies in the bin; only non-empty
    bins whose cells lie within ±``band_pct`` % of the column's close. ``bin_size`` default:
    :func:`default_bin_size` (near 0.25 % of the first price of the run: causal). Raises UnknownSymbol, NoData, ValueError.
    """
    meta, tss, cols = _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct, served, warmup_ms)
    data = [{"timestamp": int(t), "levels": [{"price": p, "long": a, "short": b}
                                              for p, a, b in zip(pr.tolist(), lo.tolist(), sh.tolist())]}
            for t, (pr, lo, sh) in zip(tss.tolist(), cols)]
    return {"meta": meta, "data": data}


class Level(msgspec.Struct, gc=False):
    """One display bin of one column: lower price edge (USD), estimated long/short notional (whole USD)."""

    price: float
    long: int
    short: int


class Column(msgspec.Struct, gc=False):
    """One column: ``timestamp`` = step END (ms UTC) and its non-empty levels."""

    timestamp: int
    levels: list[Level]


def get_heatmap_timeseries_json(symbol: str, start, end, interval: str = "15m", bin_size: float | None = None,
                                band_pct: float = 10.0, served: ServedParams | None = None,
                                warmup_ms: int | None = None, *, con: duckdb.DuckDBPyConnection | None = None
                                ) -> bytes:
    """Same content as :func:`get_heatmap_timeseries`, encoded straight to JSON bytes (msgspec Structs,
    no per-level dicts). Raises UnknownSymbol, NoData, ValueError."""
    meta, tss, cols = _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct, served, warmup_ms)
    data = [Column(t, list(map(Level, pr.tolist(), lo.tolist(), sh.tolist())))
            for t, (pr, lo, sh) in zip(tss.tolist(), cols)]
    return _ENCODER.encode({"meta": meta, "data": data})
