"""Validation of the heatmap model against REALIZED liquidations (heatmap-model.md §4).

Two sets:

**Hourly** (shipped file ``reference/coinglass_BTC_regime_1h_*.csv.gz``, a CoinGlass export
aggregating Binance+Bybit+OKX; see tests/fixtures/PROVENANCE.md): BTC price OHLC, OI OHLC in
USD and realized long/short liquidation USD per hour, 2025-12-04 → 2026-06-02. The model runs
at hourly steps from price and OI alone:

* OI contracts ``Q_k = oi_close_usd / price_close`` (BTC); ΔQ = end minus start of the hour.
  Option ``oi_path="hl"``: a net hourly ΔQ hides the contracts opened and closed inside the
  hour, so gross opens/closes are estimated from the OI high/low (:func:`gross_oi_flows`);
  they only shape the book for LATER hours -- the same hour's consumption never sees them
  (its OI low contains its own forced closes).
* No taker flow exists in this file, so the side split β uses a documented fallback, chosen
  on the first half only among: ``"clv"`` = close location in the range
  ``(close − low)/(high − low)`` (buying pressure proxy, continuous version of candle colour)
  and ``"half"`` = 0.5 (every new contract has one long and one short holder).
* Entries: 5 points spread uniformly over the hour's [low, high] (no traded price profile).
* Prediction for hour k: the model notional whose levels that hour's range crossed
  (``consumed``), per side, from positions opened in earlier hours, plus (when the fit picks
  φ > 0) the share φ of the levels opened IN hour k that lie inside hour k's own range
  (``ModelParams.same_step_frac``: an hourly step hides the intra-hour path, so a 100x position
  opened at the hour's high can be liquidated at that hour's low).

Walk-forward: :func:`fit_hourly` sees ONLY the first-half rows (it simulates them alone) and
chooses (a) β mode, (b) decay half-life, (c) same-step fraction φ, (d) ladder weights
(candidate ladders + NNLS of realized notional on per-tier flows); then (e) the combined
predictor (OLS on ranks of model and excursion) is fitted on the first-half rows. Everything is reported on the
later half only: Spearman, the naive baseline (downward excursion ``(open − low)/open`` for
longs, upward ``(high − open)/open`` for shorts), partial Spearman of the model given the
excursion, and day-block bootstrap 95 % intervals.

**Events**: Binance ``!forceOrder@arr`` captures (tests/fixtures/binance_forceorder_datastreams).
They carry no OI history and the companion trade files hold only aggTrades ≥ 15 k USD, so
the OI-driven model cannot be run there. What is computed instead is clearly labelled a
**trades-only variant**: each large aggTrade opens ``notional`` of positions on the taker's
side over the ladder; consumption by the large-trade price path; at each liquidation's
time the top-10 % bins (±5 % band, ±1 bin tolerance) are compared with the liquidation's
average price; the random-bin baseline is the dilated zone share of the band.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import rankdata

from liqmap.heatmap.engine import DEFAULT_LADDER, ModelParams, StepInputs, simulate

REFERENCE_DIR = Path(__file__).with_name("reference")
DEFAULT_HOURLY = REFERENCE_DIR / "coinglass_BTC_regime_1h_2025-12-04_2026-06-02.csv.gz"
DAY_MS = 86_400_000

CANDIDATE_LADDERS: dict[str, tuple[tuple[float, float], ...]] = {
    "default": DEFAULT_LADDER,
    "high_lev": ((25, 0.35), (50, 0.35), (100, 0.30)),
    "low_lev": ((5, 0.30), (10, 0.40), (25, 0.30)),
}
ALL_TIERS = (5, 10, 25, 50, 100)
HALF_LIVES_H = (None, 24.0, 72.0, 168.0, 336.0)
BETA_MODES = ("clv", "half")
SAME_STEP_FRACS = (0.0, 0.25, 0.5, 0.75, 1.0)
OI_PATHS = ("net", "hl")


@dataclass
class Hourly:
    """Columns of the hourly file as arrays (ms UTC; USD; BTC price in USDT)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_close: np.ndarray
    liq_long: np.ndarray
    liq_short: np.ndarray
    oi_open: np.ndarray | None = None
    oi_high: np.ndarray | None = None
    oi_low: np.ndarray | None = None


