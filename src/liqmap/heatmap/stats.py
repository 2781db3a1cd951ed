"""Rank statistics and day-block bootstrap intervals used by ``liqmap validate``. Pure numpy/scipy."""

from __future__ import annotations

import math
import numpy as np
from scipy.stats import rankdata

from liqmap.units import DAY_MS


def day_groups(t: np.ndarray) -> list[np.ndarray]:
    """Row indices per UTC day of ``t`` (ms), in day order."""
    days = np.asarray(t, dtype=np.int64) // DAY_MS
    _, inv = np.unique(days, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inv[order])) + 1)


def day_block_resamples(t: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """``n_boot`` index arrays, each resampling whole UTC days of ``t`` (ms) with replacement.
    Deterministic for a given ``seed``."""
    groups = day_groups(t)
    rng = np.random.default_rng(seed)
    return [np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))]) for _ in range(n_boot)]


def rank_stats(cols: np.ndarray) -> np.ndarray:
    """Spearman matrix of the columns of ``cols`` (N, m) (Pearson of average ranks)."""
    r = np.column_stack([rankdata(c) for c in cols.T])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(r, rowvar=False)


def partial_from(m: np.ndarray, x: int, y: int, z: int) -> float:
    """First-order partial correlation of columns x, y given z from a correlation matrix ``m``."""
    den = math.sqrt(max((1 - m[x, z] ** 2) * (1 - m[y, z] ** 2), 0.0))
    return float((m[x, y] - m[x, z] * m[y, z]) / den) if den > 1e-12 else float("nan")


def percentile_ci(vals: np.ndarray) -> list[float]:
    """[2.5, 97.5] percentiles of the finite values (NaN, NaN when none)."""
    v = np.asarray(vals, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(v, [2.5, 97.5])
    return [float(lo), float(hi)]
