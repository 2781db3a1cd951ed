"""The latest market state of every perpetual, per venue: the input of the cross-exchange view.

:class:`QuoteBoard` folds the event stream (pure, no I/O, no clock) into one :class:`Quote` per
``(exchange, symbol)`` and indexes them by underlying and quote family:

* :class:`~liqmap.models.Ticker` -- every non-None field replaces the held one (venues spread
  bid/ask, mark, funding and volume over several channels, and Bybit sends deltas);
* :class:`~liqmap.models.Trade` -- the last price;
* :class:`~liqmap.models.OpenInterest` -- open interest in base units and USD;
* anything else is ignored.

Which instruments count: :func:`perpetual_key` resolves ``(exchange, symbol)`` to
``(base, quote, quote family)`` with the venue module's ``base_quote`` and keeps the symbol only
when it is that venue's perpetual of the pair (``native_symbols(base, quote)``): dated futures,
options and spot pairs are left out, so basis never passes for a price difference. Quote
families (:data:`liqmap.symbols.QUOTE_FAMILY`: USDT-like, USDC, USD/inverse) are kept apart.
"""

from __future__ import annotations

from typing import Any, Callable

from liqmap.models import TICKER_VALUE_FIELDS, OpenInterest, Ticker, Trade
from liqmap.symbols import QUOTE_FAMILY, normalize_base

#: The Ticker fields a Quote keeps (same names, same units; see liqmap.models.Ticker).
TICKER_FIELDS = TICKER_VALUE_FIELDS

Resolver = Callable[[str, str], "tuple[str, str, str] | None"]


def perpetual_key(exchange: str, symbol: str) -> tuple[str, str, str] | None:
    """``(base, quote, family)`` of a venue's perpetual, or None (not a perpetual, unknown venue
    or symbol). Uses the venue module's ``base_quote`` and ``native_symbols``."""
    from liqmap.exchanges.base import FrameError
    from liqmap.exchanges.registry import venue_class

    try:
        cls = venue_class(exchange)
        base, quote = cls.base_quote(symbol)
    except (KeyError, ValueError, FrameError):
        return None
    family = QUOTE_FAMILY.get(quote.upper())
    if family is None:
        return None
    natives = {s.upper() for s in cls.native_symbols(base, quote)}
    if symbol.upper() not in natives:
        return None
    return normalize_base(base), quote.upper(), family


class Quote:
    """Latest state of one instrument (mutable; read it through :class:`QuoteBoard`).

    Fields as :class:`~liqmap.models.Ticker` (prices in quote units, sizes/volume/OI in base
    units, ``*_usd`` in USD, times ms UTC) plus ``exchange``, ``symbol``, ``base``, ``quote``,
    ``family``, ``updated_at`` (newest exchange time seen) and ``received_at`` (newest receipt
    time seen).
    """

    __slots__ = ("exchange", "symbol", "base", "quote", "family", "updated_at", "received_at", *TICKER_FIELDS)

    def __init__(self, exchange: str, symbol: str, base: str, quote: str, family: str) -> None:
        self.exchange, self.symbol, self.base, self.quote, self.family = exchange, symbol, base, quote, family
        self.updated_at = 0
        self.received_at = 0
        for f in TICKER_FIELDS:
            setattr(self, f, None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy of every field."""
        return {k: getattr(self, k) for k in self.__slots__}


class QuoteBoard:
    """Latest :class:`Quote` per instrument, grouped by ``(base, family)`` (module docstring).

    Args:
        resolver: ``(exchange, symbol) -> (base, quote, family) | None``; default
            :func:`perpetual_key`. Results are cached per instrument.
    """

    def __init__(self, resolver: Resolver = perpetual_key) -> None:
        self.resolver = resolver
        self._keys: dict[tuple[str, str], tuple[str, str, str] | None] = {}
        self._quotes: dict[tuple[str, str], Quote] = {}
        self._groups: dict[tuple[str, str], dict[tuple[str, str], Quote]] = {}
        self.dirty: set[tuple[str, str]] = set()
        self.ignored = 0

    def _quote(self, exchange: str, symbol: str) -> Quote | None:
        k = (exchange, symbol)
        q = self._quotes.get(k)
        if q is not None:
            return q
        if k not in self._keys:
            self._keys[k] = self.resolver(exchange, symbol) if len(self._keys) < 100_000 else None
        key = self._keys[k]
        if key is None:
            return None
        base, quote, family = key
        q = self._quotes[k] = Quote(exchange, symbol, base, quote, family)
        self._groups.setdefault((base, family), {})[k] = q
        return q

    def update(self, ev: Any) -> tuple[str, str] | None:
        """Fold one event; returns the ``(base, family)`` it touched, or None (ignored)."""
        t = type(ev)
        if t is not Ticker and t is not Trade and t is not OpenInterest:
            return None
        q = self._quote(ev.exchange, ev.symbol)
        if q is None:
            self.ignored += 1
            return None
        if t is Ticker:
            for f in TICKER_FIELDS:
                v = getattr(ev, f)
                if v is not None:
                    setattr(q, f, v)
        elif t is Trade:
            q.last_price = ev.price
        else:
            q.open_interest = ev.open_interest
            if ev.open_interest_usd is not None:
                q.open_interest_usd = ev.open_interest_usd
        if ev.timestamp > q.updated_at:
            q.updated_at = ev.timestamp
        if ev.received_at > q.received_at:
            q.received_at = ev.received_at
        key = (q.base, q.family)
        self.dirty.add(key)
        return key

    def take_dirty(self) -> set[tuple[str, str]]:
        """The groups touched since the last call (and forget them)."""
        d, self.dirty = self.dirty, set()
        return d

    def groups(self) -> list[tuple[str, str]]:
        """Every ``(base, family)`` with at least one quote."""
        return list(self._groups)

    def quotes(self, base: str, family: str) -> list[Quote]:
        """The quotes of one underlying and quote family (any order)."""
        return list(self._groups.get((normalize_base(base), family), {}).values())

    def quote(self, exchange: str, symbol: str) -> Quote | None:
        """One instrument's quote, or None."""
        return self._quotes.get((exchange, symbol))

    def all(self) -> list[Quote]:
        """Every quote."""
        return list(self._quotes.values())
