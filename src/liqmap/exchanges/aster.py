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
* Subscription tracking and keep-alive as on Binance (inherited): the streams
  named in the URL are acknowledged by the answer to ``{"method":
  "LIST_SUBSCRIPTIONS","id":1}``, sent after connecting and every 60 s; that
  reply (``{"result":["!forceOrder@arr"],"id":1}``, shape live-verified on Aster
  by a third party, tests/fixtures/aster) also proves a quiet forceOrder-only
  socket alive. One message a minute is far below the 10/s limit.
* Contract sizes: quantities are base coin, so there is no instruments table.

id = the Binance one (``aster:{symbol}:{T}:{S}:{filled}:{p}``).
"""

from __future__ import annotations

from typing import Sequence

from liqmap.exchanges.base import Limits, RecordingNames, RestPoll
from liqmap.exchanges.binance import BinanceUSDM


class Aster(BinanceUSDM):
    """Aster futures: Binance's parser, Aster's endpoints and limits (module docstring)."""

    name = "aster"
    color = "#e2a86f"  # Aster's tan/orange brand tone
    #: taker fee, base tier: https://docs.asterdex.com/product/asterex-pro/pro-fees (Pro perpetuals: 0.035 %)
    taker_fee_bps = 3.5
    capabilities = ("liquidations", "trades", "mark_price", "klines", "tickers")
    sampling = "lower_bound"  # the latest liquidation per symbol per 1000 ms
    rest_liquidations = False
    default_ws = "wss://fstream.asterdex.com"
    default_rest = "https://fapi.asterdex.com"
    #: 200 streams per connection (Binance: 1024); 10 incoming messages/s, paced at half that.
    limits = Limits(topics_per_connection=200, max_lifetime_s=23.5 * 3600, subscribes_per_s=5.0)
    quote_families = {"USDT": "USDT"}
    label = "public"
    recordings = RecordingNames()
    instruments = ()
    coin_margined = None  # no COIN-M contracts: a USD-quoted pair is refused, never guessed

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """None: Aster documents no open-interest endpoint and no public liquidation history."""
        return []


VENUES = (Aster,)