OPTIONAL_OI = ("oi_open", "oi_high", "oi_low")


def load_hourly(path: str | Path = DEFAULT_HOURLY) -> Hourly:
    """Read the CoinGlass hourly CSV (gz or plain). Raises ValueError naming file/line on a bad row.

    ``oi_open``/``oi_high``/``oi_low`` (USD) are read when the file has them (else None).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    cols: dict[str, list[float]] = {k: [] for k in ("timestamp", "price_open", "price_high", "price_low",
                                                    "price_close", "oi_close", "liquidation_long_usd",
                                                    "liquidation_short_usd")}
    with opener(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in cols if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        if all(c in (reader.fieldnames or []) for c in OPTIONAL_OI):
            cols.update({c: [] for c in OPTIONAL_OI})
        for i, row in enumerate(reader, start=2):
            try:
                for c in cols:
                    cols[c].append(float(row[c]))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: bad value ({exc})") from None
    a = {k: np.asarray(v) for k, v in cols.items()}
    order = np.argsort(a["timestamp"])
    return Hourly(
        ts=a["timestamp"][order].astype(np.int64),
        open=a["price_open"][order], high=a["price_high"][order], low=a["price_low"][order],
        close=a["price_close"][order], oi_close=a["oi_close"][order],
        liq_long=a["liquidation_long_usd"][order], liq_short=a["liquidation_short_usd"][order],
        **{c: a[c][order] for c in OPTIONAL_OI if c in a},
    )


def gross_oi_flows(h: Hourly) -> tuple[np.ndarray, np.ndarray]:
    """(opened, closed) contracts per hour from the OI OHLC path, each ≥ 0, opened − closed = ΔQ.

    Contracts: open/close USD OI over the open/close price, high/low USD OI over the typical
    price (H+L+C)/3 (when in the hour the OI extremes happened is unknown). The order of the
    OI high and low inside the hour is unknown too, so the two paths open→high→low→close
    (up = (H−O) + (C−L), down = H−L) and open→low→high→close (up = H−L, down = (O−L) + (H−C))
    are averaged. Row 0 opens and closes nothing. Raises ValueError without OI high/low columns.
    """
    if h.oi_high is None or h.oi_low is None or h.oi_open is None:
        raise ValueError("the hourly file has no oi_open/oi_high/oi_low columns")
    tp = (h.high + h.low + h.close) / 3
    qo, qc = h.oi_open / h.open, h.oi_close / h.close
    qh = np.maximum.reduce([h.oi_high / tp, qo, qc])
    ql = np.minimum.reduce([h.oi_low / tp, qo, qc])
    up = ((qh - qo) + (qc - ql) + (qh - ql)) / 2
    down = up - (qc - qo)
    up[0] = down[0] = 0.0
    return up, down


def hourly_inputs(h: Hourly, beta_mode: str = "clv", n_entry: int = 5, oi_path: str = "net") -> StepInputs:
    """Model drivers from price + OI only (module docstring). ``beta_mode`` in ``BETA_MODES``;
    ``oi_path`` in ``OI_PATHS``: ``"net"`` = ΔQ of the closes only, ``"hl"`` = gross opens/closes
    from the OI high/low (:func:`gross_oi_flows`)."""
    if oi_path not in OI_PATHS:
        raise ValueError(f"oi_path must be one of {OI_PATHS}")
    K = len(h.ts)
    q = h.oi_close / h.close  # contracts (BTC)
    dq = np.full(K, np.nan)
    dq[1:] = np.diff(q)
    oi_prev = np.full(K, np.nan)
    oi_prev[1:] = q[:-1]
    rng = h.high - h.low
    if beta_mode == "clv":
        beta = np.where(rng > 0, (h.close - h.low) / np.where(rng > 0, rng, 1.0), 0.5)
    elif beta_mode == "half":
        beta = np.full(K, 0.5)
    else:
        raise ValueError(f"beta_mode must be one of {BETA_MODES}")
    frac = (np.arange(n_entry) + 0.5) / n_entry
    px = h.low[:, None] + rng[:, None] * frac[None, :]  # (K, n)
    steps = np.repeat(np.arange(K), n_entry)
    prices = px.ravel()
    return StepInputs(
        ts=h.ts, open=h.open, high=h.high, low=h.low, close=h.close, dq=dq, oi_prev=oi_prev, beta=beta,
        entry_step=np.concatenate([steps, steps]),
        entry_side=np.concatenate([np.zeros(len(steps), int), np.ones(len(steps), int)]),
        entry_price=np.concatenate([prices, prices]),
        entry_weight=np.ones(2 * len(steps)),
        source={"oi": "hourly oi_close USD / close" + (" + OI high/low path" if oi_path == "hl" else ""),
                "beta": beta_mode, "entries": f"{n_entry} uniform in [low, high]"},
        **(dict(zip(("gross_open", "gross_close"), gross_oi_flows(h))) if oi_path == "hl" else {}),
    )


# ---------------------------------------------------------------- statistics

def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if degenerate."""
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Partial Spearman of x and y controlling for z (first-order partial on ranks)."""
    rxy, rxz, ryz = spearman(x, y), spearman(x, z), spearman(y, z)
    den = math.sqrt(max((1 - rxz**2) * (1 - ryz**2), 1e-12))
    return (rxy - rxz * ryz) / den


def partial_spearman_multi(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Partial Spearman of x and y given every column of z (N, m): Pearson of the rank residuals
    after least squares on the ranks of z plus an intercept; NaN if degenerate."""
    Z = np.column_stack([rankdata(c) for c in np.atleast_2d(z.T)] + [np.ones(len(x))])
    rx, ry = rankdata(x), rankdata(y)
    ex = rx - Z @ np.linalg.lstsq(Z, rx, rcond=None)[0]
    ey = ry - Z @ np.linalg.lstsq(Z, ry, rcond=None)[0]
    if ex.std() == 0 or ey.std() == 0:
        return float("nan")
    return float(np.corrcoef(ex, ey)[0, 1])


