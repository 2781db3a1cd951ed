"""Price levels: per-symbol bucket size, flooring a price to its level, level clusters.

Level rule (``level_size``), in quote units (USD for USDT/USDC/USD quotes):

* Seeded sizes by base asset: ``BTC`` -> 100, ``ETH`` -> 10 (from the project
  seed; BitMEX ``XBT`` counts as BTC).
* Every other base: the **largest 1-2-5 step not above price / 500**, i.e.
  ``step = m * 10**e`` with ``m`` in (1, 2, 5). A +-10 % price window (20 % of
  price wide) then holds ``0.2 * price / step`` levels, which this rule keeps in
  [100, 250). Examples: SOL 250 -> 0.5; DOGE 0.33 -> 0.0005; PEPE 0.000018 ->
  0.00000002 (2e-8).

The generic rule depends on the price's magnitude, so a symbol whose price
crosses a 1-2-5 boundary changes level size; callers that need one stable grid
over a session (heatmap) should compute the size once from a reference price.

``price_level`` floors to the grid (``98,912`` -> ``98,900`` for BTC) and rounds
the result to the step's decimals so that floats print cleanly (``0.1681``,
not ``0.16810000000000003``).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import msgspec

from liqmap.models import Liquidation
from liqmap.symbols import base_of

#: Seeded level sizes (quote units) by base asset.
SEED_LEVEL_SIZES: dict[str, float] = {"BTC": 100.0, "ETH": 10.0}

#: Generic rule: step is the largest 1-2-5 value <= price / LEVEL_DIVISOR.
LEVEL_DIVISOR = 500.0


def _step_125(raw: float) -> tuple[float, int]:
    """Largest 1-2-5 step <= raw, and the number of decimals it needs."""
    e = math.floor(math.log10(raw))
    mant = raw / 10.0**e
    # guard float noise: 1e-3/10**-3 may give 0.9999999
    if mant >= 9.999999:
        e += 1
        mant = 1.0
    m = 5 if mant >= 5 - 1e-9 else 2 if mant >= 2 - 1e-9 else 1
    return m * 10.0**e, max(0, -e)


_INF = math.inf
_floor = math.floor

# symbol_or_base -> (lo, hi, step, decimals): the step holds for lo <= price < hi.
# num/den: the step as an exact ratio of integers (step = num / den, den = 10**decimals),
# so a level is (k * num) / den -- one correctly rounded division, which prints
# as the clean decimal (0.1681, not 0.16810000000000003) without round().
_GRID_CACHE: dict[str, tuple[float, float, float, int, int, float]] = {}


def _grid(symbol_or_base: str, price: float) -> tuple[float, int]:
    """(step, decimals) for a symbol at a price, memoized per symbol and price band."""
    g = _GRID_CACHE.get(symbol_or_base)
    if g is not None and g[0] <= price < g[1]:
        return g[2], g[3]
    seeded = SEED_LEVEL_SIZES.get(base_of(symbol_or_base))
    if seeded is not None:
        step, lo, hi = seeded, 0.0, math.inf
    else:
        if not (price > 0 and math.isfinite(price)):
            raise ValueError(f"price must be positive and finite, got {price!r}")
        step = _step_125(price / LEVEL_DIVISOR)[0]
        e = math.floor(math.log10(step) + 1e-9)
        m = round(step / 10.0**e)
        nxt = {1: 2, 2: 5, 5: 10}[m] * 10.0**e
        # band of prices that map to this step (slightly shrunk against float noise)
        lo, hi = step * LEVEL_DIVISOR * (1 + 1e-9), nxt * LEVEL_DIVISOR * (1 - 1e-9)
    dec = _decimals(step)
    den = 10**dec
    if len(_GRID_CACHE) > 65_536:
        _GRID_CACHE.clear()
    _GRID_CACHE[symbol_or_base] = (lo, hi, step, dec, round(step * den), float(den))
    return step, dec


def level_size(symbol_or_base: str, price: float) -> float:
    """Level (bucket) size in quote units for a symbol at a given price.

    Args:
        symbol_or_base: venue symbol or base asset (see :func:`base_of`).
        price: a positive reference price in quote units.

    Returns: BTC 100, ETH 10, else the largest 1-2-5 step <= price/500.

    Raises: ValueError if ``price`` is not a positive finite number and the
        symbol has no seeded size.
    """
    return _grid(symbol_or_base, price)[0]


def _decimals(step: float) -> int:
    if step >= 1:
        return 0
    return max(0, -math.floor(math.log10(step) + 1e-9))


def price_level(symbol_or_base: str, price: float, size: float | None = None) -> float:
    """Floor ``price`` to its level: ``floor(price / size) * size``.

    ``size`` defaults to :func:`level_size` at this price. Examples: BTC
    98,912 -> 98,900; ETH 3,535 -> 3,530. Raises ValueError for a
    non-positive or non-finite price.
    """
    if not (0.0 < price < _INF):
        raise ValueError(f"price must be positive and finite, got {price!r}")
    if size is None:
        g = _GRID_CACHE.get(symbol_or_base)
        if g is None or not (g[0] <= price < g[1]):
            _grid(symbol_or_base, price)
            g = _GRID_CACHE[symbol_or_base]
        return (_floor(price / g[2] + 1e-9) * g[4]) / g[5]
    dec = _decimals(size)
    k = _floor(price / size + 1e-9)
    return float(k * size) if dec == 0 else round(k * size, dec)


class LevelCluster(msgspec.Struct, frozen=True):
    """Liquidations of one base asset, one price level and one position side.

    Fields: ``base``; ``level`` (lower edge, quote units); ``level_size``;
    ``side`` (``long``/``short``); ``count``; ``value_usd`` (sum of notional,
    USD); ``quantity`` (sum, base units); ``first_ts``/``last_ts`` (ms UTC);
    ``exchanges`` (sorted venue ids).
    """

    base: str
    level: float
    level_size: float
    side: str
    count: int
    value_usd: float
    quantity: float
    first_ts: int
    last_ts: int
    exchanges: tuple[str, ...]


def clusters(
    liqs: Iterable[Liquidation],
    *,
    sizes: dict[str, float] | None = None,
    min_value_usd: float = 0.0,
) -> list[LevelCluster]:
    """Group liquidations by (base, price level, side).

    Args:
        liqs: liquidation events (any order).
        sizes: optional fixed level size per base (overrides :func:`level_size`);
            when absent, each base uses the level size of its **first** event's
            price so one base has one grid.
        min_value_usd: drop clusters whose total notional is below this.

    Returns: clusters sorted by base, then level ascending, then side.
    """
    grid: dict[str, float] = dict(sizes or {})
    acc: dict[tuple[str, float, str], list] = {}
    for liq in liqs:
        size = grid.get(liq.base)
        if size is None:
            size = grid[liq.base] = level_size(liq.base, liq.price)
        lvl = price_level(liq.base, liq.price, size)
        key = (liq.base, lvl, liq.side)
        a = acc.get(key)
        if a is None:
            acc[key] = [1, liq.value_usd, liq.quantity, liq.timestamp, liq.timestamp, {liq.exchange}, size]
        else:
            a[0] += 1
            a[1] += liq.value_usd
            a[2] += liq.quantity
            if liq.timestamp < a[3]:
                a[3] = liq.timestamp
            if liq.timestamp > a[4]:
                a[4] = liq.timestamp
            a[5].add(liq.exchange)
    out = [
        LevelCluster(b, lvl, a[6], side, a[0], a[1], a[2], a[3], a[4], tuple(sorted(a[5])))
        for (b, lvl, side), a in acc.items()
        if a[1] >= min_value_usd
    ]
    out.sort(key=lambda c: (c.base, c.level, c.side))
    return out


def levels_in_window(symbol_or_base: str, price: float, pct: float = 0.10) -> int:
    """Number of levels spanning ``price * (1 +- pct)`` with the default size (for docs/tests)."""
    return int(round(2 * pct * price / level_size(symbol_or_base, price)))


__all__: Sequence[str] = (
    "SEED_LEVEL_SIZES",
    "LevelCluster",
    "base_of",
    "clusters",
    "level_size",
    "levels_in_window",
    "price_level",
)
