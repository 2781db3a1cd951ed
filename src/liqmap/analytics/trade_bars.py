"""1-minute bars built from the trade stream: OHLC and taker buy / sell volume per minute.

Every venue with a public trade stream gets per-minute OHLCV and the taker side split the
heatmap model needs (``heatmap-model.md``: the share of taker buys decides how new open
interest splits into longs and shorts), including venues without a kline stream.

:class:`TradeBars` keeps one open bar per instrument ``(exchange, symbol)``; a bar covers
``[open_time, open_time + 1 min)`` (ms UTC, by the trades' exchange time) and is finished
when a trade of a later minute arrives (or at :meth:`TradeBars.flush`). A trade of an
earlier minute than the open bar (late, out of order) is counted in ``late`` and dropped:
its minute was already handed on. A bar is ``partial`` when the feed may have missed
trades of its minute: it is the first bar of its instrument since the builder started, or
its minute overlaps a :class:`~liqmap.models.Gap` of its venue. Readers may skip partial
bars; storage keys bars by ``(exchange, symbol, open_time)``, so a replay of the same
trades stores the same rows again (deterministic, nothing twice).

Units: prices in quote units; ``buy_volume`` / ``sell_volume`` in base units (taker buys /
taker sells), ``buy_usd`` / ``sell_usd`` their notional in USD (``Trade.value_usd``).
Pure, no I/O.
"""

from __future__ import annotations

from typing import Iterable

import msgspec

from liqmap.models import Gap, Trade
from liqmap.units import MINUTE_MS

BAR_MS = MINUTE_MS


class TradeBar(msgspec.Struct, gc=False):
    """One instrument's trades of one minute (module docstring for units)."""

    exchange: str
    symbol: str
    base: str
    quote: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    buy_volume: float
    sell_volume: float
    buy_usd: float
    sell_usd: float
    trades: int
    first_ts: int
    last_ts: int
    partial: bool = False

    @property
    def volume(self) -> float:
        """Base units traded in the minute."""
        return self.buy_volume + self.sell_volume


class TradeBars:
    """Build :class:`TradeBar` s from trades (module docstring)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], TradeBar] = {}
        self._gap_end: dict[str, int] = {}
        self.late = 0

    def add(self, trades: Iterable[Trade]) -> list[TradeBar]:
        """Feed trades (in arrival order); returns the bars they finished."""
        out: list[TradeBar] = []
        bars = self._open
        for t in trades:
            minute = t.timestamp - t.timestamp % BAR_MS
            key = (t.exchange, t.symbol)
            bar = bars.get(key)
            if bar is not None and minute == bar.open_time:
                _update(bar, t)
                continue
            if bar is not None:
                if minute < bar.open_time:
                    self.late += 1
                    continue
                out.append(bar)
            partial = bar is None or minute < self._gap_end.get(t.exchange, -1)
            bars[key] = _new_bar(t, minute, partial)
        return out

    def gap(self, gap: Gap) -> None:
        """A venue's coverage hole: its open bars and bars of minutes before the gap's end are partial."""
        self._gap_end[gap.exchange] = max(self._gap_end.get(gap.exchange, 0), gap.end)
        for (ex, _), bar in self._open.items():
            if ex == gap.exchange and bar.open_time < gap.end and bar.open_time + BAR_MS > gap.start:
                bar.partial = True

    def flush(self) -> list[TradeBar]:
        """Hand on every open bar (at shutdown: the last minute may be incomplete: partial)."""
        out = list(self._open.values())
        for bar in out:
            bar.partial = True
        self._open.clear()
        return out


def _new_bar(t: Trade, minute: int, partial: bool) -> TradeBar:
    buy = t.side == "buy"
    q, v = t.quantity, t.value_usd
    return TradeBar(t.exchange, t.symbol, t.base, t.quote, minute, t.price, t.price, t.price, t.price,
                    q if buy else 0.0, 0.0 if buy else q, v if buy else 0.0, 0.0 if buy else v, 1,
                    t.timestamp, t.timestamp, partial)


def _update(bar: TradeBar, t: Trade) -> None:
    p = t.price
    if p > bar.high:
        bar.high = p
    if p < bar.low:
        bar.low = p
    if t.timestamp >= bar.last_ts:
        bar.close, bar.last_ts = p, t.timestamp
    if t.timestamp < bar.first_ts:
        bar.open, bar.first_ts = p, t.timestamp
    if t.side == "buy":
        bar.buy_volume += t.quantity
        bar.buy_usd += t.value_usd
    else:
        bar.sell_volume += t.quantity
        bar.sell_usd += t.value_usd
    bar.trades += 1
