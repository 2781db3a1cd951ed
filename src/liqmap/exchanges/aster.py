"""Aster perpetual futures (``aster``): Binance's futures protocol on Aster's hosts.

Aster publishes a Binance-compatible futures API, so :class:`Aster` is a subclass
of :class:`~liqmap.exchanges.binance.BinanceUSDM` sharing its parser; only the
declarations below differ. Official docs: asterdex/api-docs,
``V3(Recommended)/EN/aster-finance-futures-api-v3.md`` (commit 265e024b,
2026-06-30), https://github.com/asterdex/api-docs :

* Websocket base ``wss://fstream.asterdex.com``; raw streams ``/ws/<stream>``,
  combined ``/stream?streams=a/b`` wrapped as ``{"stream", "data"}`` (no
  ``/public`` / ``/market`` split as on Binance USD-M in 2026). REST base
  ``https://fapi.asterdex.com`` ("Websocket Market Streams", "General Info").
* ``!forceOrder@arr``: the payload of Binance's forceOrder (``e, E, o{s, S, o,
  f, q, p, ap, X, l, z, T}``); "For each symbol, only the latest one liquidation
  order within 1000ms will be pushed as the snapshot" -> ``lower_bound``
  ("All Market Liquidation Order Streams").
* Side: the doc says only "Side" for ``S``. It is the forced ORDER's side as on
  Binance (SELL closes a long): the one real frame we have
  (tests/fixtures/aster, 2026-09-18, PAIRUSDT ``S: SELL``) fills at
  ``ap`` 0.0044461 above its limit ``p`` 0.0040681, which is what a forced SELL
  of a long does (a sell IOC limit fills at or above its limit); a forced BUY
  fills at or below it. Units as on Binance USD-M: ``q``/``l``/``z`` base coin,
  prices in USDT.
* Connection rules: valid 24 h (rotated after 23.5 h); a server ping frame every
  5 minutes, disconnect without a pong within 15 min (answered by the websocket
  library); 10 incoming messages/s; **200 streams per connection** (Binance
  allows 1024) -> ``Limits(topics_per_connection=200)``.
* ``<symbol>@aggTrade``, ``<symbol>@markPrice@1s`` (mark, index, funding),
  ``<symbol>@kline_<interval>``, ``<symbol>@ticker`` (24 h) and ``<symbol>@bookTicker`` (best
  bid/ask, on the same base URL: Aster has no ``/public`` split): Binance's payloads -> trades,
  tickers, klines. https://github.com/asterdex/api-docs/blob/master/aster-finance-futures-api.md#individual-symbol-book-ticker-streams
* Open interest: the docs list NO open-interest endpoint or stream (only
  klines, mark price, tickers), so ``open_interest`` is not a capability and no
  REST poll runs. No public liquidation history either (``GET
  /fapi/v3/forceOrders`` is USER_DATA, own orders only).
* Keep-alive that the application sees: server pings are answered inside the
  websocket library and never reach the watchdog, so a quiet ``!forceOrder@arr``
  connection would look stale. Every 60 s we send ``{"method":
  "LIST_SUBSCRIPTIONS","id":1}``; the reply ``{"result":["!forceOrder@arr"],
  "id":1}`` (documented request; reply shape live-verified on Aster by a third
  party, notes/frames/aster) proves the socket alive. One message a minute is far
  below the 10/s limit.
* Contract sizes: quantities are base coin, so there is no instruments table.

id = the Binance one (``aster:{symbol}:{T}:{S}:{filled}:{p}``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from liqmap.exchanges.base import ConnectionSpec, Heartbeat, Limits, RecordingNames, RestPoll
from liqmap.exchanges.binance import BinanceUSDM

#: Application-level keep-alive: documented request, answered with the stream list.
LIST_SUBSCRIPTIONS = '{"method":"LIST_SUBSCRIPTIONS","id":1}'


def _is_list_reply(text: str) -> bool:
    """The reply to :data:`LIST_SUBSCRIPTIONS` (keys in either order)."""
    return text.startswith('{"') and '"result":[' in text and '"id":1' in text


class Aster(BinanceUSDM):
    """Aster futures: Binance's parser, Aster's endpoints and limits (module docstring)."""

    name = "aster"
    color = "#e2a86f"  # Aster's tan/orange brand tone
    capabilities = ("liquidations", "trades", "mark_price", "klines", "tickers")
    sampling = "lower_bound"  # the latest liquidation per symbol per 1000 ms
    rest_liquidations = False
    default_ws = "wss://fstream.asterdex.com"
    default_rest = "https://fapi.asterdex.com"
    limits = Limits(topics_per_connection=200, max_lifetime_s=23.5 * 3600)
    quote_families = {"USDT": "USDT"}
    label = "public"
    recordings = RecordingNames()
    instruments = ()

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """Binance's combined-stream connections (200 streams each) with the
        ``LIST_SUBSCRIPTIONS`` keep-alive every 60 s (module docstring)."""
        keepalive = Heartbeat(60.0, LIST_SUBSCRIPTIONS, is_pong=_is_list_reply)
        return [dataclasses.replace(c, heartbeat=keepalive) for c in super().connections(symbols)]

    def market_connections(self, symbols: Sequence[str]) -> list[ConnectionSpec]:
        """Binance's market-data connections with Aster's ``LIST_SUBSCRIPTIONS`` keep-alive."""
        keepalive = Heartbeat(60.0, LIST_SUBSCRIPTIONS, is_pong=_is_list_reply)
        return [dataclasses.replace(c, heartbeat=keepalive) for c in super().market_connections(symbols)]

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """None: Aster documents no open-interest endpoint and no public liquidation history."""
        return []


VENUES = (Aster,)
