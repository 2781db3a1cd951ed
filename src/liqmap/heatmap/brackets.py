"""Binance USDⓈ-M maintenance-margin brackets (a DATED snapshot) and liquidation-price maths.

Brackets change over time and the live endpoint ``GET /fapi/v1/leverageBracket`` is
USER_DATA (signed) -- https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Notional-and-Leverage-Brackets
-- so liqmap ships the table dumped by freqtrade on **2024-10-24**
(``freqtrade/exchange/binance_leverage_tiers.json``) for BTCUSDT and ETHUSDT, as data in
``binance_brackets.json`` beside this module; any other
symbol falls back to the BTCUSDT table (tier 1 = 0.4 % MMR, the common first tier).

Linear (USDⓈ-M) isolated margin, one-way (Binance FAQ b3c689c1f50a44cabb3a84e663b81d93,
https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93, TMM1 = UPNL1 = 0):

* long:  ``P = (Q·EP − WB − cum) / (Q·(1 − MMR))``
* short: ``P = (Q·EP + WB + cum) / (Q·(1 + MMR))``

with Q in base units, EP/P in quote (USDT), WB = wallet balance of the position (USDT).

Inverse (COIN-M) isolated margin, one-way: PnL is in coin, ``Q·CS·(1/EP − 1/P)`` for a long,
maintenance margin ``Q·CS·MMR/P − cum`` (coin); equity = maintenance margin gives

* ``P = Q·CS·(MMR + s) / (WB + cum + s·Q·CS/EP)``, s = +1 long, −1 short,

Q in contracts, CS = contract size in USD, WB and cum in coin. This is the structure of Binance's
COIN-M formula (positions in contracts, WB and cum in coin, division by contract size), "How to
Calculate Liquidation Price of COIN-M Futures Contracts",
https://www.binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46 (the formula is an image
on that page; the algebra is the one in shared/docs/exchanges.md §12.2, checked in the tests
against the equity equation it solves).

The tier is chosen by the notional **at the liquidation price** ``Q·P`` (linear) or ``Q·CS/P``
coin (inverse), and the position's leverage must not exceed that bracket's maximum (a 75×
position of $1.14B notional does not exist: ``ValueError``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

_TABLE_FILE = Path(__file__).with_name("binance_brackets.json")


class Bracket(NamedTuple):
    """One maintenance-margin tier: notional floor/cap in USDT, max leverage, MMR (fraction), cum (USDT)."""

    floor: float
    cap: float
    max_leverage: int
    mmr: float
    cum: float


def _load(path: Path) -> tuple[str, dict[str, tuple[Bracket, ...]]]:
    """``(as_of date, {symbol: tiers})`` from the shipped snapshot (``binance_brackets.json``:
    rows ``[floor_usdt, cap_usdt, max_leverage, mmr, cum_usdt]``, ascending)."""
    doc = json.loads(path.read_text())
    return doc["as_of"], {sym: tuple(Bracket(*row) for row in rows) for sym, rows in doc["brackets"].items()}


BRACKETS_AS_OF, BRACKETS = _load(_TABLE_FILE)


def brackets_for(symbol: str) -> tuple[Bracket, ...]:
    """Bracket table for ``symbol`` (BTCUSDT table as the documented fallback for unknown symbols)."""
    return BRACKETS.get(symbol.upper(), BRACKETS["BTCUSDT"])


def _bracket_for(brackets: tuple[Bracket, ...], notional: float) -> Bracket:
    for br in brackets:
        if br.floor <= notional < br.cap:
            return br
    return brackets[-1]


def liquidation_price(
    side: str, qty: float, entry: float, wallet: float, brackets: tuple[Bracket, ...]
) -> float:
    """Exact isolated-margin liquidation price of a LINEAR position with tier selection (module docstring).

    Args:
        side: ``"long"`` or ``"short"``.
        qty: position size in base units (> 0).
        entry: entry price, USDT.
        wallet: margin allocated to the position, USDT (``qty·entry/leverage`` for a fresh position).
        brackets: tier table (``brackets_for(symbol)``).
    Returns: liquidation (mark) price in USDT; 0.0 if a long can never be liquidated.
    Raises: ValueError for a bad side, non-positive qty/entry/wallet, or a leverage
        ``qty·entry/wallet`` above the maximum of the bracket the position's notional falls in.
    """
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    if qty <= 0 or entry <= 0 or wallet <= 0:
        raise ValueError("qty, entry and wallet must be positive")
    lev, br0 = qty * entry / wallet, _bracket_for(brackets, qty * entry)
    if lev > br0.max_leverage * (1 + 1e-9):
        raise ValueError(f"leverage {lev:.1f}x exceeds the {br0.max_leverage}x maximum of the bracket "
                         f"for a notional of {qty * entry:,.0f}")
    s = 1.0 if side == "long" else -1.0
    price = 0.0
    for br in brackets:
        price = (wallet + br.cum - s * qty * entry) / (qty * br.mmr - s * qty)
        notional = qty * max(price, 0.0)
        if br.floor <= notional < br.cap:
            return max(price, 0.0)
    return max(price, 0.0)


def inverse_liquidation_price(side: str, contracts: float, contract_size: float, entry: float, wallet: float,
                              mmr: float, cum: float = 0.0) -> float:
    """Isolated-margin liquidation price of an INVERSE (coin-margined) position (module docstring).

    Args:
        side: ``"long"`` or ``"short"``; contracts: position size in contracts (> 0);
        contract_size: USD per contract (BTCUSD_PERP: 100); entry: USD per coin;
        wallet: margin allocated in COIN (``contracts·CS/(entry·leverage)`` for a fresh position);
        mmr: maintenance margin rate (fraction); cum: maintenance amount in coin.
    Returns: liquidation (mark) price in USD; ``math.inf`` for a short that can never be liquidated.
    Raises: ValueError for a bad side or non-positive sizes.
    """
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    if contracts <= 0 or contract_size <= 0 or entry <= 0 or wallet <= 0:
        raise ValueError("contracts, contract_size, entry and wallet must be positive")
    s = 1.0 if side == "long" else -1.0
    n = contracts * contract_size
    den = wallet + cum + s * n / entry
    if s < 0 and den >= 0:  # margin covers any rise: never liquidated
        return float("inf")
    return n * (mmr + s) / den


def ladder_factor(leverage: float, side: int, mmr: float, contract: str = "linear") -> float:
    """Liquidation price / entry price of a fresh position at ``leverage`` (cum = 0, first tier).

    Linear (``WB = Q·e/L``): long ``(1 − 1/L)/(1 − m)``, short ``(1 + 1/L)/(1 + m)``.
    Inverse (``WB = Q·CS/(e·L)`` coin): long ``(1 + m)/(1 + 1/L)``, short ``(1 − m)/(1 − 1/L)``.
    ``side`` 0 = long, 1 = short.
    """
    if contract == "inverse":
        return (1.0 + mmr) / (1.0 + 1.0 / leverage) if side == 0 else (1.0 - mmr) / (1.0 - 1.0 / leverage)
    return (1.0 - 1.0 / leverage) / (1.0 - mmr) if side == 0 else (1.0 + 1.0 / leverage) / (1.0 + mmr)


def check_ladder(ladder, mmr: float, contract: str = "linear", brackets: tuple[Bracket, ...] | None = None) -> None:
    """Raise ``ValueError`` unless every tier is a possible fresh position in the first bracket.

    Leverage must be > 1 and ≤ the first bracket's maximum (125× for BTCUSDT), ``1/L > mmr`` (else
    the level would sit beyond the entry), weights ≥ 0 summing to ≤ 1 (+1e-9).
    """
    first = (brackets or BRACKETS["BTCUSDT"])[0]
    if not ladder:
        raise ValueError("ladder must not be empty")
    for L, w in ladder:
        if not (1 < L <= first.max_leverage):
            raise ValueError(f"leverage {L} outside (1, {first.max_leverage}] (first bracket's maximum)")
        if 1.0 / L <= mmr:
            raise ValueError(f"leverage {L} with mmr {mmr}: the liquidation level would not be beyond the entry")
        if w < 0:
            raise ValueError(f"negative ladder weight {w}")
    if sum(w for _, w in ladder) > 1 + 1e-9:
        raise ValueError("ladder weights must sum to <= 1 (they split the new contracts)")
