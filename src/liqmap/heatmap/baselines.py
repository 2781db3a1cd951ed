"""Price-only baselines for the hourly validation (``liqmap validate``). Pure numpy.

All take the hour's Binance OHLC (the same price series the model steps through) and return
(H, 2) scores, column 0 for long liquidations, 1 for short ones; larger = more liquidations
expected. Definitions (fixed by the protocol file):

* ``own_excursion``: long ``(open − low)/open``, short ``(high − open)/open``;
* ``two_sided_excursion``: ``max`` of the two excursions (a move either way), both sides;
* ``hour_range``: ``(high − low)/open``, both sides;
* ``breakout_6h``: how far the hour broke beyond the prior 6 hours' extreme, signed (negative =
  stayed inside): long ``(min low of the 6 h before − low)/that min``, short
  ``(high − max high of the 6 h before)/that max``; NaN for the first 6 hours.

The fifth baseline, the no-OI book, is the model's own engine without open interest
(``heatmap.validate``).
"""

from __future__ import annotations

import numpy as np

BREAKOUT_HOURS = 6


def own_excursion(o: np.ndarray, h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(H, 2): long (open − low)/open, short (high − open)/open."""
    return np.stack([(o - lo) / o, (h - o) / o], axis=1)


def two_sided_excursion(o: np.ndarray, h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(H, 2): the larger of the two excursions, same for both sides."""
    m = own_excursion(o, h, lo).max(axis=1)
    return np.stack([m, m], axis=1)


def hour_range(o: np.ndarray, h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(H, 2): (high − low)/open, same for both sides."""
    r = (h - lo) / o
    return np.stack([r, r], axis=1)


def breakout(h: np.ndarray, lo: np.ndarray, hours: int = BREAKOUT_HOURS) -> np.ndarray:
    """(H, 2) signed break beyond the prior ``hours`` extremes (module docstring); rows must be
    consecutive hours (a missing hour is a NaN row)."""
    H = len(h)
    out = np.full((H, 2), np.nan)
    for k in range(hours, H):
        plo, phi = np.min(lo[k - hours:k]), np.max(h[k - hours:k])
        out[k, 0] = (plo - lo[k]) / plo
        out[k, 1] = (h[k] - phi) / phi
    return out


def price_baselines(o: np.ndarray, h: np.ndarray, lo: np.ndarray) -> dict[str, np.ndarray]:
    """The four price baselines by name (protocol order), each (H, 2)."""
    return {"own_excursion": own_excursion(o, h, lo), "two_sided_excursion": two_sided_excursion(o, h, lo),
            "hour_range": hour_range(o, h, lo), "breakout_6h": breakout(h, lo)}
