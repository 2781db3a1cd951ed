"""Bybit v5 public streams (linear USDT/USDC contracts and inverse contracts).

Protocol facts (official docs, https://bybit-exchange.github.io/docs/v5/):

* ``allLiquidation.{symbol}`` -- "all liquidations that occur on Bybit", pushed
  every 500 ms; ``data`` is an ARRAY of ``{T, s, S, v, p}``. ``S`` is the
  POSITION side: ``Buy`` = a LONG position was liquidated (the opposite of
  Binance's order side). ``p`` is the bankruptcy price. One topic per symbol.
  https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation
* ``liquidation.{symbol}`` -- deprecated, at most one order per second per
  symbol; ``data`` is an OBJECT ``{updatedTime, symbol, side, size, price}``;
  ``side`` Buy = long liquidated. https://bybit-exchange.github.io/docs/v5/websocket/public/liquidation
* Pre-v5 recordings (``liquidation.X`` with ``qty``/``time``, REST-generated
  arrays with ``id``) use the same side meaning ("When side is Buy, a long
  position was liquidated", Bybit via tardis-node src/mappers/bybit.ts) and are
  parsed for replay of old recordings.
* Units: linear ``v`` in base coin; inverse (``BTCUSD``, ``XRPUSD``, dated
  ``BTCUSDH25``) ``v`` in USD contracts (Bybit reports inverse volume and OI in
  USD: https://bybit-exchange.github.io/docs/v5/market/open-interest) ->
  quantity = v / p, value_usd = v.
* ``publicTrade.{symbol}`` (``S`` = taker side), ``tickers.{symbol}``
  (snapshot then deltas; ``openInterest`` base coin for linear, USD for
  inverse; ``bid1Price``/``bid1Size``/``ask1Price``/``ask1Size``, ``volume24h`` (linear: coin,
  inverse: USD contracts) and ``turnover24h`` (linear: quote, inverse: coin), ``fundingRate``,
  ``nextFundingTime`` ms; https://bybit-exchange.github.io/docs/v5/websocket/public/ticker ),
  ``kline.{interval}.{symbol}``; legacy v2 ``trade.{symbol}`` frames
  (cryptofeed 2021 recordings) are parsed too.
* Open interest is ONE side of the book in liqmap (as every venue reports it). Bybit's
  ``openInterest`` / ``openInterestValue`` count both sides; on 2026-06-11 Bybit added
  ``singleOpenInterest`` / ``singleOpenInterestValue`` (one side) to its APIs
  (https://announcements.bybit.com/en/article/update-to-the-open-interest-oi-calculation-method-blta89d9c88819bfebe/,
  https://bybit-exchange.github.io/docs/v5/market/open-interest). The tickers parser uses
  the single fields when present, else half the both-sides ones -- the rule of the REST
  backfill (:mod:`liqmap.history.bybit`).
* Heartbeat: send ``{"op":"ping"}`` every 20 s (server drops idle connections).
  URLs ``wss://stream.bybit.com/v5/public/linear`` and ``/inverse``.
  https://bybit-exchange.github.io/docs/v5/ws/connect
* No public REST liquidation history in v5 (``/v2/public/liq-records`` was
  retired in 2021): ``rest_liquidations = False``.
* Subscriptions (https://bybit-exchange.github.io/docs/v5/ws/connect, crawl
  2026-08-22): for linear/inverse the args of ONE connection may total 21,000
  characters, with no per-request arg limit (spot: 10 args); at most 500 new
  connections per 5 minutes per domain. One answer per request, echoing
  ``req_id``: ``{"success":true,"ret_msg":"","conn_id","req_id","op":"subscribe"}``;
  a failure is ``success:false`` with ``ret_msg`` naming the first bad topic
  (``error:handler not found,topic:...``, real testnet capture in
  tests/fixtures/bybit). Third-party reports (2026-04) say one invalid topic
  rejects the whole request AND can silence the connection's other topics while
  pings still get pongs: requests carry 10 topics, liquidation topics alone, and a
  rejection rotates the connection (``rejection_silences``) subscribing only what
  was not rejected. Only listed symbols are requested: the listing is
  ``/v5/market/instruments-info?category=linear|inverse&status=Trading&limit=1000``,
  paged with ``nextPageCursor`` (https://bybit-exchange.github.io/docs/v5/market/instrument);
  all-market mode subscribes every listed linear and inverse contract.

id = ``bybit:{symbol}:{T}:{S}:{v}:{p}`` (canonical numbers) -- the same for
v5, deprecated and recorded shapes of one event. Identical rows within one
frame get ``#2``, ``#3`` ... (distinct liquidations, see
``Venue.frame_repeats_are_distinct``).
"""

