"""Kraken Futures (``kraken_futures``): trades of ``type == "liquidation"`` on the ``trade`` feed.

Protocol facts (official docs, https://docs.kraken.com/api/docs/futures-api/ as crawled
2026-05-27: websocket/trade, websocket/heartbeat, websocket/ticker, guides/futures-rate-limits,
history/get-public-execution-events, trading/get-instruments):

* Websocket ``wss://futures.kraken.com/ws/v1``; on connect ``{"event":"info","version":1}``.
  Subscribe ``{"event":"subscribe","feed":"trade","product_ids":[...]}``; the answer is
  ``subscribed`` / ``subscribed_failed`` -- one answer PER PRODUCT even for a list (the
  recorded 2021 session: 10 products asked, 10 ``subscribed`` frames, upper-case ids).
  Errors: ``{"event":"error","message":"Invalid product id"}`` (docs) and, from a live
  capture of a third party, ``{"event":"alert","message":"Couldn't subscribe to invalid
  product `NOT_REAL`"}``; both are rejections.
* ``trade_snapshot`` (recent trades) then ``trade`` deltas ``{feed, product_id, uid, side,
  type, seq, time (ms), qty, price}``. ``type``: ``fill``, ``liquidation`` ("a result of a
  user being liquidated from their position"), ``termination``, ``block``. ``side`` is the
  TAKER's ("buy if the taker is a buyer").
* Side of the liquidated position: the feed does not say whether the liquidated account
  was taker or maker. Kraken's support page on the Equity Protection Process says the
  liquidation "begins by submitting an Immediate-or-Cancel order to the market"
  (https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process):
  an IOC order takes liquidity, so the liquidated account is the taker and ``side`` is
  its order side: ``sell`` = a LONG liquidated (its example: a long's IOC sell order).
  The public execution history confirms per trade (``takerOrder.orderType ==
  "Liquidation"``); the history parser below uses that order's direction.
* Units (get-instruments ``type``/``contractSize``): ``PI_`` / ``FI_`` inverse futures
  (``futures_inverse``) are USD contracts of ``contractSize`` USD (1) -> value_usd =
  qty x size, quantity = value / price; ``PF_`` (``flexible_futures``) and vanilla
  futures are base-coin contracts -> quantity = qty x size. ``XBT`` is BTC.
  Instruments: ``GET /derivatives/api/v3/instruments`` (``instruments[]``: ``symbol``,
  ``type``, ``contractSize``, ``tradeable``).
* Keep-alive: "make a ping request at least every 60 seconds" -- the websocket library's
  ping frames do it (every 20 s); the ``heartbeat`` feed (subscribed after connecting,
  untracked) gives an application frame that proves a quiet socket alive.
* Limits: 100 connections, 100 requests per second per connection.
* ``ticker`` feed: ``markPrice``, ``index``, ``funding_rate``, ``openInterest`` (in the
  contracts above) -> :class:`Ticker` + :class:`OpenInterest`; ``ticker_lite`` and books
  are skipped.
* Gap backfill: ``GET https://futures.kraken.com/api/history/v3/market/{tradeable}/executions?since=&before=&sort=asc``
  -> ``{"elements": [{uid, timestamp, event: {Execution: {execution: {uid, makerOrder,
  takerOrder, timestamp, quantity, price, usdValue, ...}}}}], "continuationToken"}``;
  ``orderType`` in ``Limit, IoC, Post, Market, Liquidation, Assignment, Unwind``. The
  ``/history`` pool is 100 tokens replenished every 10 minutes, historical executions
  cost 1 -> 10 requests a minute. The execution's ``uid`` is taken to be the feed's trade
  ``uid`` (both "unique identifier" of the match): a liquidation seen live is a duplicate.

id = ``kraken_futures:{product}:{uid}`` (Trade and Liquidation share it).
"""

from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import quote as urlquote

import msgspec

from liqmap.exchanges._common import control_object, decode_object, ms, opt, pos, position_side, split_concat, text, typed
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec, parse_number, to_base
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade

