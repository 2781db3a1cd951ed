"""Time-evolving liquidation heatmap from DuckDB history (heatmap-model.md §3).

Reads the ingest tables (``liqmap.heatmap.ingest``): ``klines_<interval>_history`` (or any
finer klines table, resampled; else prices from ``aggtrades_history``),
``open_interest_history`` (``sum_open_interest`` in contracts = base units) and
``aggtrades_history`` (taker side from ``is_buyer_maker``: false = taker buy). Builds
:class:`~liqmap.heatmap.engine.StepInputs` and runs the dense-array simulation.

Choices (all in the result ``meta``):

* step = ``interval`` (5m or 15m recommended); step k covers (t_k − Δ, t_k];
* ΔQ_k = OI(t_k) − OI(t_{k−1}) in **contracts**, OI(t) = last OI row at or before t (no row
  within 2 steps = unknown, nothing opened or closed);
* side split β = taker-buy share of the step's aggTrades notional; fallback without trades:
  klines ``taker_buy_quote_volume / quote_volume``; without either: 0.5;
* entries = the step's per-side traded price profile (cells of ``cell_frac`` of price);
  fallback typical price (H+L+C)/3;
* consumption on the step's kline high/low (LAST price: mark-price klines are not ingested,
  so wicks over-consume slightly -- documented deviation from §3.8).

Known limitation: positions opened before the warm-up are unknown, so the book is a lower
bound of OI (``meta.coverage`` = modelled open quantity / actual OI at the end).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict

import duckdb
import msgspec
import numpy as np

from liqmap.heatmap.brackets import BRACKETS_AS_OF, brackets_for
from liqmap.heatmap.engine import ModelParams, SimResult, StepInputs, simulate
from liqmap.heatmap.ingest import FLOW_CELL, FLOW_STEP_MS
from liqmap.storage.archive_reads import history_tables as _tables
from liqmap.storage.archive_reads import known_symbols
from liqmap.storage.archive_reads import price_steps as _price_steps

_ENCODER = msgspec.json.Encoder()
INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000}


class UnknownSymbol(LookupError):
    """Symbol has no price history; ``known`` lists the symbols that do."""

    def __init__(self, symbol: str, known: list[str]):
        super().__init__(f"unknown symbol {symbol!r}; known: {known}")
        self.symbol, self.known = symbol, known


class NoData(LookupError):
    """No price rows in the requested window."""


def load_step_inputs(con: duckdb.DuckDBPyConnection, symbol: str, start: int, end: int, interval: str = "15m",
                     cell_frac: float = 0.0005) -> StepInputs:
    """Model drivers for steps ending in (start, end] (ms). Raises UnknownSymbol / NoData / ValueError."""
    if interval not in INTERVAL_MS:
        raise ValueError(f"interval must be one of {list(INTERVAL_MS)}")
    step = INTERVAL_MS[interval]
    symbol = symbol.upper()
    lo = (start // step) * step
    rows, psrc = _price_steps(con, symbol, lo, end, step)
    if rows is None:
        known = known_symbols(con)
        if symbol not in known:
            raise UnknownSymbol(symbol, known)
        raise NoData(f"no price data for {symbol} between {start} and {end}")
    te_rows = rows["te"].astype(np.int64)
    ts = np.arange(te_rows[0], te_rows[-1] + 1, step, dtype=np.int64)
    K = len(ts)
    pos = ((te_rows - ts[0]) // step).astype(np.int64)
    cols = list(rows.keys())

    def dense(name, fill=np.nan):
        a = np.full(K, fill, dtype=float)
        v = np.asarray(rows[name], dtype=float) if not hasattr(rows[name], "filled") else rows[name].filled(np.nan).astype(float)
        a[pos] = v
        return a
    o, h, l, c, qv, tb = (dense(cols[i]) for i in range(1, 7))

    # OI in contracts, as-of step ends
    dq = np.full(K, np.nan)
    oi_prev = np.full(K, np.nan)
    oi_src = "none"
    if "open_interest_history" in _tables(con):
        oi = con.execute("""SELECT timestamp, sum_open_interest FROM open_interest_history
                            WHERE symbol = ? AND timestamp >= ? AND timestamp <= ? AND sum_open_interest IS NOT NULL
                            ORDER BY timestamp""", [symbol, lo - 2 * step, end]).fetchnumpy()
        if len(oi["timestamp"]):
            ot = np.asarray(oi["timestamp"], dtype=np.int64)
            ov = np.asarray(oi["sum_open_interest"], dtype=float)
            bounds = np.concatenate([[ts[0] - step], ts])
            idx = np.searchsorted(ot, bounds, side="right") - 1
            val = np.where(idx >= 0, ov[np.clip(idx, 0, None)], np.nan)
            stale = (idx < 0) | (bounds - ot[np.clip(idx, 0, None)] > 2 * step)
            val[stale] = np.nan
            dq = val[1:] - val[:-1]
            oi_prev = val[:-1]
            oi_src = "open_interest_history.sum_open_interest (contracts)"

    # taker flow per step / side / price cell
    g = float(np.nanmedian(c)) * cell_frac
    beta = np.where(qv > 0, tb / np.where(qv > 0, qv, 1.0), np.nan)
    e_step, e_side, e_price, e_w = [], [], [], []
    flow_steps = np.zeros(K, bool)
    tabs = _tables(con)
    fl = None
    if "aggtrades_flow_5m" in tabs and step % FLOW_STEP_MS == 0:
        fl = con.execute(
            f"""SELECT ((step_end - 1) // {step}) * {step} + {step} AS te, CAST(taker_sell AS INT) AS side,
                       cell, sum(notional) AS notional
                FROM aggtrades_flow_5m WHERE symbol = ? AND step_end > ? AND step_end <= ?
                GROUP BY ALL""", [symbol, lo, end]).fetchnumpy()
        if len(fl["te"]):
            fl["px"] = np.exp((np.asarray(fl["cell"], dtype=float) + 0.5) * math.log1p(FLOW_CELL))
        else:
            fl = None
    if fl is None and "aggtrades_history" in tabs:
        fl = con.execute(
            f"""SELECT (timestamp // {step}) * {step} + {step} AS te, CAST(is_buyer_maker AS INT) AS side,
                       floor(price / {g}) AS cell, sum(price * quantity) AS notional
                FROM aggtrades_history WHERE symbol = ? AND timestamp >= ? AND timestamp < ?
                GROUP BY ALL""", [symbol, lo, end]).fetchnumpy()
        fl["px"] = (np.asarray(fl["cell"], dtype=float) + 0.5) * g
    if fl is not None:
        if len(fl["te"]):
            fi = ((np.asarray(fl["te"], dtype=np.int64) - ts[0]) // step)
            ok = (fi >= 0) & (fi < K)
            fi = fi[ok]
            fside = np.asarray(fl["side"], dtype=np.int64)[ok]  # 0 = taker buy -> long entries
            fnot = np.asarray(fl["notional"], dtype=float)[ok]
            fpx = np.asarray(fl["px"], dtype=float)[ok]
            buy = np.bincount(fi, weights=fnot * (fside == 0), minlength=K)
            tot = np.bincount(fi, weights=fnot, minlength=K)
            has = tot > 0
            beta[has] = buy[has] / tot[has]
            flow_steps = has
            e_step.append(fi), e_side.append(fside), e_price.append(fpx), e_w.append(fnot)
    # fallback entries (typical price, both sides) where no trades
    fb = np.flatnonzero(~flow_steps & np.isfinite(c))
    typ = (h + l + c) / 3.0
    for s in (0, 1):
        e_step.append(fb), e_side.append(np.full(len(fb), s)), e_price.append(typ[fb]), e_w.append(np.ones(len(fb)))
    # a side with trades only on the other side still needs an entry profile: typical price
    if flow_steps.any():
        for s in (0, 1):
            have = np.zeros(K, bool)
            have[e_step[0][e_side[0] == s]] = True
            miss = np.flatnonzero(flow_steps & ~have)
            e_step.append(miss), e_side.append(np.full(len(miss), s)), e_price.append(typ[miss]), e_w.append(np.ones(len(miss)))
    beta_src = np.where(flow_steps, "aggtrades", np.where(np.isfinite(beta), "klines_taker_buy", "0.5"))
    beta = np.where(np.isfinite(beta), beta, 0.5)
    return StepInputs(
        ts=ts, open=o, high=h, low=l, close=c, dq=dq, oi_prev=oi_prev, beta=beta,
        entry_step=np.concatenate(e_step).astype(np.int64), entry_side=np.concatenate(e_side).astype(np.int64),
        entry_price=np.concatenate(e_price), entry_weight=np.concatenate(e_w),
        source={"prices": psrc, "oi": oi_src,
                "beta_steps": {k: int((beta_src == k).sum()) for k in ("aggtrades", "klines_taker_buy", "0.5")},
                "oi_known_steps": int(np.isfinite(dq).sum()), "steps": int(K),
                "oi_last": float(oi_prev[-1]) if np.isfinite(oi_prev[-1]) else None},
    )


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


def calculate_time_evolving_heatmap(symbol: str, start, end, interval: str = "15m", params: ModelParams | None = None,
                                    warmup_ms: int = 7 * 86_400_000, *, con: duckdb.DuckDBPyConnection | None = None
                                    ) -> tuple[StepInputs, SimResult, int]:
    """Simulate from ``start − warmup_ms`` to ``end`` (ms UTC, datetime or ISO string).

    ``con``: DuckDB connection holding the ingest tables (default: ``LIQMAP_DB`` read-only).

    Returns (inputs, result, first_shown_step) where steps ``first_shown_step..`` end after ``start``.
    ``params`` default: ladder 5/10/25/50/100 × .15/.30/.25/.20/.10, mmr = the symbol's first
    bracket MMR (brackets as of 2024-10-24). Raises UnknownSymbol, NoData, ValueError.
    """
    start, end = to_ms(start), to_ms(end)
    if end <= start:
        raise ValueError("end must be after start")
    con = con if con is not None else _default_con()
    if params is None:
        params = ModelParams(mmr=brackets_for(symbol)[0].mmr)
    inp = load_step_inputs(con, symbol, start - warmup_ms, end, interval, params.cell_frac)
    res = simulate(inp, params, per_tier=False)
    first = int(np.searchsorted(inp.ts, start, side="right"))
    if first >= len(inp.ts):
        raise NoData(f"no price steps for {symbol} after {start}")
    return inp, res, first


def _nice(x: float) -> float:
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if x <= m * e:
            return m * e
    return 10 * e


def _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct, params, warmup_ms):
    con = con if con is not None else _default_con()
    """Shared core of the two renderers: (meta, tss, kk, bb, prices, Hr) with levels at (kk[i], bb[i])."""
    params = params or ModelParams(mmr=brackets_for(symbol)[0].mmr)
    inp, res, first = calculate_time_evolving_heatmap(symbol, start, end, interval, params, warmup_ms, con=con)
    med = float(np.nanmedian(inp.close))
    bin_size = float(bin_size) if bin_size else _nice(med * 0.0025)
    cp = res.cell_prices()
    bidx = np.floor(cp / bin_size).astype(np.int64)
    # cells -> bins (sum) for all shown snapshots at once
    snaps = res.snapshots[first:]
    starts = np.flatnonzero(np.diff(np.concatenate([[bidx[0] - 1], bidx])))
    H = np.add.reduceat(snaps, starts, axis=2)  # (K', 2, nb)
    prices = np.round(bidx[starts] * bin_size, 8)
    closes = inp.close[first:].copy()
    for k in range(1, len(closes)):  # forward-fill missing closes for the band
        if not np.isfinite(closes[k]):
            closes[k] = closes[k - 1]
    tss = inp.ts[first:]
    Hr = np.round(H.astype(np.float64), 0)  # whole USDT: an estimate, no false precision
    lo_b = closes * (1 - band_pct / 100) - bin_size
    hi_b = closes * (1 + band_pct / 100)
    M = (prices[None, :] >= lo_b[:, None]) & (prices[None, :] <= hi_b[:, None]) & ((Hr[:, 0] > 0) | (Hr[:, 1] > 0))
    kk, bb = np.nonzero(M)  # row-major: by time, then price
    oi_last = inp.source.get("oi_last")
    coverage = float(res.open_qty[-1] / oi_last) if oi_last else None
    meta = {
        "symbol": symbol.upper(), "interval": interval, "start": int(tss[0]), "end": int(tss[-1]),
        "steps": len(tss), "estimate": True,
        "note": ("Estimated liquidation levels (model, not observed): positions inferred from OI increases, "
                 "taker side split, assumed leverage ladder; levels removed when price crosses them."),
        "ladder": [{"leverage": L, "weight": w} for L, w in params.ladder],
        "mmr": params.mmr, "brackets_as_of": BRACKETS_AS_OF, "cell_frac": params.cell_frac,
        "half_life_steps": params.half_life_steps, "bin_size": bin_size, "band_pct": band_pct,
        "warmup_ms": warmup_ms, "units": {"long": "USDT", "short": "USDT", "price": "USDT", "timestamp": "ms UTC"},
        "consumption": "kline high/low (last price; mark-price klines not ingested)",
        "coverage": None if coverage is None else round(coverage, 4),
        "sources": inp.source,
    }
    return meta, tss, kk, bb, prices, Hr


def get_heatmap_timeseries(symbol: str, start, end, interval: str = "15m", bin_size: float | None = None,
                           band_pct: float = 10.0, params: ModelParams | None = None,
                           warmup_ms: int = 7 * 86_400_000, *, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """JSON-ready heatmap time series: ``{meta, data: [{timestamp, levels: [{price, long, short}]}]}``.

    ``timestamp`` = step end (ms UTC); ``price`` = lower edge of a display bin (USDT);
    ``long``/``short`` = ESTIMATED open liquidation notional (whole USDT) whose level lies in
    the bin; only bins within ±``band_pct`` % of the step close and non-zero. ``bin_size``
    default: a round number near 0.25 % of the median price. Raises UnknownSymbol, NoData, ValueError.
    """
    meta, tss, kk, bb, prices, Hr = _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct,
                                                  params, warmup_ms)
    bounds = np.searchsorted(kk, np.arange(len(tss) + 1))
    pl = prices[bb].tolist()
    ll, sl = Hr[kk, 0, bb].astype(np.int64).tolist(), Hr[kk, 1, bb].astype(np.int64).tolist()
    data = []
    for k in range(len(tss)):
        i0, i1 = bounds[k], bounds[k + 1]
        data.append({"timestamp": int(tss[k]),
                     "levels": [{"price": p, "long": a, "short": b}
                                for p, a, b in zip(pl[i0:i1], ll[i0:i1], sl[i0:i1])]})
    return {"meta": meta, "data": data}


class Level(msgspec.Struct, gc=False):
    """One display bin of one column: lower price edge (USDT), estimated long/short notional (whole USDT)."""

    price: float
    long: int
    short: int


class Column(msgspec.Struct, gc=False):
    """One time step: ``timestamp`` = step end (ms UTC) and its non-empty levels."""

    timestamp: int
    levels: list[Level]


def get_heatmap_timeseries_json(symbol: str, start, end, interval: str = "15m", bin_size: float | None = None,
                                band_pct: float = 10.0, params: ModelParams | None = None,
                                warmup_ms: int = 7 * 86_400_000, *, con: duckdb.DuckDBPyConnection | None = None
                                ) -> bytes:
    """Same content as :func:`get_heatmap_timeseries`, encoded straight to JSON bytes.

    Levels are built as msgspec Structs (no per-level dicts), which keeps a 30-day 15-minute
    response (~200k levels) fast. Raises UnknownSymbol, NoData, ValueError.
    """
    meta, tss, kk, bb, prices, Hr = _heatmap_grid(con, symbol, start, end, interval, bin_size, band_pct,
                                                  params, warmup_ms)
    levels = list(map(Level, prices[bb].tolist(), Hr[kk, 0, bb].astype(np.int64).tolist(),
                      Hr[kk, 1, bb].astype(np.int64).tolist()))
    bounds = np.searchsorted(kk, np.arange(len(tss) + 1)).tolist()
    data = [Column(t, levels[bounds[k]:bounds[k + 1]]) for k, t in enumerate(tss.tolist())]
    return _ENCODER.encode({"meta": meta, "data": data})


def params_dict(p: ModelParams) -> dict:
    """ModelParams as a plain dict (for meta / CLI output)."""
    return asdict(p)
