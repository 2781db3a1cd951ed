"""Open-interest sanity checks: what is not stored, never fed to the heatmap model (issue #10).

A venue's open interest changes slowly: positions open and close by trading, and a whole
market closing half its positions in one poll without the price moving does not happen.
:class:`OIGuard` rejects, per instrument (``(exchange, symbol)``):

* ``non_finite`` -- base units or USD value NaN / infinite;
* ``negative``   -- base units or USD value below zero;
* ``jump``       -- base units more than :attr:`OIGuardConfig.max_jump` (50 %) away from
  the last accepted value of the same instrument, as a ratio either way (up by more than
  half, or down to less than 1 / 1.5 = two thirds), taken at most
  :attr:`OIGuardConfig.max_age_ms` (1 h) earlier, while the instrument's price moved less
  than :attr:`OIGuardConfig.price_match` (10 %, as a ratio either way) between the two. A real deleveraging (a
  crash closing half the positions) moves the price, and inverse contracts (USD sizes,
  base = USD / price) change base units with the price: both pass. A value
  ``confirm`` (3) observations in a row agree on (within ``max_jump / 5`` of each other)
  is a new level, not noise: it is accepted (a venue changing its counting, as Bybit did on
  2026-06-11, or a genuine regime the guard must not lock out).

The instrument's price is the latest trade, mark or last price or kline close seen for it
(:meth:`OIGuard.observe_price`), else the value / base units of the observation itself.
Rejections are counted per venue and reason (:attr:`OIGuard.rejected`). Pure state machine,
no I/O, deterministic: a replay of the same events rejects the same observations.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from liqmap.exchanges.plausibility import open_interest_fault
from liqmap.models import OpenInterest
from liqmap.units import HOUR_MS

#: Reasons a value is rejected (:meth:`OIGuard.check`).
REASONS: tuple[str, ...] = ("non_finite", "negative", "jump")


@dataclass(frozen=True)
class OIGuardConfig:
    """Thresholds of :class:`OIGuard` (fractions; ms)."""

    max_jump: float = 0.5
    price_match: float = 0.1
    max_age_ms: int = HOUR_MS
    confirm: int = 3


@dataclass
class _Last:
    oi: float
    price: float | None
    ts: int
    pending: list[float] = field(default_factory=list)


class OIGuard:
    """Accept or reject each :class:`~liqmap.models.OpenInterest` (module docstring).

    ``rejected[(exchange, reason)]`` counts rejections; ``accepted[exchange]`` acceptances.
    """

    def __init__(self, config: OIGuardConfig | None = None) -> None:
        self.config = config or OIGuardConfig()
        self._last: dict[tuple[str, str], _Last] = {}
        self._price: dict[tuple[str, str], float] = {}
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.accepted: Counter[str] = Counter()

    def observe_price(self, exchange: str, symbol: str, price: float | None) -> None:
        """Latest price of an instrument (quote units); non-positive / non-finite ignored."""
        if price is not None and 0.0 < price < math.inf:
            self._price[(exchange, symbol)] = price

    def check(self, oi: OpenInterest) -> str | None:
        """None when ``oi`` is accepted (it becomes the instrument's reference), else the
        reason it is rejected (one of :data:`REASONS`, counted)."""
        reason = self._reason(oi)
        if reason is None:
            self.accepted[oi.exchange] += 1
        else:
            self.rejected[(oi.exchange, reason)] += 1
        return reason

    def rejected_by_exchange(self) -> dict[str, dict[str, int]]:
        """``{exchange: {reason: count}}`` of every rejection so far."""
        out: dict[str, dict[str, int]] = {}
        for (ex, reason), n in sorted(dict(self.rejected).items()):  # a copy: read from other threads
            out.setdefault(ex, {})[reason] = n
        return out

    def _reason(self, oi: OpenInterest) -> str | None:
        fault = open_interest_fault(oi, "negative")
        if fault is not None:
            return fault
        base, usd = oi.open_interest, oi.open_interest_usd
        key = (oi.exchange, oi.symbol)
        price = self._price.get(key) or (usd / base if usd and base > 0 else None)
        last = self._last.get(key)
        if last is not None and self._is_jump(last, base, price, oi.timestamp):
            if not self._confirmed(last, base):
                return "jump"
        self._last[key] = _Last(base, price, oi.timestamp)
        return None

    def _is_jump(self, last: _Last, base: float, price: float | None, ts: int) -> bool:
        cfg = self.config
        if ts - last.ts > cfg.max_age_ms or last.oi <= 0:
            return False
        if _ratio(base, last.oi) <= 1.0 + cfg.max_jump:
            return False
        moved = _ratio(price, last.price) - 1.0 if price and last.price else 0.0
        return moved < cfg.price_match

    def _confirmed(self, last: _Last, base: float) -> bool:
        """Keep ``base`` as a candidate level; True once ``confirm`` candidates agree."""
        tol = self.config.max_jump / 5.0
        last.pending = [p for p in last.pending if _ratio(base, p) <= 1.0 + tol] if base > 0 else []
        last.pending.append(base)
        if len(last.pending) >= self.config.confirm:
            return True
        return False


def _ratio(a: float, b: float) -> float:
    """max(a / b, b / a) for positive numbers (inf when one is 0)."""
    if a <= 0 or b <= 0:
        return math.inf
    return a / b if a >= b else b / a