def day_block_bootstrap(ts: np.ndarray, stat, n_boot: int = 500, seed: int = 7) -> list[float]:
    """95 % percentile interval of ``stat(idx)`` resampling whole UTC days with replacement."""
    days = ts // DAY_MS
    uniq, inv = np.unique(days, return_inverse=True)
    groups = [np.flatnonzero(inv == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[i] for i in pick])
        v = stat(idx)
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return [float(lo), float(hi)]


# ---------------------------------------------------------------- hourly validation

def _tier_flows(h: Hourly, beta_mode: str, half_life: float | None, same_step_frac: float = 0.0,
                oi_path: str = "net") -> np.ndarray:
    """(K, 2, 5) consumed notional per tier of ALL_TIERS with unit weights (linear in weights)."""
    inp = hourly_inputs(h, beta_mode, oi_path=oi_path)
    params = ModelParams(ladder=tuple((L, 1.0) for L in ALL_TIERS), half_life_steps=half_life,
                         same_step_frac=same_step_frac)
    return simulate(inp, params, keep_snapshots=False).per_tier_consumed


def _ladder_vec(ladder) -> np.ndarray:
    w = dict(ladder)
    return np.array([w.get(L, 0.0) for L in ALL_TIERS])


def slice_hourly(h: Hourly, idx: np.ndarray) -> Hourly:
    """Rows ``idx`` of every column (a new :class:`Hourly`)."""
    return Hourly(**{f: getattr(h, f)[idx] for f in Hourly.__dataclass_fields__})


def _excursion(h: Hourly) -> np.ndarray:
    return np.stack([(h.open - h.low) / h.open, (h.high - h.open) / h.open], axis=1)  # (K, 2)


