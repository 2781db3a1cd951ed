"""``liqmap validate``: the served model and five baselines against realized liquidations.

Everything is fixed by a FROZEN protocol file, ``heatmap/protocol/<version>.json`` (data files,
step, scored hours, split, metric, baselines, the fitting grid, bootstrap), committed before
the held-out half was scored. The parameters the fit chooses are written to
``heatmap/params/<version>.json``, which the API serves; ``validate`` scores exactly those.

Pipeline (the same code as the API: :mod:`~liqmap.heatmap.series` → :mod:`~liqmap.heatmap.pipeline`):

1. Binance BTCUSDT 5-minute OI and klines (``heatmap.reference``) → 5-minute steps; the stepper
   runs from the first row; each hour's prediction is the notional its 12 steps liquidated,
   per side (the levels of the book built before each step, crossed by that step's range).
2. Realized: CoinGlass hourly long/short liquidations, joined by hour END.
3. Scored hours: the protocol's window where all 12 steps are priced. The first half (by count)
   is the fit half, the rest is held out.
4. Fit (:func:`fit`): a grid search on the fit half ONLY — the simulation stops at the fit half's
   last hour and only fit-half realized values are read — maximising the mean over sides of the
   partial Spearman with the realized notional given the own-side excursion. The no-OI book
   (same engine, no OI input: constant opens, no closes, no cap) is fitted the same way on its
   own grid.
5. Score (:func:`score`) on the held-out half: Spearman and partial Spearman (given the own-side
   excursion) of the model and of each baseline, and the model's margin over each, with 95 %
   day-block bootstrap intervals.

Until the protocol is frozen, :func:`validate` refuses to score the held-out half.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liqmap.heatmap import reference as ref
from liqmap.heatmap.baselines import price_baselines
from liqmap.heatmap.engine import Params
from liqmap.heatmap.params import ServedParams, load_params, params_path, write_params
from liqmap.heatmap.pipeline import hourly, run
from liqmap.heatmap.series import StepSeries, build_series
from liqmap.heatmap.stats import day_block_resamples, partial_from, percentile_ci, rank_stats
from liqmap.units import HOUR_MS

PROTOCOL_DIR = Path(__file__).with_name("protocol")
PREDICTORS = ("model", "no_oi_book", "own_excursion", "two_sided_excursion", "hour_range", "breakout_6h")


def protocol_path(version: str) -> Path:
    """``heatmap/protocol/<version>.json``."""
    return PROTOCOL_DIR / f"{version}.json"


def load_protocol(version: str = "v1") -> dict:
    """The protocol dict. Raises ``FileNotFoundError`` for an unknown version."""
    return json.loads(protocol_path(version).read_text())


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Dataset:
    """Inputs and truth of one protocol.

    series: the 5-minute steps; hours (H,) dense hour ENDS of the series; ohlc (H, 4) Binance hour
    OHLC; rows (N,) indices into ``hours`` of the scored hours; realized (N, 2) USD long/short;
    n_fit: the first ``n_fit`` scored hours are the fit half.
    """

    series: StepSeries
    hours: np.ndarray
    ohlc: np.ndarray
    rows: np.ndarray
    realized: np.ndarray
    n_fit: int

    @property
    def t(self) -> np.ndarray:
        """(N,) hour END of every scored hour, ms UTC."""
        return self.hours[self.rows]

    def last_step(self, n_rows: int) -> int:
        """Series index one past the last step of scored hour ``n_rows − 1``."""
        return int(np.searchsorted(self.series.t_end, self.t[n_rows - 1], side="right"))


def hourly_ohlc(s: StepSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hour ends (H,), OHLC (H, 4), priced (H,) = every step of the hour has a close)."""
    hours, _ = hourly(s.t_end, np.zeros(len(s)))
    inv = np.searchsorted(hours, -(-s.t_end // HOUR_MS) * HOUR_MS)
    H = len(hours)
    hi, lo = np.full(H, -np.inf), np.full(H, np.inf)
    np.maximum.at(hi, inv, np.nan_to_num(s.high, nan=-np.inf))
    np.minimum.at(lo, inv, np.nan_to_num(s.low, nan=np.inf))
    first, last = np.full(H, -1), np.full(H, -1)
    first[inv[::-1]] = np.arange(len(s))[::-1]
    last[inv] = np.arange(len(s))
    per_hour = HOUR_MS // s.step_ms
    priced = np.bincount(inv, weights=np.isfinite(s.close), minlength=H) == per_hour
    return hours, np.stack([s.open[first], hi, lo, s.close[last]], axis=1), priced


def prepare(protocol: dict) -> Dataset:
    """Load the protocol's reference files and align them (module docstring 1–3)."""
    d = protocol["data"]
    klines = [ref.load_klines(ref.REFERENCE_DIR / f, iv) for f, iv in d["klines"]]
    series = build_series(protocol["step_ms"], klines, ref.load_oi(ref.REFERENCE_DIR / d["oi"]))
    real = ref.load_realized(ref.REFERENCE_DIR / d["realized"])
    hours, ohlc, priced = hourly_ohlc(series)
    w = protocol["scored_hours"]
    pos = {int(t): i for i, t in enumerate(real.t_end)}
    lo, hi = _ms(w["first_end"]), _ms(w["last_end"])
    rows = np.array([i for i, t in enumerate(hours) if priced[i] and lo <= t <= hi and int(t) in pos], dtype=np.int64)
    ri = np.array([pos[int(t)] for t in hours[rows]], dtype=np.int64)
    realized = np.stack([real.long[ri], real.short[ri]], axis=1)
    return Dataset(series, hours, ohlc, rows, realized, len(rows) // 2)


def no_oi_series(s: StepSeries) -> StepSeries:
    """The same steps with the OI erased (the no-OI book's input)."""
    out = copy.copy(s)
    out.oi = np.full(len(s), np.nan)
    return out


def hourly_prediction(params: Params, ds: Dataset, n_rows: int | None = None, *, no_oi: bool = False) -> np.ndarray:
    """(n_rows, 2) USD liquidated per scored hour, simulating only up to scored hour ``n_rows − 1``."""
    n_rows = len(ds.rows) if n_rows is None else n_rows
    s = no_oi_series(ds.series) if no_oi else ds.series
    res = run(params, s, stop=ds.last_step(n_rows))
    hours, per = hourly(res.t_end, res.consumed)
    return per[np.searchsorted(hours, ds.t[:n_rows])]


# ---------------------------------------------------------------- fit (first half only)

def grid(protocol: dict, kind: str) -> list[Params]:
    """Candidate parameters of ``kind`` ("model" or "no_oi_book") from the protocol's grid."""
    g, fixed = protocol["grid"], protocol["fixed"]
    base = dict(mmr=fixed["mmr"], cell_bps=fixed["cell_bps"], window_log=fixed["window_log"],
                same_step_frac=fixed["same_step_frac"])
    rates = g["base_rate"] if kind == "model" else [1.0]
    out = []
    for lad, spread, hl, rate in itertools.product(g["ladders"].values(), g["level_spread"], g["half_life_hours"], rates):
        out.append(Params(ladder=tuple((float(L), float(w)) for L, w in lad), level_spread=spread,
                          half_life_ms=None if hl is None else hl * HOUR_MS, base_rate=rate,
                          oi_weight=1.0 if kind == "model" else 0.0, use_oi_closes=kind == "model", **base))
    return out


def criterion(pred: np.ndarray, realized: np.ndarray, exc: np.ndarray) -> tuple[float, list[float]]:
    """Mean over sides of the partial Spearman given the own-side excursion, and the two values."""
    vals = []
    for s in (0, 1):
        m = rank_stats(np.column_stack([pred[:, s], realized[:, s], exc[:, s]]))
        vals.append(partial_from(m, 0, 1, 2))
    return float(np.mean(vals)), vals


def fit(protocol: dict, ds: Dataset, kind: str, progress=None) -> dict:
    """Grid search on the fit half (module docstring 4). Returns ``{"params", "fit_partial": [long, short],
    "fit_mean", "candidates"}``. Reads realized values of the fit half only."""
    n = ds.n_fit
    exc = own_exc(ds)[:n]
    real = ds.realized[:n]
    best = None
    cands = grid(protocol, kind)
    for i, p in enumerate(cands):
        mean, vals = criterion(hourly_prediction(p, ds, n, no_oi=kind != "model"), real, exc)
        if best is None or mean > best["fit_mean"]:
            best = {"params": p, "fit_mean": mean, "fit_partial": vals}
        if progress:
            progress(i + 1, len(cands), p, mean)
    best["candidates"] = len(cands)
    return best


def own_exc(ds: Dataset) -> np.ndarray:
    """(N, 2) own-side excursion of every scored hour."""
    return price_baselines(*ds.ohlc[:, :3].T)["own_excursion"][ds.rows]


# ---------------------------------------------------------------- score (held-out half)

def score(ds: Dataset, preds: dict[str, np.ndarray], rows: np.ndarray, n_boot: int, seed: int) -> dict:
    """Per side and predictor: Spearman, partial Spearman given the own-side excursion, the model's
    margin over it in both, each with a 95 % day-block interval over ``rows`` (indices into the scored hours)."""
    names = list(preds)
    t = ds.t[rows]
    samples = day_block_resamples(t, n_boot, seed)
    out = {}
    for s, side in ((0, "long"), (1, "short")):
        cols = np.column_stack([ds.realized[rows, s]] + [preds[k][rows, s] for k in names])
        ok = np.isfinite(cols).all(axis=1)
        exc_i = 1 + names.index("own_excursion")

        def stats(idx):
            m = rank_stats(cols[idx][ok[idx]])
            rho = np.array([m[0, 1 + j] for j in range(len(names))])
            par = np.array([partial_from(m, 1 + j, 0, exc_i) if 1 + j != exc_i else np.nan for j in range(len(names))])
            return rho, par
        rho, par = stats(np.arange(len(rows)))
        boot = [stats(i) for i in samples]
        br, bp = np.array([b[0] for b in boot]), np.array([b[1] for b in boot])
        side_out = {}
        for j, k in enumerate(names):
            r = {"spearman": rho[j], "spearman_ci95": percentile_ci(br[:, j]),
                 "partial": par[j], "partial_ci95": percentile_ci(bp[:, j])}
            if k != "model":
                r["model_minus_spearman_ci95"] = percentile_ci(br[:, 0] - br[:, j])
                r["model_minus_partial_ci95"] = percentile_ci(bp[:, 0] - bp[:, j])
            side_out[k] = {a: _round(v) for a, v in r.items()}
        out[side] = side_out
    return out


def _round(v):
    """Round floats (and lists of them) to 4 places; NaN → None (JSON has no NaN)."""
    if isinstance(v, list):
        return [_round(x) for x in v]
    v = float(v)
    return round(v, 4) if np.isfinite(v) else None


def predictions(ds: Dataset, served: ServedParams, n_rows: int | None = None) -> dict[str, np.ndarray]:
    """(n_rows, 2) scores of the model and the five baselines for the first ``n_rows`` scored hours
    (default all; the simulation stops after hour ``n_rows − 1``)."""
    n = len(ds.rows) if n_rows is None else n_rows
    base = {k: v[ds.rows[:n]] for k, v in price_baselines(*ds.ohlc[:, :3].T).items()}
    return {"model": hourly_prediction(served.params, ds, n),
            "no_oi_book": hourly_prediction(served.no_oi_params, ds, n, no_oi=True), **base}


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def describe_split(ds: Dataset) -> dict:
    """Hour ends and counts of the two halves."""
    t = ds.t
    return {"fit": {"first_end": _iso(t[0]), "last_end": _iso(t[ds.n_fit - 1]), "hours": int(ds.n_fit)},
            "held_out": {"first_end": _iso(t[ds.n_fit]), "last_end": _iso(t[-1]), "hours": int(len(t) - ds.n_fit)}}


def validate(version: str = "v1", *, n_boot: int | None = None, development: bool = False) -> dict:
    """Score the served parameters of ``version`` (module docstring 5).

    ``development=True`` scores the fit half instead (for work on a protocol that is not frozen).
    Raises ``RuntimeError`` when asked for the held-out half of an unfrozen protocol, or when the
    params file was not fitted under this protocol.
    """
    protocol = load_protocol(version)
    if not development and not protocol.get("frozen"):
        raise RuntimeError(f"protocol {version} is not frozen: the held-out half is not scored before it is")
    served = load_params(version)
    if served.protocol != version:
        raise RuntimeError(f"{params_path(version)} was fitted under protocol {served.protocol}, not {version}")
    ds = prepare(protocol)
    b = protocol["bootstrap"]
    rows = np.arange(ds.n_fit) if development else np.arange(ds.n_fit, len(ds.rows))
    return {"protocol": version, "scored": "fit half (development)" if development else "held-out half",
            "split": describe_split(ds), "params_version": served.version,
            "params": served.params.to_dict(), "no_oi_params": served.no_oi_params.to_dict(),
            "bootstrap": f"{n_boot or b['n']} resamples of whole UTC days, seed {b['seed']}",
            "sides": score(ds, predictions(ds, served, ds.n_fit if development else None), rows,
                           n_boot or b["n"], b["seed"]),
            "recorded_held_out": served.held_out}


def fit_and_write(version: str = "v1", progress=None) -> dict:
    """Fit the model and the no-OI book on the fit half of protocol ``version`` and write
    ``params/<version>.json`` (no held-out score yet). Returns the written summary.

    Raises ``RuntimeError`` when that file already records a held-out score: the score is
    reported once per protocol version, so a refit (which would erase it and let a new fit be
    scored on the same held-out half) needs a new protocol version."""
    path = params_path(version)
    if path.exists() and json.loads(path.read_text()).get("held_out"):
        raise RuntimeError(f"{path} records the held-out score of protocol {version}: a new fit needs a new "
                           "protocol version (copy protocol/<version>.json to a new name, unfrozen)")
    protocol = load_protocol(version)
    ds = prepare(protocol)
    model = fit(protocol, ds, "model", progress)
    no_oi = fit(protocol, ds, "no_oi_book", progress)
    split = describe_split(ds)
    write_params(version, version, protocol["step_ms"], _iso(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)),
                 split["fit"], model, no_oi)
    return {"fit_window": split["fit"], "model": {"params": model["params"].to_dict(), "fit_partial": model["fit_partial"]},
            "no_oi_book": {"params": no_oi["params"].to_dict(), "fit_partial": no_oi["fit_partial"]}}
