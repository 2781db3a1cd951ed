"""Symbol queries -> underlying base, and event matching across venues.

A user asks for ``BTCUSDT``, ``BTC``, ``ETH-USDT``, ``XBTUSD`` or
``BTC-USDT-SWAP``; venues name the same underlying differently. This module
is pure (no I/O).

:func:`parse_symbol` splits a query into ``(base, quote)``:

* separators ``-``, ``_``, ``/``, ``:`` split tokens; suffix tokens such as
  ``SWAP``, ``PERP``, ``PERPETUAL`` or expiry dates are ignored;
* a concatenated token is split on the longest known stablecoin/fiat quote
  suffix (:data:`QUOTES`): ``BTCUSDT`` -> (BTC, USDT), ``BTCUSD_PERP`` -> (BTC, USD);
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
* ``strict=True``: only the venue-native perpetual symbols of that underlying
  in the query's quote family (a bare base means the USDT family), per
  :data:`STRICT_TABLE` (``{B}`` = base, ``{X}`` = BitMEX base, XBT for BTC):

  ==============  =====================  =================  ===================
  venue           USDT query (linear)    USDC query         USD query (inverse)
  ==============  =====================  =================  ===================
  binance         {B}USDT                {B}USDC            --
  binance_coinm   --                     --                 {B}USD_PERP
  bybit           {B}USDT                {B}PERP            {B}USD
  okx             {B}-USDT-SWAP          {B}-USDC-SWAP      {B}-USD-SWAP
  bitmex          {X}USDT                --                 {X}USD
  deribit         {B}_USDC-PERPETUAL     {B}_USDC-PERPETUAL {B}-PERPETUAL
  hyperliquid     {B}                    {B}                --
  ==============  =====================  =================  ===================

  Deribit's and Hyperliquid's only stablecoin-margined perpetuals settle in
  USDC, so they stand in for the USDT family ("linear stablecoin perpetual").
  Venues not in the table are asked through ``Venue.native_symbols(base, quote)``.
  Symbol names: Binance https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information ,
  Bybit https://bybit-exchange.github.io/docs/v5/market/instrument ,
  OKX https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments ,
  BitMEX https://www.bitmex.com/api/explorer/#/Instrument ,
  Deribit https://docs.deribit.com/#public-get_instruments ,
  Hyperliquid https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals .
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, NamedTuple

#: Quote suffixes recognised when splitting a concatenated symbol, longest first.
QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "USDE", "USD")
#: Query quote -> family key of :data:`STRICT_TABLE`.
QUOTE_FAMILY: dict[str, str] = {"USDT": "USDT", "FDUSD": "USDT", "BUSD": "USDT", "USDE": "USDT", "USDC": "USDC", "USD": "USD"}
BASE_ALIASES: dict[str, str] = {"XBT": "BTC"}
_SUFFIXES = {"SWAP", "PERP", "PERPETUAL", "FUTURES", "SPOT", "LINEAR", "INVERSE"}

STRICT_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "binance": {"USDT": ("{B}USDT",), "USDC": ("{B}USDC",)},
    "binance_coinm": {"USD": ("{B}USD_PERP",)},
    "bybit": {"USDT": ("{B}USDT",), "USDC": ("{B}PERP",), "USD": ("{B}USD",)},
    "okx": {"USDT": ("{B}-USDT-SWAP",), "USDC": ("{B}-USDC-SWAP",), "USD": ("{B}-USD-SWAP",)},
    "bitmex": {"USDT": ("{X}USDT",), "USD": ("{X}USD",)},
    "deribit": {"USDT": ("{B}_USDC-PERPETUAL",), "USDC": ("{B}_USDC-PERPETUAL",), "USD": ("{B}-PERPETUAL",)},
    "hyperliquid": {"USDT": ("{B}",), "USDC": ("{B}",)},
}


class SymbolQuery(NamedTuple):
    """A parsed query: ``base`` (normalized, e.g. BTC), ``quote`` (or None), ``raw`` text."""

    base: str
    quote: str | None
    raw: str


def normalize_base(base: str) -> str:
    """Upper-case and alias (``XBT`` -> ``BTC``); lot prefixes are kept."""
    b = base.strip().upper()
    return BASE_ALIASES.get(b, b)


def _split_concat(token: str) -> tuple[str, str | None]:
    for q in QUOTES:
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
        base, quote = _split_concat(tokens[0])
        if quote is None and "PERPETUAL" in all_tokens:
            quote = "USD"  # Deribit BTC-PERPETUAL: inverse, USD contracts
    return SymbolQuery(normalize_base(base), quote, raw)


def _venue_base(exchange: str, base: str) -> str:
    return "XBT" if exchange == "bitmex" and base == "BTC" else base


def strict_symbols(query: str | SymbolQuery, exchanges: Iterable[str] | None = None) -> set[tuple[str, str]]:
    """``{(exchange, native_symbol)}`` matched in strict mode (see module table).

    ``exchanges`` defaults to the table's venues; an unknown venue is asked via
    ``registry.get_venue(name).native_symbols(base, quote)`` when available.
    """
    q = parse_symbol(query) if isinstance(query, str) else query
    family = QUOTE_FAMILY.get(q.quote or "USDT", "USDT")
    out: set[tuple[str, str]] = set()
    for ex in exchanges if exchanges is not None else STRICT_TABLE:
        table = STRICT_TABLE.get(ex)
        if table is not None:
            for pat in table.get(family, ()):
                out.add((ex, pat.format(B=q.base, X=_venue_base(ex, q.base))))
            continue
        try:
            from liqmap.exchanges.registry import get_venue

            for sym in get_venue(ex).native_symbols(q.base, q.quote):
                out.add((ex, sym.upper()))
        except Exception:
            pass  # venue without native_symbols: nothing matches strictly
    return out


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