def fit_hourly(h_train: Hourly) -> dict:
    """Choose β mode, half-life, same-step fraction φ and ladder weights on TRAIN rows only.

    ``h_train`` must hold only the fitting rows (the caller slices them off): the simulation
    runs on those rows alone, so nothing from later hours can reach the choice. Scored rows are
    1..end (row 0 has no ΔOI). Criterion: mean over sides of the partial Spearman of the model's
    consumed notional with realized liquidations, controlling for the excursion baseline.
    Returns ``{"oi_path", "beta_mode", "half_life_hours", "same_step_frac", "ladder", "weights" (5,),
    "train_partial_spearman_mean"}``.
    """
    K = len(h_train.ts)
    if K < 10:
        raise ValueError(f"need at least 10 training hours, got {K}")
    rows = np.arange(1, K)
    exc = _excursion(h_train)
    real = np.stack([h_train.liq_long, h_train.liq_short], axis=1)
    best = None
    paths = OI_PATHS if h_train.oi_high is not None else ("net",)
    for path, bm, hl, phi in ((p, b, t, f) for p in paths for b in BETA_MODES for t in HALF_LIVES_H
                              for f in SAME_STEP_FRACS):
        F = _tier_flows(h_train, bm, hl, phi, path)
        cands = {name: _ladder_vec(lad) for name, lad in CANDIDATE_LADDERS.items()}
        w_nnls = np.zeros(len(ALL_TIERS))
        for s in (0, 1):
            ws, _ = nnls(F[rows, s, :] / 1e6, real[rows, s] / 1e6)
            w_nnls += ws
        if w_nnls.sum() > 0:
            cands["nnls"] = w_nnls / w_nnls.sum()
        for name, w in cands.items():
            pred = F @ w
            score = float(np.mean([partial_spearman(pred[rows, s], real[rows, s], exc[rows, s])
                                   for s in (0, 1)]))
            if best is None or score > best["train_partial_spearman_mean"]:
                best = {"oi_path": path, "beta_mode": bm, "half_life_hours": hl, "same_step_frac": phi, "ladder": name,
                        "weights": w, "train_partial_spearman_mean": score}
    return best


def validate_hourly(path: str | Path = DEFAULT_HOURLY, n_boot: int = 500) -> dict:
    """Walk-forward hourly validation; returns the ``hourly`` JSON object (see module docstring).

    Per side: spearman, baseline_spearman, partial_spearman, partial_ci95, spearman_ci95,
    combined_spearman, combined_minus_baseline_ci95, n_hours; plus ``fit`` (what the first half chose,
    by :func:`fit_hourly` on the first-half rows alone).
    """
    h = load_hourly(path)
    K = len(h.ts)
    split = K // 2
    train, test = np.arange(1, split), np.arange(split, K)  # hour 0 has no ΔOI
    exc = _excursion(h)
    real = np.stack([h.liq_long, h.liq_short], axis=1)

    fit = fit_hourly(slice_hourly(h, np.arange(split)))
    bm, hl, phi, lname, w, score = (fit["beta_mode"], fit["half_life_hours"], fit["same_step_frac"], fit["ladder"],
                                    fit["weights"], fit["train_partial_spearman_mean"])
    pred = _tier_flows(h, bm, hl, phi, fit["oi_path"]) @ w  # causal: row k uses hours <= k only

    out: dict = {
        "n_hours_total": int(K), "train_hours": int(len(train)), "test_hours": int(len(test)),
        "train_start": int(h.ts[1]), "test_start": int(h.ts[split]), "test_end": int(h.ts[-1]),
        "fit": {"oi_path": fit["oi_path"], "beta_mode": bm, "half_life_hours": hl, "same_step_frac": phi, "ladder": lname,
                "weights": {str(L): round(float(x), 4) for L, x in zip(ALL_TIERS, w)},
                "train_partial_spearman_mean": round(float(score), 4)},
        "baseline": "excursion: (open-low)/open for longs, (high-open)/open for shorts",
        "bootstrap": f"{n_boot} day-block resamples of the test half",
    }
    for s, name in ((0, "long"), (1, "short")):
        # combined predictor: OLS on within-half ranks, fitted on train
        def ranks(idx, a):
            return rankdata(a[idx]) / len(idx)
        Xtr = np.column_stack([ranks(train, pred[:, s]), ranks(train, exc[:, s]), np.ones(len(train))])
        coef, *_ = np.linalg.lstsq(Xtr, ranks(train, real[:, s]), rcond=None)
        comb = np.zeros(K)
        comb[test] = coef[0] * ranks(test, pred[:, s]) + coef[1] * ranks(test, exc[:, s])
        ts_t, p_t, r_t, e_t, c_t = h.ts[test], pred[test, s], real[test, s], exc[test, s], comb[test]
        res = {
            "spearman": spearman(p_t, r_t),
            "baseline_spearman": spearman(e_t, r_t),
            "partial_spearman": partial_spearman(p_t, r_t, e_t),
            "combined_spearman": spearman(c_t, r_t),
            "combined_coef": [float(coef[0]), float(coef[1])],
            "n_hours": int(len(test)),
        }
        res["spearman_ci95"] = day_block_bootstrap(ts_t, lambda i: spearman(p_t[i], r_t[i]), n_boot)
        res["partial_ci95"] = day_block_bootstrap(ts_t, lambda i: partial_spearman(p_t[i], r_t[i], e_t[i]), n_boot)
        res["combined_minus_baseline_ci95"] = day_block_bootstrap(
            ts_t, lambda i: spearman(c_t[i], r_t[i]) - spearman(e_t[i], r_t[i]), n_boot)
        res["combined_beats_baseline"] = bool(res["combined_minus_baseline_ci95"][0] > 0)
        out[name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}
    out["context"] = _context(h, fit, test, exc, real)
    return out


