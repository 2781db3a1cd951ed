"""Binance USDⓈ-M maintenance-margin brackets (a DATED snapshot) and liquidation-price maths.

Brackets change over time and the live endpoint ``GET /fapi/v1/leverageBracket`` is
USER_DATA (signed) -- https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Notional-and-Leverage-Brackets
-- so liqmap ships the table dumped by freqtrade on **2024-10-24**
(``freqtrade/exchange/binance_leverage_tiers.json``) for BTCUSDT and ETHUSDT; any other
symbol falls back to the BTCUSDT table (tier 1 = 0.4 % MMR, the common first tier).

Formula (isolated margin, one-way; Binance FAQ b3c689c1f50a44cabb3a84e663b81d93,
https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93, TMM1 = UPNL1 = 0):

* long:  ``P = (Q·EP − WB − cum) / (Q·(1 − MMR))``
* short: ``P = (Q·EP + WB + cum) / (Q·(1 + MMR))``

with Q in base units, EP/P in quote (USDT), WB = wallet balance of the position (USDT).
The tier is chosen by the notional **at the liquidation price** ``Q·P``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BRACKETS_AS_OF = "2024-10-24"


class Bracket(NamedTuple):
    """One maintenance-margin tier: notional floor/cap in USDT, max leverage, MMR (fraction), cum (USDT)."""

    floor: float
    cap: float
    max_leverage: int
    mmr: float
    cum: float


def _table(rows: list[tuple[float, float, int, float, float]]) -> tuple[Bracket, ...]:
    return tuple(Bracket(*r) for r in rows)


BRACKETS: dict[str, tuple[Bracket, ...]] = {
    "BTCUSDT": _table(
        [
            (0, 50_000, 125, 0.004, 0),
            (50_000, 600_000, 100, 0.005, 50),
            (600_000, 3_000_000, 75, 0.0065, 950),
            (3_000_000, 12_000_000, 50, 0.01, 11_450),
            (12_000_000, 70_000_000, 25, 0.02, 131_450),
            (70_000_000, 100_000_000, 20, 0.025, 481_450),
            (100_000_000, 230_000_000, 10, 0.05, 2_981_450),
            (230_000_000, 480_000_000, 5, 0.10, 14_481_450),
            (480_000_000, 600_000_000, 4, 0.125, 26_481_450),
            (600_000_000, 800_000_000, 3, 0.15, 41_481_450),
            (800_000_000, 1_200_000_000, 2, 0.25, 121_481_450),
            (1_200_000_000, 1_800_000_000, 1, 0.50, 421_481_450),
        ]
    ),
    "ETHUSDT": _table(
        [
            (0, 50_000, 125, 0.004, 0),
            (50_000, 600_000, 100, 0.005, 50),
            (600_000, 3_000_000, 75, 0.0065, 950),
            (3_000_000, 12_000_000, 50, 0.01, 11_450),
            (12_000_000, 50_000_000, 25, 0.02, 131_450),
            (50_000_000, 65_000_000, 20, 0.025, 381_450),
            (65_000_000, 150_000_000, 10, 0.05, 2_006_450),
            (150_000_000, 320_000_000, 5, 0.10, 9_506_450),
            (320_000_000, 400_000_000, 4, 0.125, 17_506_450),
            (400_000_000, 530_000_000, 3, 0.15, 27_506_450),
            (530_000_000, 800_000_000, 2, 0.25, 80_506_450),
            (800_000_000, 1_200_000_000, 1, 0.50, 280_506_450),
        ]
    ),
}


def brackets_for(symbol: str) -> tuple[Bracket, ...]:
    """Bracket table for ``symbol`` (BTCUSDT table as the documented fallback for unknown symbols)."""
    return BRACKETS.get(symbol.upper(), BRACKETS["BTCUSDT"])


def liquidation_price(
    side: str, qty: float, entry: float, wallet: float, brackets: tuple[Bracket, ...]
) -> float:
    """Exact isolated-margin liquidation price with tier selection (Binance form, module docstring).

    Args:
        side: ``"long"`` or ``"short"``.
        qty: position size in base units (> 0).
        entry: entry price, USDT.
        wallet: margin allocated to the position, USDT (``qty·entry/leverage`` for a fresh position).
        brackets: tier table (``brackets_for(symbol)``).
    Returns: liquidation (mark) price in USDT; 0.0 if a long can never be liquidated.
    Raises: ValueError for a bad side or non-positive qty/entry.
    """
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    if qty <= 0 or entry <= 0:
        raise ValueError("qty and entry must be positive")
    s = 1.0 if side == "long" else -1.0
    price = 0.0
    for br in brackets:
        price = (wallet + br.cum - s * qty * entry) / (qty * br.mmr - s * qty)
        notional = qty * max(price, 0.0)
        if br.floor <= notional < br.cap:
            return max(price, 0.0)
    return max(price, 0.0)


def liq_price_ladder(entry: np.ndarray, leverage: float, side: int, mmr: float) -> np.ndarray:
    """Vectorised liquidation price of fresh positions, cum = 0 (first-tier form, heatmap-model.md §3.5).

    ``side`` 0 = long: ``e·(1 − 1/L)/(1 − m)``; 1 = short: ``e·(1 + 1/L)/(1 + m)``.
    ``entry`` in USDT (any shape); returns the same shape, USDT.
    """
    if side == 0:
        return entry * (1.0 - 1.0 / leverage) / (1.0 - mmr)
    return entry * (1.0 + 1.0 / leverage) / (1.0 + mmr)
