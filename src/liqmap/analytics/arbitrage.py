"""Cross-venue arbitrage opportunities (pure data; the detector is added below).

An opportunity is "buy the underlying on one venue at its best ask, sell it on another at
its best bid", both perpetuals of the same underlying and quote family
(:data:`liqmap.symbols.QUOTE_FAMILY`: USDT-family, USDC, USD/inverse are kept apart).
"""

from __future__ import annotations

import msgspec


class ArbitrageOpportunity(msgspec.Struct, frozen=True):
    """One opportunity, as of one update.

    Fields:
        id: ``"{base}/{quote_family}:{buy_exchange}>{sell_exchange}:{opened_at}"``, stable for
            the opportunity's life.
        base / quote_family: underlying (``BTC``) and quote family (``USDT``, ``USDC``, ``USD``).
        buy_exchange, buy_symbol, buy_price: where to buy, at its best ask (quote units).
        sell_exchange, sell_symbol, sell_price: where to sell, at its best bid (quote units).
        gross_bps: (sell_price - buy_price) / mid * 10,000, mid = their mean.
        fees_bps: taker fee of the buy venue + taker fee of the sell venue, bps.
        net_bps: gross_bps - fees_bps (> the detector's threshold while open).
        peak_net_bps: highest net_bps seen since ``opened_at``.
        funding_spread: sell venue funding rate - buy venue funding rate (fraction per
            funding interval, e.g. 0.0001 = 0.01 %), None when either is unknown. Positive =
            the short leg receives more funding than the long leg pays.
        opened_at / updated_at: ms UTC. closed_at: ms UTC once closed, else None.
        duration_ms: (closed_at or updated_at) - opened_at.
        open: False on the closing update.
    """

    id: str
    base: str
    quote_family: str
    buy_exchange: str
    buy_symbol: str
    buy_price: float
    sell_exchange: str
    sell_symbol: str
    sell_price: float
    gross_bps: float
    fees_bps: float
    net_bps: float
    peak_net_bps: float
    funding_spread: float | None
    opened_at: int
    updated_at: int
    closed_at: int | None
    duration_ms: int
    open: bool = True
