"""Symbol queries -> underlying base, and event matching across venues.

A user asks for ``BTCUSDT``, ``BTC``, ``ETH-USDT``, ``XBTUSD`` or
``BTC-USDT-SWAP``; venues name the same underlying differently. This module
is pure (no I/O).

:func:`parse_symbol` splits a query into ``(base, quote)``:

* separators ``-``, ``_``, ``/``, ``:`` split tokens; suffix tokens such as
  ``SWAP``, ``PERP``, ``PERPETUAL`` or expiry dates are ignored;
* a concatenated token is split on the longest known stablecoin/fiat quote
  suffix (:data:`QUOTES`): ``BTCUSDT`` -> (BTC, USDT), ``BTCUSD_PERP`` -> (BTC, USD);
  a concatenated ``PERP`` suffix names a USDC perpetual (Bybit ``BTCPERP`` -> (BTC, USDC));
* ``XBT`` is BitMEX's name for BTC and is normalized to ``BTC``;
* numeric lot prefixes are kept: ``1000PEPEUSDT`` -> (1000PEPE, USDT), because
  venues quote price and size per 1000-unit lot and events carry
  ``base == "1000PEPE"`` (see :mod:`liqmap.models`). ``PEPE`` does NOT match
  ``1000PEPE`` events.
* a bare base (``BTC``) has ``quote = None``; Deribit's ``BTC-PERPETUAL``
  (inverse) reads as quote ``USD``.

Matching (:func:`symbol_filter`):

* default (non-strict): an event matches when ``normalize_base(event.base)``
  equals the query's base -- every venue, every quote, linear and inverse;
* ``strict=True``: only the venue-native perpetuals of that underlying in the
  query's quote family (:data:`QUOTE_FAMILY`; a bare base means the USDT
  family): each venue module declares which of its quotes serves a family
  (``Venue.quote_families``; Deribit and Hyperliquid list USDC perpetuals for
  the USDT family, their only stablecoin-margined ones) and names the symbols
  (``Venue.native_symbols``). The symbol grammars and their sources are in the
  venue modules.

This is the one quote table of the code base: :data:`QUOTES` for queries,
:data:`VENUE_QUOTES` (plus EUR, BTC, ETH) for venue symbols. :func:`base_of`
is the never-raising "which underlying is this" used by analytics, API and
storage; :func:`split_symbol` splits a venue symbol with that venue's grammar.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable, Iterable, NamedTuple

#: Stablecoin/fiat quote suffixes of symbol queries, longest first.
QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "USDE", "USD")
#: Quote suffixes of venue symbols: :data:`QUOTES` plus fiat and crypto quotes
#: (BitMEX ``XBTEUR``, ``ETHBTC``-style pairs), longest first within each group.
VENUE_QUOTES: tuple[str, ...] = QUOTES + ("EUR", "BTC", "ETH")
#: Quotes whose amounts are taken as USD (stablecoins at par; README "value_usd").
USD_QUOTES: frozenset[str] = frozenset({"USD", "USDT", "USDC"})
#: The quote families (keys of ``Venue.quote_families``): a venue lists its perpetuals of an
#: underlying in at most one quote per family.
QUOTE_FAMILIES: tuple[str, ...] = ("USDT", "USDC", "USD")
#: Query quote -> quote family (the key of ``Venue.quote_families``).
QUOTE_FAMILY: dict[str, str] = {"USDT": "USDT", "FDUSD": "USDT", "BUSD": "USDT", "USDE": "USDT", "USDC": "USDC", "USD": "USD"}
BASE_ALIASES: dict[str, str] = {"XBT": "BTC"}
_SUFFIXES = {"SWAP", "PERP", "PERPETUAL", "FUTURES", "SPOT", "LINEAR", "INVERSE"}


class SymbolQuery(NamedTuple):
    """A parsed query: ``base`` (normalized, e.g. BTC), ``quote`` (or None), ``raw`` text."""

    base: str
    quote: str | None
    raw: str


def normalize_base(base: str) -> str:
    """Upper-case and alias (``XBT`` -> ``BTC``); lot prefixes are kept."""
    b = base.strip().upper()
    return BASE_ALIASES.get(b, b)


def split_quote(token: str, quotes: tuple[str, ...] = QUOTES) -> tuple[str, str | None]:
    """``(base, quote)`` of a concatenated token by the first matching suffix of
    ``quotes`` (``BTCUSDT`` -> (BTC, USDT)); ``(token, None)`` when none matches."""
    for q in quotes:
        if token.endswith(q) and len(token) > len(q):
            return token[: -len(q)], q
    return token, None


def parse_symbol(query: str) -> SymbolQuery:
    """Parse ``BTCUSDT`` / ``BTC`` / ``ETH-USDT`` / ``XBTUSD`` / ``BTC-USDT-SWAP``.

    Raises:
        ValueError: empty query or one with characters other than letters,
            digits and ``-_/:`` (the message quotes the input).
    """
    raw = query
    s = query.strip().upper()
    if not s or not re.fullmatch(r"[A-Z0-9][A-Z0-9\-_/:]*", s):
        raise ValueError(f"invalid symbol query {query!r}: use e.g. BTCUSDT, BTC or ETH-USDT")
    all_tokens = [t for t in re.split(r"[-_/:]", s) if t]
    tokens = [t for t in all_tokens if t not in _SUFFIXES and not t.isdigit()]
    if not tokens:
        raise ValueError(f"invalid symbol query {query!r}: no base asset")
    if len(tokens) >= 2 and tokens[1] in QUOTE_FAMILY:
        base, quote = tokens[0], tokens[1]
    else:
        base, quote = split_quote(tokens[0])
        if quote is None and base.endswith("PERP") and len(base) > 4:
            base, quote = base[:-4], "USDC"  # Bybit BTCPERP: USDC perpetual
        elif quote is None and "PERPETUAL" in all_tokens:
            quote = "USD"  # Deribit BTC-PERPETUAL: inverse, USD contracts
    return SymbolQuery(normalize_base(base), quote, raw)


def strict_symbols(query: str | SymbolQuery, exchanges: Iterable[str] | None = None) -> set[tuple[str, str]]:
    """``{(exchange, native_symbol)}`` matched in strict mode (see module docstring).

    ``exchanges`` defaults to every registered venue; names that are not
    registered venues match nothing.
    """
    from liqmap.exchanges.registry import VENUES

    q = parse_symbol(query) if isinstance(query, str) else query
    family = QUOTE_FAMILY.get(q.quote or "USDT", "USDT")
    out: set[tuple[str, str]] = set()
    for ex in exchanges if exchanges is not None else VENUES:
        cls = VENUES.get(ex)
        quote = cls.quote_families.get(family) if cls is not None else None
        if quote is not None:
            out.update((ex, sym.upper()) for sym in cls.native_symbols(q.base, quote))
    return out


def split_symbol(exchange: str, symbol: str) -> tuple[str, str]:
    """``(base, quote)`` of a venue symbol by that venue's grammar
    (``("bitmex", "XBTUSD")`` -> (BTC, USD); ``("bybit", "BTCPERP")`` -> (BTC, USDC)).

    Raises:
        ValueError: unknown venue, or a symbol the venue's grammar cannot split.
    """
    from liqmap.exchanges.registry import venue_class

    return venue_class(exchange).base_quote(symbol)


@lru_cache(maxsize=8192)
def base_of(symbol_or_base: str) -> str:
    """Underlying of a venue symbol, a query or a bare base, upper case; never raises.

    ``BTCUSDT``, ``BTC-USDT-SWAP``, ``XBTUSD``, ``BTC-PERPETUAL``, ``BTCPERP`` -> ``BTC``;
    ``1000PEPEUSDT`` -> ``1000PEPE``; text that is no symbol comes back upper-cased.
    """
    try:
        return parse_symbol(symbol_or_base).base
    except ValueError:
        return symbol_or_base.strip().upper()


def symbol_filter(
    query: str | SymbolQuery | None, strict: bool = False, exchanges: Iterable[str] | None = None
) -> Callable[[Any], bool]:
    """Predicate over events for a query (None = everything).

    Events without ``base`` / ``symbol`` (e.g. :class:`~liqmap.models.Gap`) always pass:
    filter them by type separately.
    """
    if query is None:
        return lambda ev: True
    q = parse_symbol(query) if isinstance(query, str) else query
    if strict:
        allowed = strict_symbols(q, exchanges)

        def match_strict(ev: Any) -> bool:
            sym = getattr(ev, "symbol", None)
            if sym is None:
                return True
            return (ev.exchange, sym.upper()) in allowed

        return match_strict

    base = q.base
    cache: dict[str, str | None] = {}

    def base_of_symbol(sym: str) -> str | None:
        if sym not in cache:
            try:
                cache[sym] = parse_symbol(sym).base if len(cache) < 50_000 else None
            except ValueError:
                cache[sym] = None
        return cache[sym]

    def match_base(ev: Any) -> bool:
        b = getattr(ev, "base", None)
        if b is None:  # Kline / Ticker carry only the symbol
            sym = getattr(ev, "symbol", None)
            return True if sym is None else base_of_symbol(sym) == base
        return b == base or normalize_base(b) == base

    return match_base