from __future__ import annotations

import re
from typing import Any, Sequence
from urllib.parse import quote, urlsplit

import msgspec

from liqmap.exchanges._common import (
    check_pos, decode_object, dict_rows, iso_ms, json_object, ms, num, opt, pos, position_side, rows_or_partial,
    split_concat, text, typed,
)  # fmt: skip
from liqmap.exchanges.base import (
    SPLIT_CACHE_MAX, ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, Topic, Venue,
)  # fmt: skip
from liqmap.models import Event, Kline, Liquidation, OpenInterest, Ticker, Trade

WS_BASE = "wss://stream.bybit.com/v5/public"
REST_BASE = "https://api.bybit.com"

#: Used when no symbols are given and the listing could not be read (major
#: perpetuals; normally every symbol of ``/v5/market/instruments-info``). Bybit has
#: no wildcard topic.
DEFAULT_LINEAR: tuple[str, ...] = (
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT", "AVAXUSDT",
    "LINKUSDT", "LTCUSDT", "DOTUSDT", "TRXUSDT", "SUIUSDT", "1000PEPEUSDT", "WIFUSDT", "ARBUSDT",
    "OPUSDT", "NEARUSDT", "APTUSDT", "BCHUSDT", "ETCUSDT", "FILUSDT", "ATOMUSDT", "ENAUSDT",
    "TONUSDT", "HYPEUSDT", "BTCPERP", "ETHPERP",
)  # fmt: skip
#: Inverse defaults kept to the long-standing majors: a request naming a delisted
#: symbol can be rejected as a whole (requests carry 10 topics).
DEFAULT_INVERSE: tuple[str, ...] = ("BTCUSD", "ETHUSD", "XRPUSD")

_INVERSE = re.compile(r"^([A-Z0-9]+?)USD([FGHJKMNQUVXZ]\d\d)?$")
_POSITION = {"Buy": "long", "Sell": "short"}  # Bybit sends the POSITION side
_IGNORED_PREFIXES = ("orderbook.", "orderBookL2_25.", "orderBook_200.", "orderBook.")