WS_URL = "wss://futures.kraken.com/ws/v1"
REST_BASE = "https://futures.kraken.com"
#: Products subscribed when no listing is loaded (the listing replaces them).
DEFAULT_PRODUCTS = ("PF_XBTUSD", "PF_ETHUSD", "PI_XBTUSD", "PI_ETHUSD")
HEARTBEAT_SUB = '{"event":"subscribe","feed":"heartbeat"}'
_POSITION = {"sell": "long", "buy": "short"}  # the liquidated taker's order side -> position
_INVERSE_PREFIXES = ("PI_", "FI_", "IN_")


class _Tr(msgspec.Struct, gc=False):
    product_id: str
    uid: str
    side: str
    type: str
    time: int
    qty: float
    price: float


_trade_dec = msgspec.json.Decoder(_Tr, strict=False)


def is_inverse(product: str) -> bool:
    """True for USD-contract inverse futures (``PI_``, ``FI_``)."""
    return product.upper().startswith(_INVERSE_PREFIXES)


class KrakenFutures(Venue):
    """Kraken Futures (see module docstring).

    Args:
        contracts: contract sizes (``contractSize``) registry.
        ws_url: websocket URL, default ``wss://futures.kraken.com/ws/v1``.
        rest_url: REST base, default ``https://futures.kraken.com``.
    """

    name = "kraken_futures"
    color = "#7132f5"  # Kraken purple
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "complete"  # every trade, liquidations flagged
    rest_liquidations = True
    launched_ms = 1_451_606_400_000  # Crypto Facilities (Kraken Futures since 2019) ran from 2016
    history_delay_s = 5.0
    history_limit_per_min = 10  # /history: 100 tokens per 10 minutes, 1 per request
    default_ws = WS_URL
    default_rest = REST_BASE
    #: 100 requests/s per connection (paced at 5); products per request not limited in the docs.
    limits = Limits(args_per_subscribe=50, subscribes_per_s=5.0)
    rejects_whole_request = False  # one answer per product
    quote_families = {"USD": "USD"}
    instruments = ("/derivatives/api/v3/instruments",)
    label = "public"
    recordings = RecordingNames(cryptofeed=("KRAKEN_FUTURES",), tardis=("cryptofacilities*",))

    # ------------------------------------------------------------ symbols and contracts
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["PF_XBTUSD", "PI_XBTUSD"]`` (linear multi-collateral, inverse)."""
        b = "XBT" if base.upper() == "BTC" else base.upper()
        return [f"PF_{b}USD", f"PI_{b}USD"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``PI_XBTUSD`` -> (BTC, USD); ``FI_ETHUSD_210730`` -> (ETH, USD)."""
        parts = symbol.upper().split("_")
        if len(parts) < 2 or len(parts[0]) != 2:
            raise FrameError(f"cannot split Kraken Futures product {symbol!r}")
        base, quote = split_concat(parts[1])
        return ("BTC" if base == "XBT" else base), quote

    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """``instruments[]`` of ``/derivatives/api/v3/instruments``: ``futures_inverse`` ->
        inverse ``contractSize`` USD; ``flexible_futures`` / ``futures_vanilla`` -> linear
        ``contractSize`` coins."""
        out = []
        for row in msgspec.json.decode(body).get("instruments") or []:
            sym, kind, size = row.get("symbol"), row.get("type"), parse_number(row.get("contractSize"))
            if not sym or not size or kind not in ("futures_inverse", "flexible_futures", "futures_vanilla"):
                continue
            inverse = kind == "futures_inverse"
            out.append(ContractSpec(cls.name, sym.upper(), "inverse" if inverse else "linear", size, "USD"))
        return out

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """Tradeable perpetuals (``PF_``/``PI_``) of the instruments response."""
        rows = msgspec.json.decode(body).get("instruments") or []
        return [r["symbol"].upper() for r in rows if isinstance(r, dict) and r.get("symbol")
                and r.get("tradeable", True) and r["symbol"].upper().startswith(("PF_", "PI_"))]  # fmt: skip

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """Until the instruments load: inverse (``PI_``/``FI_``) 1 USD, others 1 coin
        (get-instruments ``contractSize`` of both kinds is 1, exchanges.md §10)."""
        inverse = is_inverse(symbol)
        return ContractSpec(cls.name, symbol, "inverse" if inverse else "linear", 1.0, "USD", "fallback")

    # ------------------------------------------------------------ declarative I/O
    def _products(self, symbols: Sequence[str] | None) -> list[str]:
        if symbols:
            return list(dict.fromkeys(s.upper() for s in symbols))
        return sorted(self.listing) if self.listing else list(DEFAULT_PRODUCTS)

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection: the ``heartbeat`` feed (untracked prelude), ``trade`` of every
        product (all listed perpetuals when no symbols are given), ``ticker`` of the given
        products."""
        topics = [Topic(f"trade:{p}", "liquidations", ("trade", p)) for p in self._products(symbols)]
        topics += [Topic(f"ticker:{p}", "tickers", ("ticker", p)) for p in dict.fromkeys(s.upper() for s in symbols or ())]
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                subscribe=(HEARTBEAT_SUB,),
                topics=tuple(topics),
                heartbeat=Heartbeat(None, is_pong=lambda t: t.startswith('{"feed":"heartbeat"')),
                stale_after_s=90.0,  # the heartbeat feed keeps a healthy socket busy
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"event":"subscribe","feed":...,"product_ids":[...]}`` per feed (the topics of
        one request share a feed when the feed plans them so; mixed feeds use the first)."""
        feed = topics[0].request_arg[0]
        ids = [t.request_arg[1] for t in topics if t.request_arg[0] == feed]
        return msgspec.json.encode({"event": "subscribe", "feed": feed, "product_ids": ids}).decode()

    def control(self, data: str) -> Control | None:
        """``subscribed`` per product; ``subscribed_failed`` / ``error`` / ``alert`` rejections
        (an alert names the product in backquotes)."""
        msg = control_object(data, 30, '"event"')
        if msg is None:
            return None
        event, feed = str(msg.get("event") or "").strip(), msg.get("feed")
        keys = tuple(f"{feed}:{p.upper()}" for p in msg.get("product_ids") or () if isinstance(p, str)) if feed else ()
        if event == "subscribed" and feed != "heartbeat":
            return Control("ack", keys)
        if event in ("subscribed_failed", "error", "alert"):
            message = str(msg.get("message") or event)
            if not keys and "`" in message:
                product = message.split("`")[1].upper()
                keys = (f"trade:{product}", f"ticker:{product}")
            return Control("reject", keys, None, message)
        return None

    # ------------------------------------------------------------ gap backfill
    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """The public executions of every subscribed product over the gap, oldest first."""
        return [self._history_page(p, start_ms, end_ms) for p in self._products(symbols)]

    def _history_page(self, product: str, start_ms: int, end_ms: int, token: str | None = None) -> HistoryPage:
        url = f"{self.rest_url}/api/history/v3/market/{product}/executions?since={int(start_ms)}&before={int(end_ms)}&sort=asc"
        if token:
            url += f"&continuation_token={urlquote(token)}"
        return HistoryPage(url, tag=product, cursor=(product, int(start_ms), int(end_ms)))

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """The next page while the body carries a ``continuationToken``."""
        try:
            token = msgspec.json.decode(body).get("continuationToken")
        except (msgspec.DecodeError, AttributeError):
            return None
        product, since, before = page.cursor
        return self._history_page(product, since, before, token) if token else None

    # ------------------------------------------------------------ parsing
    def _events(self, product: str, uid: str, side: str, kind: str, ts: int, qty: float, price: float,
                received_at: int) -> list[Event]:  # fmt: skip
        pside = position_side(price, qty, ts, side, _POSITION, "price/qty", 1)
        product = product.upper()
        c = self._contract_cache.get(product)
        if c is None or c[0] != self.contracts.version:
            c = self._contract(product)
        _, base, quote, inverse, size = c
        coins, value = to_base(qty, price, inverse, size)
        tid = f"kraken_futures:{product}:{uid}"
        liq = kind == "liquidation"
        trade = Trade(self.name, product, base, quote, side, price, coins, value, ts, received_at, tid, liq)
        if not liq:
            return [trade]
        return [Liquidation(self.name, product, base, quote, pside, price, coins, value, ts, received_at, tid, side,
                            kind), trade]  # fmt: skip

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        if (b'{"feed":"trade",' if isinstance(data, bytes) else '{"feed":"trade",') == data[:16]:
            t = typed(_trade_dec, data)
            if t is not None:
                return self._events(t.product_id, t.uid, t.side, t.type, t.time, t.qty, t.price, received_at)
        return self._generic(decode_object(data), received_at)

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        if "elements" in msg:  # REST history of executions
            return self._history_rows(msg["elements"], received_at)
        event = msg.get("event")
        if event is not None:
            event = str(event).strip()
            if event in ("error", "alert", "subscribed_failed"):
                raise FrameError(f"venue {event}: {msg.get('message')}")
            return []  # info, subscribed, unsubscribed
        feed = msg.get("feed")
        if feed == "trade":
            return self._trade_row(msg, received_at)
        if feed == "trade_snapshot":
            out: list[Event] = []
            for r in msg.get("trades") or ():
                out += self._trade_row(r, received_at)
            return out
        if feed == "ticker":
            return self._ticker(msg, received_at)
        if feed in ("heartbeat", "ticker_lite", "book", "book_snapshot"):
            return []
        raise FrameError(f"unsupported Kraken Futures feed {feed!r}")

    def _trade_row(self, r: Any, received_at: int) -> list[Event]:
        if not isinstance(r, dict):
            raise FrameError("trade is not an object")
        return self._events(text(r.get("product_id"), "product_id"), text(r.get("uid"), "uid"), str(r.get("side")),
                            str(r.get("type")), ms(r.get("time"), "time"), pos(r.get("qty"), "qty"),
                            pos(r.get("price"), "price"), received_at)  # fmt: skip

    def _history_rows(self, elements: Any, received_at: int) -> list[Event]:
        """Executions whose taker or maker order is a ``Liquidation``: the liquidation (that
        order's direction) and its trade; other executions as trades."""
        if not isinstance(elements, list):
            raise FrameError("elements is not a list")
        out: list[Event] = []
        for el in elements:
            ex = ((el.get("event") or {}).get("Execution") or {}).get("execution") if isinstance(el, dict) else None
            if not isinstance(ex, dict):
                continue  # another event kind
            taker, maker = ex.get("takerOrder") or {}, ex.get("makerOrder") or {}
            liq_order = taker if taker.get("orderType") == "Liquidation" else maker if maker.get("orderType") == "Liquidation" else None
            taker_side = str(taker.get("direction", "")).lower()
            events = self._events(text(taker.get("tradeable"), "tradeable"), text(ex.get("uid"), "uid"), taker_side,
                                  "fill", ms(ex.get("timestamp"), "timestamp"), pos(ex.get("quantity"), "quantity"),
                                  pos(ex.get("price"), "price"), received_at)  # fmt: skip
            if liq_order is not None:
                liq_side = str(liq_order.get("direction", "")).lower()
                (trade,) = events
                trade = msgspec.structs.replace(trade, liquidation=True)
                pside = _POSITION.get(liq_side)
                if pside is None:
                    raise FrameError(f"unknown liquidation order direction {liq_side!r}")
                events = [Liquidation(self.name, trade.symbol, trade.base, trade.quote, pside, trade.price,
                                      trade.quantity, trade.value_usd, trade.timestamp, received_at, trade.id,
                                      liq_side, "liquidation"), trade]  # fmt: skip
            out += events
        return out

    def _ticker(self, msg: dict, received_at: int) -> list[Event]:
        product = text(msg.get("product_id"), "product_id").upper()
        ts = ms(msg.get("time") or received_at, "time")
        mark = opt(msg.get("markPrice"))
        oi = opt(msg.get("openInterest"))
        out: list[Event] = []
        oi_coins = None
        if oi is not None and oi >= 0 and mark:
            _, base, quote, inverse, size = self._contract(product)
            oi_coins, oi_usd = (oi * size / mark, oi * size) if inverse else (oi * size, oi * size * mark)
            out.append(OpenInterest(self.name, product, base, quote, oi_coins, oi_usd, ts, received_at))
        out.append(Ticker(self.name, product, ts, received_at, last_price=opt(msg.get("last")), mark_price=mark,
                          index_price=opt(msg.get("index")), funding_rate=opt(msg.get("funding_rate")),
                          open_interest=oi_coins))  # fmt: skip
        return out


VENUES = (KrakenFutures,)
