"""Whale tape: large trades across venues in one time-ordered tape, liquidations inline
(like aggr.trade's), pure and bounded.

:class:`WhaleTape` keeps the last ``size`` [1,000] :class:`TapeEntry` s:

* a :class:`~liqmap.models.Trade` whose ``value_usd`` reaches the threshold of its underlying
  (``min_usd_by_base[BASE]``, else ``min_usd`` [``units.WHALE_TRADE_USD``, 1M USD]);
* a :class:`~liqmap.models.Liquidation` whose ``value_usd`` reaches ``liquidation_min_usd``
  [``units.LARGE_USD``, 10k USD], marked ``kind = "liquidation"``; its ``side`` is the forced
  order's side (a liquidated long is a forced SELL), ``liquidated`` the position side.

Entries are ordered by event time as they arrive; :meth:`WhaleTape.entries` returns newest first.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal, Mapping

import msgspec

from liqmap.models import Liquidation, Trade
from liqmap.symbols import normalize_base
from liqmap.units import LARGE_USD, WHALE_TRADE_USD


class TapeEntry(msgspec.Struct, frozen=True):
    """One line of the tape: ``kind`` (trade | liquidation), ``exchange``, ``symbol``, ``base``,
    ``quote``, ``side`` (taker / forced-order side: buy | sell), ``liquidated`` (long | short for a
    liquidation, else None), ``price`` (quote units), ``quantity`` (base units), ``value_usd``,
    ``timestamp`` (ms UTC), ``id``, ``liquidation_trade`` (a trade the venue flags as caused by a
    liquidation)."""

    kind: Literal["trade", "liquidation"]
    exchange: str
    symbol: str
    base: str
    quote: str
    side: Literal["buy", "sell"]
    liquidated: Literal["long", "short"] | None
    price: float
    quantity: float
    value_usd: float
    timestamp: int
    id: str
    liquidation_trade: bool = False


class WhaleTape:
    """Bounded tape of whale trades and liquidations (module docstring)."""

    def __init__(self, min_usd: float = WHALE_TRADE_USD, min_usd_by_base: Mapping[str, float] | None = None,
                 liquidation_min_usd: float = LARGE_USD, size: int = 1_000) -> None:
        self.min_usd = min_usd
        self.min_usd_by_base = {normalize_base(k): v for k, v in (min_usd_by_base or {}).items()}
        self.liquidation_min_usd = liquidation_min_usd
        self._tape: deque[TapeEntry] = deque(maxlen=size)

    def threshold(self, base: str) -> float:
        """The trade threshold (USD) of ``base``."""
        return self.min_usd_by_base.get(normalize_base(base), self.min_usd)

    def add(self, ev: Any) -> TapeEntry | None:
        """Put ``ev`` on the tape when it qualifies; returns the entry, else None."""
        t = type(ev)
        if t is Trade:
            if not ev.value_usd >= self.threshold(ev.base):  # NaN (unvalued) never qualifies
                return None
            e = TapeEntry("trade", ev.exchange, ev.symbol, ev.base, ev.quote, ev.side, None, ev.price, ev.quantity,
                          ev.value_usd, ev.timestamp, ev.id, ev.liquidation)
        elif t is Liquidation:
            if not ev.value_usd >= self.liquidation_min_usd:
                return None
            e = TapeEntry("liquidation", ev.exchange, ev.symbol, ev.base, ev.quote,
                          "sell" if ev.side == "long" else "buy", ev.side, ev.price, ev.quantity, ev.value_usd,
                          ev.timestamp, ev.id)
        else:
            return None
        self._tape.append(e)
        return e

    def entries(self, base: str | None = None, limit: int = 100, since_ms: int | None = None) -> list[TapeEntry]:
        """Newest first; optionally one underlying and/or entries at or after ``since_ms``."""
        b = normalize_base(base) if base else None
        out = []
        for e in reversed(self._tape):
            if since_ms is not None and e.timestamp < since_ms:
                continue
            if b is None or normalize_base(e.base) == b:
                out.append(e)
                if len(out) >= limit:
                    break
        return out

    def __len__(self) -> int:
        return len(self._tape)