class _Liq(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: float
    p: float


class _AllLiq(msgspec.Struct, gc=False):
    topic: str
    data: list[_Liq]


_all_liq_dec = msgspec.json.Decoder(_AllLiq, strict=False)


class _OldLiq(msgspec.Struct, gc=False):
    """Deprecated v5 ``liquidation.X`` row (size/updatedTime) or v2 row (qty/time)."""

    symbol: str
    side: str
    price: float
    size: float | None = None
    qty: float | None = None
    updatedTime: int | None = None
    time: int | None = None


class _OldLiqMsg(msgspec.Struct, gc=False):
    topic: str
    data: _OldLiq | list[_OldLiq]  # a push: one row; REST-generated (tardis) records: a list


_old_liq_dec = msgspec.json.Decoder(_OldLiqMsg, strict=False)


def is_inverse(symbol: str) -> bool:
    """True for Bybit inverse contracts (``BTCUSD``, ``BTCUSDH25``): sizes in USD."""
    return _INVERSE.match(symbol) is not None


class Bybit(Venue):
    """Bybit v5 linear + inverse (see module docstring).

    Args:
        contracts: unused (Bybit sizes are coins or USD), accepted for uniformity.
        ws_url: websocket base, default ``wss://stream.bybit.com/v5/public``;
            the venue appends ``/linear`` and ``/inverse``.
        rest_url: REST base, default ``https://api.bybit.com``.
    """

    name = "bybit"
    color = "#f7a600"
    #: Event times before this are implausible (the gate): Bybit opened in December 2018; the first day of
    #: that year, 2018-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1514764800000
    #: taker fee, base tier: https://www.bybit.com/en/help-center/article/Trading-Fee-Structure (perpetuals, non-VIP: 0.055 %)
    taker_fee_bps = 5.5
    frame_repeats_are_distinct = True  # ids are built from the fields (see Venue)
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
    sampling = "complete"  # allLiquidation: "all liquidations that occur on Bybit"
    rest_liquidations = False
    default_ws = WS_BASE
    default_rest = REST_BASE
    #: 10 topics per subscribe request (a bad symbol only fails its own request);
    #: 21,000 characters of args per connection; 500 connections / 5 min.
    limits = Limits(args_per_subscribe=10, chars_per_connection=21_000, connections_per_s=500 / 300)
    rejection_silences = True  # third-party report, module docstring
    instruments = (
        "/v5/market/instruments-info?category=linear&status=Trading&limit=1000",
        "/v5/market/instruments-info?category=inverse&status=Trading&limit=1000",
    )
    quote_families = {"USDT": "USDT", "USDC": "USDC", "USD": "USD"}
    label = "linear"
    recordings = RecordingNames(cryptofeed=("BYBIT",), tardis=("bybit*",))

    def _init_state(self) -> None:
        self._info_cache: dict[str, tuple[str, str, bool]] = {}
        self._mark: dict[str, float] = {}

    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTCUSDT", "BTCUSD"]`` (linear first, then inverse);
        ``("BTC", "USDC")`` -> ``["BTCPERP"]``."""
        b = base.upper()
        if quote:
            q = quote.upper()
            return [f"{b}PERP" if q == "USDC" else f"{b}{q}"]
        return [f"{b}USDT", f"{b}USD"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTCUSDT`` -> (BTC, USDT); ``BTCPERP`` -> (BTC, USDC); ``BTCUSDH25`` -> (BTC, USD);
        ``BTC-26DEC25`` -> (BTC, USDC)."""
        m = _INVERSE.match(symbol)
        if m:
            return m.group(1), "USD"
        if symbol.endswith("PERP") and len(symbol) > 4:
            return symbol[:-4], "USDC"
        if "-" in symbol:
            return symbol.split("-", 1)[0], "USDC"
        return split_concat(symbol)

    @classmethod
    def connection_label(cls, url: str | None = None, message: Any = None) -> str:
        """``linear`` or ``inverse``: from the URL path (v5 ``/linear``, ``/inverse``;
        legacy ``/realtime_public`` was USDT-linear, ``/realtime`` inverse) or from
        the symbol of the message's topic."""
        if url is not None:
            path = urlsplit(url).path
            if "linear" in path or "realtime_public" in path:
                return "linear"
            return "inverse" if "inverse" in path or path.rstrip("/").endswith("realtime") else "linear"
        topic = message.get("topic") if isinstance(message, dict) else None
        symbol = topic.rsplit(".", 1)[-1] if isinstance(topic, str) else ""
        return "inverse" if is_inverse(symbol) else "linear"

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """``linear`` and ``inverse`` connections; per symbol ``allLiquidation``
        (+ ``publicTrade`` when symbols are given) + ``tickers``; all-market = every
        listed symbol (the defaults while no listing is loaded); ping every 20 s.
        The feed spreads the topics over connections within ``limits``."""
        if symbols is None:
            listed = sorted(self.listing) if self.listing else list(DEFAULT_LINEAR) + list(DEFAULT_INVERSE)
            symbols, with_trades = listed, False
        else:
            with_trades = True
        groups: dict[str, list[str]] = {"linear": [], "inverse": []}
        for s in dict.fromkeys(x.upper() for x in symbols):
            groups["inverse" if is_inverse(s) else "linear"].append(s)
        out = []
        for label, syms in groups.items():
            if not syms:
                continue
            topics = [Topic(f"allLiquidation.{s}", "liquidations") for s in syms]
            for s in syms:
                if with_trades:
                    topics.append(Topic(f"publicTrade.{s}", "trades"))
                topics.append(Topic(f"tickers.{s}", "tickers"))
            out.append(
                ConnectionSpec(
                    label=label,
                    url=f"{self.ws_url}/{label}",
                    topics=topics,
                    heartbeat=Heartbeat(20.0, '{"op":"ping"}', is_pong=_is_pong),
                    max_lifetime_s=None,
                    stale_after_s=60.0,  # a pong every 20 s
                )
            )
        return out

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"req_id":"<n>","op":"subscribe","args":[...]}`` (Bybit echoes ``req_id``)."""
        return msgspec.json.encode({"req_id": str(request_id), "op": "subscribe", "args": [t.key for t in topics]}).decode()

    def control(self, data: str) -> Control | None:
        """The answer to a subscribe request (``op: subscribe``): ack or rejection."""
        if '"op":"subscribe"' not in data.replace(" ", "") or '"success"' not in data:
            return None
        msg = json_object(data)
        if msg is None or msg.get("op") != "subscribe":
            return None
        rid = str(msg.get("req_id") or "") or None
        if msg.get("success"):
            return Control("ack", (), rid)
        reason = str(msg.get("ret_msg") or "rejected")
        named = reason.split("topic:", 1)[1].split(",")[0].strip() if "topic:" in reason else ""
        keys = (named, named.replace(":", ".", 1)) if named else ()
        return Control("reject", keys, rid, reason)

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``result.list[].symbol`` of an instruments-info page (status Trading)."""
        res = msgspec.json.decode(body).get("result") or {}
        return [r["symbol"] for r in res.get("list") or () if r.get("symbol") and r.get("status", "Trading") == "Trading"]

    @classmethod
    def next_page(cls, body: str | bytes, url: str) -> str | None:
        """The same request with ``cursor=<nextPageCursor>`` while the page says there is one."""
        cursor = (msgspec.json.decode(body).get("result") or {}).get("nextPageCursor")
        if not cursor:
            return None
        base = url.split("&cursor=", 1)[0]
        return f"{base}&cursor={quote(cursor, safe='')}"

    # ------------------------------------------------------------ parsing
    def _info(self, symbol: str) -> tuple[str, str, bool]:
        r = self._info_cache.get(symbol)
        if r is None:
            base, quote = self.base_quote(symbol)
            r = (base, quote, quote == "USD")
            if len(self._info_cache) < SPLIT_CACHE_MAX:
                self._info_cache[symbol] = r
        return r

    def _liq(self, sym: str, side: str, size: float, price: float, ts: int, received_at: int) -> Liquidation:
        pside = position_side(price, size, ts, side, _POSITION, "price/size")
        r = self._info_cache.get(sym) or self._info(sym)
        if r[2]:  # inverse: USD contracts
            qty, value = size / price, size
        else:
            qty, value = size, size * price
        return Liquidation(
            "bybit", sym, r[0], r[1], pside, price, qty, value, ts or received_at, received_at,
            f"bybit:{sym}:{ts}:{side}:{size!r}:{price!r}", side, None, not ts,
        )  # fmt: skip

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        is_str = type(data) is str
        if ("iquidation." if is_str else b"iquidation.") in data:  # either liquidation topic
            if ('"allLiquidation.' if is_str else b'"allLiquidation.') in data:
                msg = typed(_all_liq_dec, data)
                if msg is not None and msg.topic.startswith("allLiquidation."):
                    try:
                        return [self._liq(d.s, d.S, d.v, d.p, d.T, received_at) for d in msg.data]
                    except FrameError:
                        pass  # a bad row: the generic path keeps the others (rare, off the fast path)
            elif (old := typed(_old_liq_dec, data)) is not None and old.topic.startswith("liquidation."):
                out = self._old_liqs(old.data if type(old.data) is list else (old.data,), received_at)
                if out is not None:
                    return out
        return self._generic(decode_object(data), received_at)

    def _old_liqs(self, rows: Sequence[_OldLiq], received_at: int) -> list[Event] | None:
        """Rows of the deprecated ``liquidation.X`` topic (typed fast path); None when a row
        lacks its size or time or is invalid (the generic path then reports it, keeping the
        other rows)."""
        out: list[Event] = []
        for d in rows:
            size = d.size if d.size is not None else d.qty
            ts = d.updatedTime if d.updatedTime is not None else d.time
            if size is None or ts is None:
                return None
            try:
                out.append(self._liq(d.symbol, d.side, size, d.price, ts, received_at))
            except FrameError:
                return None
        return out

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        topic = msg.get("topic")
        if not isinstance(topic, str):
            if "op" in msg or "success" in msg or "request" in msg:
                if msg.get("success") is False:
                    raise FrameError(f"request rejected: {msg.get('ret_msg')!r}")
                return []  # subscribe ack / pong
            raise FrameError("frame without topic")
        data = msg.get("data")
        kind, _, _ = topic.partition(".")
        if kind == "allLiquidation":
            if not isinstance(data, list):
                raise FrameError("allLiquidation data is not an array")
            return rows_or_partial(data, lambda d: self._liq(
                text(d.get("s")), str(d.get("S")), num(d.get("v"), "v"), num(d.get("p"), "p"),
                ms(d.get("T"), "T"), received_at))  # fmt: skip
        if kind == "liquidation":
            rows = data if isinstance(data, list) else [data]

            def legacy(d: Any) -> Liquidation:
                if not isinstance(d, dict):
                    raise FrameError("liquidation row is not an object")
                size = d.get("size", d.get("qty"))
                ts = d.get("updatedTime", d.get("time", msg.get("ts")))
                return self._liq(text(d.get("symbol")), str(d.get("side")), num(size, "size"),
                                 num(d.get("price"), "price"), ms(ts, "updatedTime"), received_at)  # fmt: skip

            return rows_or_partial(rows, legacy)
        if kind == "publicTrade":
            return [self._trade_v5(d, received_at) for d in dict_rows(data)]
        if kind == "trade":
            return [self._trade_legacy(d, received_at) for d in dict_rows(data)]
        if kind == "tickers":
            return self._ticker(data, msg, received_at)
        if kind == "kline":
            return [self._kline(topic, d) for d in dict_rows(data)]
        if topic.startswith(_IGNORED_PREFIXES):
            return []
        raise FrameError(f"unsupported topic {topic!r}")

    def _trade(self, sym: str, side: str, size: float, price: float, ts: int, tid: str, received_at: int) -> Trade:
        check_pos(price, "price")
        check_pos(size, "size")
        if side not in ("Buy", "Sell"):
            raise FrameError(f"unknown trade side {side!r}")
        base, quote, inverse = self._info(sym)
        qty, value = (size / price, size) if inverse else (size, size * price)
        return Trade("bybit", sym, base, quote, "buy" if side == "Buy" else "sell", price, qty, value, ts,
                     received_at, f"bybit:{sym}:{tid}")  # fmt: skip

    def _trade_v5(self, d: dict, received_at: int) -> Trade:
        return self._trade(text(d.get("s")), str(d.get("S")), num(d.get("v"), "v"), num(d.get("p"), "p"),
                           ms(d.get("T"), "T"), str(d.get("i")), received_at)  # fmt: skip

    def _trade_legacy(self, d: dict, received_at: int) -> Trade:
        ts = d.get("trade_time_ms")
        t = ms(ts, "trade_time_ms") if ts is not None else iso_ms(d.get("timestamp"))
        return self._trade(text(d.get("symbol")), str(d.get("side")), num(d.get("size"), "size"),
                           num(d.get("price"), "price"), t, str(d.get("trade_id")), received_at)  # fmt: skip

    def _ticker(self, data: object, msg: dict, received_at: int) -> list[Event]:
        if not isinstance(data, dict):
            raise FrameError("tickers data is not an object")
        sym = text(data.get("symbol"))
        ts = ms(msg.get("ts", received_at), "ts")
        mark = opt(data.get("markPrice"))
        if mark:
            self._mark[sym] = mark
        last = opt(data.get("lastPrice"))
        base, quote, inverse = self._info(sym)
        oi_raw, oi_val = _one_side(data)
        oi_base = None
        out: list[Event] = []
        ref = mark or self._mark.get(sym) or last
        if oi_raw is not None:
            if inverse:  # USD contracts
                oi_base = oi_raw / ref if ref else None
                oi_usd = oi_raw
            else:
                oi_base = oi_raw
                oi_usd = oi_val if oi_val is not None else (oi_raw * ref if ref else None)
            if oi_base is not None:
                out.append(OpenInterest("bybit", sym, base, quote, oi_base, oi_usd, ts, received_at))
        book = []
        for px_key, sz_key in (("bid1Price", "bid1Size"), ("ask1Price", "ask1Size")):
            px, sz = opt(data.get(px_key)), opt(data.get(sz_key))
            book += [px, (sz / px if inverse else sz) if px and sz is not None and sz >= 0 else None]
        vol, turnover = opt(data.get("volume24h")), opt(data.get("turnover24h"))
        nxt = opt(data.get("nextFundingTime"))
        out.append(
            Ticker("bybit", sym, ts, received_at, last_price=last, mark_price=mark,
                   index_price=opt(data.get("indexPrice")), funding_rate=opt(data.get("fundingRate")),
                   open_interest=oi_base, bid_price=book[0], bid_size=book[1], ask_price=book[2], ask_size=book[3],
                   volume_24h=turnover if inverse else vol, volume_24h_usd=vol if inverse else turnover,
                   next_funding_time=int(nxt) if nxt else None,
                   open_interest_usd=out[0].open_interest_usd if out else None)
        )  # fmt: skip
        return out

    def _kline(self, topic: str, d: dict) -> Kline:
        sym = topic.rsplit(".", 1)[-1]
        inverse = self._info(sym)[2]
        vol, turnover = num(d.get("volume"), "volume"), num(d.get("turnover"), "turnover")
        return Kline(
            "bybit", sym, str(d.get("interval")), ms(d.get("start"), "start"), ms(d.get("end"), "end"),
            pos(d.get("open"), "open"), pos(d.get("high"), "high"), pos(d.get("low"), "low"),
            pos(d.get("close"), "close"),
            turnover if inverse else vol, vol if inverse else turnover,
            closed=bool(d.get("confirm")),
        )  # fmt: skip


def _one_side(data: dict) -> tuple[float | None, float | None]:
    """(open interest, its value) of ONE side of the book from a tickers row: the
    ``singleOpenInterest`` / ``singleOpenInterestValue`` fields (Bybit, from 2026-06-11),
    else half the both-sides ``openInterest`` / ``openInterestValue`` (module docstring)."""
    oi, val = opt(data.get("singleOpenInterest")), opt(data.get("singleOpenInterestValue"))
    if oi is None:
        both = opt(data.get("openInterest"))
        oi = None if both is None else both / 2.0
    if val is None:
        both = opt(data.get("openInterestValue"))
        val = None if both is None else both / 2.0
    return oi, val


def _is_pong(frame: str) -> bool:
    return ('"pong"' in frame or '"op":"ping"' in frame or '"op":"pong"' in frame) and '"topic"' not in frame


VENUES = (Bybit,)
