"""Cross-venue arbitrage opportunities: the record and its open -> close tracker (pure).

An opportunity is "buy the underlying on one venue at its best ask, sell it on another at
its best bid", both perpetuals of the same underlying and quote family
(:data:`liqmap.symbols.QUOTE_FAMILY`: USDT-family, USDC, USD/inverse are kept apart).
"""

from __future__ import annotations

from collections import deque

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


class ArbitrageTracker:
    """Open -> close life of arbitrage opportunities (pure; the caller supplies the clock).

    Feed it each group's instantaneous candidates (:func:`liqmap.analytics.cross_exchange.arbitrage_candidates`)
    with :meth:`update`. An opportunity is identified by ``(base, family, buy venue, sell venue)``;
    it OPENS when that pair first appears, stays open while it keeps appearing, and CLOSES at the
    first update of its group without it. :meth:`update` returns the events worth telling:
    the opening, a new peak at least ``step_bps`` [5] above the last one told, and the closing
    (``open = False``, ``closed_at``, ``duration_ms``). Closed opportunities are kept in
    :attr:`closed` (the last ``history`` [1,000]). Cost per update: O(candidates + open ones
    of that group).
    """

    def __init__(self, step_bps: float = 5.0, history: int = 1_000) -> None:
        self.step_bps = step_bps
        self._groups: dict[tuple[str, str], dict[tuple[str, str], list]] = {}  # pair -> [op, peak told]
        self.closed: deque[ArbitrageOpportunity] = deque(maxlen=history)

    def update(self, base: str, family: str, candidates: list[ArbitrageOpportunity],
               now_ms: int) -> list[ArbitrageOpportunity]:
        """Fold one group's candidates at ``now_ms``; returns the events (class docstring)."""
        if not candidates and (base, family) not in self._groups:
            return []
        group = self._groups.setdefault((base, family), {})
        events: list[ArbitrageOpportunity] = []
        seen = set()
        for c in candidates:
            pair = (c.buy_exchange, c.sell_exchange)
            seen.add(pair)
            held = group.get(pair)
            if held is None:
                op = msgspec.structs.replace(c, opened_at=now_ms, updated_at=now_ms, duration_ms=0,
                                             id=f"{base}/{family}:{pair[0]}>{pair[1]}:{now_ms}")
                group[pair] = [op, op.peak_net_bps]
                events.append(op)
                continue
            prev = held[0]
            peak = max(prev.peak_net_bps, c.net_bps)
            op = held[0] = msgspec.structs.replace(c, id=prev.id, opened_at=prev.opened_at, updated_at=now_ms,
                                                   peak_net_bps=peak, duration_ms=now_ms - prev.opened_at)
            if peak >= held[1] + self.step_bps:
                held[1] = peak
                events.append(op)
        for pair in [p for p in group if p not in seen]:
            prev = group.pop(pair)[0]
            done = msgspec.structs.replace(prev, open=False, closed_at=now_ms, updated_at=now_ms,
                                           duration_ms=now_ms - prev.opened_at)
            self.closed.append(done)
            events.append(done)
        if not group:
            del self._groups[(base, family)]
        return events

    def opportunities(self, base: str | None = None, family: str | None = None) -> list[ArbitrageOpportunity]:
        """Open opportunities (optionally of one base / family), best net first."""
        out = [held[0] for (b, f), group in self._groups.items() for held in group.values()
               if (base is None or b == base) and (family is None or f == family)]
        return sorted(out, key=lambda o: -o.net_bps)