def _context(h: Hourly, fit: dict, test: np.ndarray, exc: np.ndarray, real: np.ndarray) -> dict:
    """Held-out partial Spearman (given the excursion) of ablations and naive signals, per side.

    REPORTING ONLY -- nothing here feeds a choice. Ablations keep the fitted β mode, half-life and
    weights and switch one refinement off; naive signals are previous-hour quantities (volatility
    clustering), to show how much of the model's score such a signal alone reaches.
    """
    def ps(x: np.ndarray) -> dict:
        return {side: round(float(partial_spearman(x[test, s], real[test, s], exc[test, s])), 4)
                for s, side in ((0, "long"), (1, "short"))}

    w, bm, hl = fit["weights"], fit["beta_mode"], fit["half_life_hours"]
    out = {"note": "held-out partial Spearman given the excursion; reporting only, not used for any choice",
           "ablation_net_oi_no_same_step": ps(_tier_flows(h, bm, hl, 0.0, "net") @ w)}
    if fit["same_step_frac"] > 0:
        out["ablation_no_same_step"] = ps(_tier_flows(h, bm, hl, 0.0, fit["oi_path"]) @ w)
    if fit["oi_path"] != "net":
        out["ablation_net_oi"] = ps(_tier_flows(h, bm, hl, fit["same_step_frac"], "net") @ w)
    prev_liq = np.r_[np.nan, (h.liq_long + h.liq_short)[:-1]]
    out["naive_prev_hour_liquidations"] = ps(np.stack([prev_liq, prev_liq], axis=1))
    pred = _tier_flows(h, bm, hl, fit["same_step_frac"], fit["oi_path"]) @ w
    t = test[np.isfinite(prev_liq[test])]
    out["model_given_excursion_and_prev_hour_liquidations"] = {
        side: round(float(partial_spearman_multi(pred[t, s], real[t, s], np.column_stack([exc[t, s], prev_liq[t]]))), 4)
        for s, side in ((0, "long"), (1, "short"))}
    if h.oi_high is not None:
        prev_rng = np.r_[np.nan, ((h.oi_high - h.oi_low) / h.oi_close)[:-1]]
        out["naive_prev_hour_oi_range"] = ps(np.stack([prev_rng, prev_rng], axis=1))
    return out


# ---------------------------------------------------------------- event set (trades-only variant)

EVENT_CAPTURES = ("PauliusMinialga", "riftfern", "AlejandroME01", "BandsThoBaby", "NeoParth")
EVENTS_VARIANT = ("TRADES-ONLY VARIANT: entries = aggTrades >= 15k USD (taker side, quantity), no OI, "
                  "consumption by the large-trade price path; NOT the OI-driven model")
MIN_EVENTS = 10
MAX_STALE_MS = 900_000  # an event needs a large trade of its symbol within 15 min before it


def _default_events_dir() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        d = parent / "tests" / "fixtures" / "binance_forceorder_datastreams"
        if d.is_dir():
            return d
    return None


def _read_text_rows(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", errors="replace") as fh:
        return [r for r in csv.reader(fh)]


def _load_trades(path: Path) -> dict[str, np.ndarray]:
    """Large-aggTrade companion rows -> per-symbol arrays (T ms, price, qty, taker_buy)."""
    out: dict[str, list] = {}
    for r in _read_text_rows(path):
        if len(r) < 7:
            continue
        try:
            sym, price, qty, t = r[1].strip(), float(r[3]), float(r[4]), int(r[5])
        except ValueError:
            continue
        out.setdefault(sym, []).append((t, price, qty, r[6].strip().lower() != "true"))
    res = {}
    for sym, rows in out.items():
        a = np.array(sorted(rows), dtype=float)
        res[sym] = a
    return res


def _load_liqs(path: Path) -> list[tuple[str, str, float, float, int]]:
    """forceOrder capture rows -> (symbol+USDT, side long|short, avg price, notional USD, T ms); unparsable rows skipped."""
    seen, out = set(), []
    for r in _read_text_rows(path):
        if len(r) < 12:
            continue
        try:
            sym, S, ap, z, T = r[0].strip(), r[1].strip(), float(r[6]), float(r[9]), int(r[10])
        except ValueError:
            continue  # e.g. ap == "None" (NeoParth), generator repr line
        key = tuple(r[:12])
        if key in seen:
            continue
        seen.add(key)
        out.append((sym + "USDT" if not sym.endswith(("USDT", "USDC")) else sym,
                    "long" if S == "SELL" else "short", ap, ap * z, T))
    return out


def _events_for(trades: np.ndarray, events: list, ladder=DEFAULT_LADDER, step_ms: int = 60_000,
                band: float = 0.05, bin_frac: float = 0.001, top_frac: float = 0.10) -> dict:
    t, px, qty, buy = trades[:, 0].astype(np.int64), trades[:, 1], trades[:, 2], trades[:, 3] > 0
    t0 = (t[0] // step_ms) * step_ms
    K = int((t[-1] - t0) // step_ms) + 1
    si = (t - t0) // step_ms
    hi = np.full(K, np.nan); lo = np.full(K, np.nan); cl = np.full(K, np.nan)
    np.fmax.at(hi, si, px); np.fmin.at(lo, si, px)
    cl[si] = px  # sorted by time -> last wins
    dq = np.bincount(si, weights=qty, minlength=K)
    bq = np.bincount(si, weights=qty * buy, minlength=K)
    beta = np.where(dq > 0, bq / np.where(dq > 0, dq, 1), 0.5)
    dq = np.where(dq > 0, dq, np.nan)
    cl_ff = cl.copy()
    for k in range(1, K):
        if not np.isfinite(cl_ff[k]):
            cl_ff[k] = cl_ff[k - 1]
    last = np.searchsorted(t, np.array([e[4] for e in events], dtype=np.int64), side="right") - 1
    usable = [e for e, j in zip(events, last) if j >= 0 and e[4] - t[j] <= MAX_STALE_MS]
    if len(usable) < MIN_EVENTS:
        return {"n_events": len(usable), "status": f"not computable: {len(usable)} events with a large trade <= 15 min before (< {MIN_EVENTS})"}
    ek = np.array([min(K - 1, (e[4] - t0) // step_ms - 1) for e in usable])  # state from steps strictly before the event's minute
    ek = np.maximum(ek, 0)
    uniq = np.unique(ek)
    inp = StepInputs(ts=t0 + (np.arange(K) + 1) * step_ms, open=cl_ff, high=hi, low=lo, close=cl_ff, dq=dq,
                     oi_prev=np.full(K, np.nan), beta=beta, entry_step=np.concatenate([si, si]),
                     entry_side=np.concatenate([np.zeros(len(si), int), np.ones(len(si), int)]),
                     entry_price=np.concatenate([px, px]),
                     entry_weight=np.concatenate([qty * buy, qty * ~buy]))
    res = simulate(inp, ModelParams(ladder=ladder, cell_frac=0.0002), snapshot_at=uniq)
    cp = res.cell_prices()
    pos = {int(k): i for i, k in enumerate(uniq)}
    hit_n = tot_n = base_acc = 0.0
    hits = 0
    dists = []
    for e, k in zip(usable, ek):
        sym, side, ap, notional, T = e
        s = 0 if side == "long" else 1
        p0 = cl_ff[k]
        dists.append(abs(ap / p0 - 1) * 100)
        w = p0 * bin_frac
        b = np.floor((cp - p0 * (1 - band)) / w).astype(np.int64)
        nb = int(np.floor(2 * band / bin_frac))
        ok = (b >= 0) & (b < nb)
        dens = np.bincount(b[ok], weights=res.snapshots[pos[int(k)], s][ok], minlength=nb)[:nb]
        kk = max(1, int(np.ceil(top_frac * nb)))
        nz = np.flatnonzero(dens > 0)
        top = nz[np.argsort(dens[nz])[::-1][:kk]] if len(nz) else np.array([], dtype=np.int64)
        zone = np.zeros(nb, bool)
        for d in (-1, 0, 1):
            zone[np.clip(top + d, 0, nb - 1)] = True
        eb = int(np.floor((ap - p0 * (1 - band)) / w))
        inside = 0 <= eb < nb
        hit = bool(inside and zone[eb])
        tot_n += notional
        hit_n += notional * hit
        hits += hit
        base_acc += notional * zone.mean()
    return {"n_events": len(usable), "hit_rate": hit_n / tot_n, "hit_rate_count": hits / len(usable),
            "random_baseline": base_acc / tot_n, "lift": (hit_n / tot_n) / (base_acc / tot_n) if base_acc else None,
            "median_event_distance_pct": float(np.median(dists)),
            "status": "computed (trades-only variant)"}


def validate_events(events_dir: str | Path | None = None) -> dict:
    """Event-set check (module docstring). Returns ``{variant, note, captures: [...], pooled: {...}}``."""
    d = Path(events_dir) if events_dir else _default_events_dir()
    out = {"variant": EVENTS_VARIANT,
           "note": ("The OI-driven model is NOT computable on this set: the captures carry no OI history and the "
                    "companion files hold only aggTrades >= 15k USD (not a full tape). Hit rate = realized "
                    "liquidation notional whose average price falls in the top-10% bins (0.1% of price, "
                    "+-5% band, +-1 bin tolerance) of the same side; random baseline = share of the band "
                    "those zones cover. Events need a large trade of their symbol within 15 min before them; symbols with "
                    "< 10 such events are skipped."),
           "captures": []}
    if d is None or not d.is_dir():
        out["status"] = "not computable: capture folder not found"
        return out
    tot = {"n": 0, "hit": 0.0, "base": 0.0}
    for cap in EVENT_CAPTURES:
        liq_files = sorted(d.glob(f"{cap}_binance_liquidations_*"))
        trade_files = sorted(d.glob(f"{cap}_binance_large_aggtrades_*"))
        if not liq_files:
            continue
        events = [e for f in liq_files for e in _load_liqs(f)]
        if not trade_files:
            out["captures"].append({"capture": cap, "n_events": len(events),
                                    "status": "not computable: no trade companion file (no prices before events)"})
            continue
        trades = _load_trades(trade_files[0])
        n_before = len(out["captures"])
        for sym, arr in sorted(trades.items()):
            ev = [e for e in events if e[0] == sym]
            if not ev:
                continue
            r = _events_for(arr, ev)
            if r["n_events"] == 0:
                continue
            r.update({"capture": cap, "symbol": sym})
            if r.get("hit_rate") is not None:
                tot["n"] += r["n_events"]
                tt = arr[:, 0].astype(np.int64)
                jj = np.searchsorted(tt, np.array([e[4] for e in ev], dtype=np.int64), side="right") - 1
                notional = sum(e[3] for e, j in zip(ev, jj) if j >= 0 and e[4] - tt[j] <= MAX_STALE_MS)
                tot["hit"] += r["hit_rate"] * notional
                tot["base"] += r["random_baseline"] * notional
                tot.setdefault("notional", 0.0)
                tot["notional"] += notional
            out["captures"].append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
        if len(out["captures"]) == n_before:
            out["captures"].append({"capture": cap, "n_events": 0,
                                    "status": "not computable: no liquidation has a large trade of its symbol within 15 min before it"})
    if tot["n"]:
        out["pooled"] = {"n_events": tot["n"], "hit_rate": round(float(tot["hit"] / tot["notional"]), 4),
                         "random_baseline": round(float(tot["base"] / tot["notional"]), 4)}
    else:
        out["pooled"] = {"n_events": 0, "status": "not computable"}
    return out
