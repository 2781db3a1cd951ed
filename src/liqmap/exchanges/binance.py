"""Binance USD-M (``binance``) and COIN-M (``binance_coinm``) futures.

Protocol facts (official docs):

* Liquidations: ``!forceOrder@arr`` (all symbols), payload ``{"e":"forceOrder",
  "E":ms,"o":{s,S,o,f,q,p,ap,X,l,z,T}}``; ``S`` is the side of the forced ORDER,
  so ``SELL`` = a LONG position was liquidated. At most one (the latest) order
  per symbol per 1000 ms is pushed, so counts are a lower bound.
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/All-Market-Liquidation-Order-Streams
* 2026 URL split: market streams (forceOrder, aggTrade, markPrice, kline) live on
  ``wss://fstream.binance.com/market``; the legacy URL accepts the handshake but
  pushes nothing. https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice
  COIN-M: ``wss://dstream.binance.com/stream`` (no split announced).
  https://developers.binance.com/docs/derivatives/coin-margined-futures/websocket-market-streams
* Combined streams wrap events as ``{"stream": ..., "data": {...}}``; raw
  streams send the event itself. Both are accepted.
* Connection valid 24 h; the server sends protocol ping frames every 3 min
  (answered by the websocket library) -> ``max_lifetime_s`` 23.5 h. 10 incoming
  messages per second per connection; 1024 streams per connection (USD-M), 200
  (COIN-M). https://developers.binance.com/docs/derivatives/coin-margined-futures/websocket-market-streams
* Subscriptions: the streams are named in the URL (no answer per stream). The
  feed sends ``{"method":"LIST_SUBSCRIPTIONS","id":...}`` after connecting and
  every 60 s: the answer ``{"result":[streams],"id":...}`` acknowledges the
  streams and, being an application frame, proves the socket alive on a quiet
  ``!forceOrder@arr``-only connection, where protocol pings never reach the
  application ("Live Subscribing/Unsubscribing to streams",
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Live-Subscribing-Unsubscribing-to-streams;
  answered on USD-M and Aster per a third-party live check of 2026-09). A stream
  without an answer is sent again with ``SUBSCRIBE`` (answer ``{"result":null,"id"}``,
  error ``{"code","msg","id"}``); a data frame acknowledges the URL's streams too.
  A liquidation-only connection is legitimately silent for long stretches: its
  silence threshold is the ``liquidations`` one (1 h, then a make-before-break
  rotation, never a gap), not the 60 s of busy connections.
* Market data per symbol (all in ``connections(symbols)``):
  ``<s>@bookTicker`` ``{e,u,s,b,B,a,A,T,E}`` best bid/ask and their sizes, real time, on the
  high-frequency ``/public`` entry point (USD-M; COIN-M has no split) -- USD-M sizes are base
  coin, COIN-M sizes are contracts;
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Individual-Symbol-Book-Ticker-Streams
  ``<s>@ticker`` ``{e:"24hrTicker",c,v,q,...}`` rolling 24 h: ``c`` last price; USD-M ``v`` base
  volume, ``q`` quote volume; COIN-M ``v`` contracts, ``q`` base volume;
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Individual-Symbol-Ticker-Streams ,
  https://developers.binance.com/docs/derivatives/coin-margined-futures/websocket-market-streams/Individual-Symbol-Ticker-Streams
  ``<s>@markPrice@1s`` ``{p mark, i index, r funding rate, T next funding time}``;
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream
* There is NO public REST liquidation history (``/fapi/v1/allForceOrders`` was
  retired in 2021; ``forceOrders`` is signed, own account only), so
  ``rest_liquidations = False``. REST poll: ``/fapi/v1/openInterest`` (base coin)
  and ``/dapi/v1/openInterest`` (contracts).
  https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest

Normalisation:

* price = ``ap`` (average fill) when present and > 0, else ``p`` (order price).
* quantity = ``z`` (accumulated filled) -- not ``l`` (last fill) and not ``q``
  (ordered); ``q`` only when ``z`` is absent. A frame with nothing filled
  (``z == 0``) carries no liquidated size and yields ``[]``.
* USD-M: quantity is base coin (``1000PEPE`` lots for ``1000PEPEUSDT``);
  value_usd = quantity x price (USDT/USDC at par).
* COIN-M: ``z`` is contracts; value_usd = contracts x contractSize (USD; 100 for
  BTC, 10 otherwise unless loaded from exchangeInfo); quantity = value_usd / price.
* The contract type is read from the SYMBOL, never assumed from the stream: a pair
  quoted in plain ``USD`` (``BTCUSD_PERP``, ``ETHUSD_250926``) is a COIN-M contract
  whichever parser meets it (a COIN-M capture replayed as USD-M, a USD-M stream carrying
  one): it is valued as COIN-M contracts and reported under ``binance_coinm`` with the
  same id the COIN-M parser gives (7 BTCUSD_PERP contracts = 700 USD, not 7 BTC).
* timestamp = ``o.T`` (order trade time), else ``E``.
* id = ``{venue}:{symbol}:{T}:{S}:{filled}:{p}`` -- only fields that every
  recording format keeps (the forceOrder CSV captures keep s,S,q,p,ap,X,l,z,T
  but not E), numbers in canonical form (``repr`` of the float, so ``"41.870"``
  and ``"41.87"`` give the same id).
"""

from __future__ import annotations

from typing import Sequence, Union

import msgspec

from liqmap.exchanges._common import MAX_TS, check_pos, check_ts, control_object, decode, ms, num, opt, pos, split_concat, text
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, RestPoll, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec, parse_number, to_base
from liqmap.models import Event, Kline, Liquidation, OpenInterest, Ticker, Trade
from liqmap.settings import get_settings

# ---------------------------------------------------------------- fast-path typed decoding


class _Order(msgspec.Struct, gc=False):
    s: str
    S: str
    p: float
    q: float = 0.0
    ap: float = 0.0
    X: str | None = None
    z: float | None = None
    T: int = 0


class _ForceOrder(msgspec.Struct, tag_field="e", tag="forceOrder", gc=False):
    o: _Order
    E: int = 0


class _AggTrade(msgspec.Struct, tag_field="e", tag="aggTrade", gc=False):
    s: str
    a: int
    p: float
    q: float
    T: int
    m: bool
    E: int = 0


class _BookTicker(msgspec.Struct, tag_field="e", tag="bookTicker", gc=False):
    s: str
    b: float
    B: float
    a: float
    A: float
    T: int = 0
    E: int = 0


class _Depth(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    pass


_Ev = Union[_ForceOrder, _AggTrade, _BookTicker, _Depth]


class _Combined(msgspec.Struct, gc=False):
    stream: str
    data: _Ev


_combined_dec = msgspec.json.Decoder(_Combined, strict=False)
_raw_dec = msgspec.json.Decoder(_Ev, strict=False)

_INF = float("inf")
_POSITION = {"SELL": "long", "BUY": "short"}  # forced ORDER side -> position liquidated
#: event type -> method parsing it on the generic (dict) path
_HANDLERS = {"forceOrder": "_force_order", "aggTrade": "_agg_trade", "markPriceUpdate": "_mark_price", "kline": "_kline",
             "bookTicker": "_book_ticker", "24hrTicker": "_day_ticker"}
_IGNORED_EVENTS = frozenset({"depthUpdate", "24hrMiniTicker", "contractInfo"})

#: Request id of the LIST_SUBSCRIPTIONS probe (apart from the feed's request ids 1, 2, ...).
PROBE_ID = 900_001
LIST_SUBSCRIPTIONS = '{"method":"LIST_SUBSCRIPTIONS","id":900001}'
#: Stream name part -> stream kind (``Topic.kind``).
_STREAM_KINDS = (("forceOrder", "liquidations"), ("aggTrade", "trades"), ("markPrice", "mark_price"), ("kline", "klines"))

USDM_WS = "wss://fstream.binance.com/market"
USDM_REST = "https://fapi.binance.com"
COINM_WS = "wss://dstream.binance.com"
COINM_REST = "https://dapi.binance.com"


class BinanceUSDM(Venue):
    """Binance USD-M futures: ``!forceOrder@arr`` (+ aggTrade/markPrice/kline per symbol).

    Args:
        contracts: contract-size registry (used by COIN-M only).
        ws_url: websocket base, default ``wss://fstream.binance.com/market``;
            the venue appends ``/stream?streams=...``.
        rest_url: REST base, default ``https://fapi.binance.com``.
        kline_interval: kline stream interval when symbols are given (``1m``).
    """

    name = "binance"
    color = "#f0b90b"
    #: Event times before this are implausible (the gate): Binance Futures (USD-M) opened in September 2019; the first day of
    #: that year, 2019-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1546300800000
    #: taker fee, base tier: https://www.binance.com/en/fee/futureFee (USD-M, regular user: 0.0500 %)
    taker_fee_bps = 5.0
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
    sampling = "lower_bound"  # at most the latest liquidation per symbol per 1000 ms
    rest_liquidations = False
    default_ws = USDM_WS
    default_rest = USDM_REST
    #: 200 streams per combined connection (Binance allows 1024; fewer keeps URLs
    #: short); connections are valid 24 h, rotated after 23.5 h.
    limits = Limits(topics_per_connection=200, max_lifetime_s=23.5 * 3600)
    quote_families = {"USDT": "USDT", "USDC": "USDC"}
    label = "usdm"
    recordings = RecordingNames(cryptofeed=("BINANCE_FUTURES",), tardis=("binance-futures",))
    #: The listing: ``symbols[]`` with ``status`` TRADING (symbols given to the feed are
    #: checked against it). https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
    instruments = ("/fapi/v1/exchangeInfo",)
    inverse = False
    oi_path = "/fapi/v1/openInterest"
    #: Venue whose contracts the plain-USD pairs (``BTCUSD_PERP``) are: valued and named as
    #: such by this parser too (module docstring); None = this venue lists none (Aster).
    coin_margined: str | None = "binance_coinm"

    def _init_state(self) -> None:
        self._last_price: dict[str, float] = {}

    # ------------------------------------------------------------ symbols
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTCUSDT"]``; ``("BTC", "USDC")`` -> ``["BTCUSDC"]``."""
        return [f"{base.upper()}{(quote or 'USDT').upper()}"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTCUSDT`` -> (BTC, USDT); COIN-M ``BTCUSD_PERP`` / ``BTCUSD_200925`` and
        USD-M quarterlies ``BTCUSDT_250627``: the part before ``_`` is the pair."""
        return split_concat(symbol.split("_", 1)[0])

    # ------------------------------------------------------------ declarative I/O
    def _streams(self, symbols: Sequence[str] | None, liquidations: bool = True) -> list[str]:
        streams = ["!forceOrder@arr"] if liquidations else []
        for s in symbols or ():
            low = s.lower()
            streams += [f"{low}@aggTrade", f"{low}@markPrice@1s", f"{low}@kline_{self.kline_interval}",
                        f"{low}@ticker"]
        return streams

    def _book_url(self) -> str:
        """Where ``bookTicker`` lives: USD-M's high-frequency ``/public`` entry point next to
        ``/market`` (module docstring); the same base elsewhere (COIN-M, test servers)."""
        return self.ws_url[: -len("/market")] + "/public" if self.ws_url.endswith("/market") else self.ws_url

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One combined-stream connection per ``limits.topics_per_connection``
        streams; the first carries ``!forceOrder@arr``; ``bookTicker`` of the given symbols on
        their own ``book`` connection(s). Protocol-level pings; rotated before the 24 h lifetime."""
        return self._combined(self._streams(symbols), self.label) + self._books(symbols, f"{self.label}-book")

    def market_connections(self, symbols: Sequence[str]) -> list[ConnectionSpec]:
        """``aggTrade``, ``markPrice@1s``, ``kline``, ``ticker`` of ``symbols`` on connections of
        their own (label ``<label>-market``; ``bookTicker`` on ``<label>-market-book``): the streams
        are named in the URL, so they cannot join the all-market ``!forceOrder@arr`` socket's
        subscription."""
        return (self._combined(self._streams(symbols, liquidations=False), f"{self.label}-market")
                + self._books(symbols, f"{self.label}-market-book"))

    def _books(self, symbols: Sequence[str] | None, label: str) -> list[ConnectionSpec]:
        return self._combined([f"{s.lower()}@bookTicker" for s in symbols or ()], label, self._book_url())

    def _combined(self, streams: list[str], label: str, base: str | None = None) -> list[ConnectionSpec]:
        per = self.limits.topics_per_connection or len(streams) or 1
        out = []
        for i in range(0, len(streams), per):
            out.append(self._spec(label if i == 0 else f"{label}-{i // per + 1}", base or self.ws_url,
                                  streams[i : i + per]))
        return out

    def _spec(self, label: str, base: str, part: list[str]) -> ConnectionSpec:
        return ConnectionSpec(
            label=label,
            url=f"{base}/stream?streams={'/'.join(part)}",
            topics=tuple(Topic(st, _stream_kind(st)) for st in part),
            topics_in_url=True,
            ack_probe=LIST_SUBSCRIPTIONS,
            heartbeat=Heartbeat(60.0, LIST_SUBSCRIPTIONS),
            max_lifetime_s=self.limits.max_lifetime_s,
            # liveness; forceOrder-only connections are quiet for minutes in calm markets
            stale_after_s=60.0 if len(part) > 1 else 300.0,
        )

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``symbols[].symbol`` trading now (USD-M ``status``, COIN-M ``contractStatus``)."""
        rows = msgspec.json.decode(body).get("symbols") or []
        return [r["symbol"] for r in rows if isinstance(r, dict) and r.get("symbol")
                and (r.get("status") or r.get("contractStatus") or "TRADING") == "TRADING"]  # fmt: skip

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"method":"SUBSCRIBE","params":[streams],"id":n}`` (a stream not acknowledged)."""
        return msgspec.json.encode({"method": "SUBSCRIBE", "params": [t.key for t in topics], "id": request_id}).decode()

    def control(self, data: str) -> Control | None:
        """Answers to LIST_SUBSCRIPTIONS (the streams), SUBSCRIBE (by id), or an error."""
        msg = control_object(data, 12, '"result"', '"id"', '"code"')
        if msg is None or "id" not in msg:
            return None
        rid = None if msg["id"] == PROBE_ID else str(msg["id"])
        if "code" in msg:
            return Control("reject", (), rid, f"{msg.get('code')}: {msg.get('msg')}")
        result = msg.get("result")
        if isinstance(result, list):
            return Control("ack", tuple(x for x in result if isinstance(x, str)))
        return Control("ack", (), rid) if rid else None

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """Open interest per symbol every ``BINANCE_POLL_INTERVAL`` seconds (weight 1,
        limit 2400/min). No public liquidation REST exists, so nothing else is polled."""
        interval = get_settings().binance_poll_interval
        return [
            RestPoll(
                label=f"oi:{s.upper()}",
                url=f"{self.rest_url}{self.oi_path}?symbol={s.upper()}",
                interval_s=interval,
                weight=1,
                limit_per_min=2400,
            )
            for s in symbols or ()
        ]

    # ------------------------------------------------------------ parsing
    def _coin_margined(self, quote: str) -> str | None:
        """The venue a contract of this quote is on when it is coin-margined (its pair is
        quoted in plain USD), else None; raises for such a pair on a venue without COIN-M."""
        if quote != "USD":
            return None
        if self.inverse:
            return self.name
        if self.coin_margined is None:
            raise FrameError(f"{self.name}: a coin-margined (USD-quoted) symbol, which this venue does not list")
        return self.coin_margined

    def _to_base(self, symbol: str, qty: float, price: float) -> tuple[float, float]:
        """(quantity base, value_usd) from the venue size field."""
        venue = self._coin_margined(self._split(symbol)[1])
        if venue is not None:
            return to_base(qty, price, True, self.contracts.get(venue, symbol).size)  # USD contracts
        return qty, qty * price

    def _liq(self, o: _Order, E: int, received_at: int) -> list[Event]:
        # Hot path (~all liquidation frames): inline checks, no helper calls.
        z = o.z
        filled = z if z is not None else o.q
        ap = o.ap
        p = o.p
        price = ap if ap > 0.0 else p
        if not (0.0 < filled < _INF and 0.0 < price < _INF):
            if filled == 0.0 and 0.0 < price < _INF:
                return []  # nothing filled (e.g. EXPIRED with z=0): no liquidated size
            raise FrameError(f"invalid size/price z={filled!r} price={price!r}")
        side = o.S
        pside = _POSITION.get(side)
        if pside is None:
            raise FrameError(f"unknown order side {side!r}")
        sym = o.s
        bq = self._split_cache.get(sym) or self._split(sym)
        name = self.name
        if bq[1] == "USD":  # coin-margined, whichever stream it came on (module docstring)
            name = self._coin_margined("USD") or name
            value = filled * self.contracts.get(name, sym).size
            quantity = value / price
        else:
            quantity = filled
            value = filled * price
        t = o.T or E
        ts = t or received_at
        if not 0 <= ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        self._last_price[sym] = price
        return [
            Liquidation(
                name, sym, bq[0], bq[1], pside, price, quantity, value, ts, received_at,
                f"{name}:{sym}:{t}:{side}:{filled!r}:{p!r}", side, o.X, not t,
            )
        ]  # fmt: skip

    def _trade(self, t: _AggTrade, received_at: int) -> list[Event]:
        price = check_pos(t.p, "p")
        check_pos(t.q, "q")
        base, quote = self._split(t.s)
        quantity, value = self._to_base(t.s, t.q, price)
        self._last_price[t.s] = price
        return [
            Trade(
                self.name,
                t.s,
                base,
                quote,
                "sell" if t.m else "buy",
                price,
                quantity,
                value,
                check_ts(t.T or t.E),
                received_at,
                f"{self.name}:{t.s}:{t.a}",
            )
        ]

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        # Fast path: typed decode of the hot shapes straight from the bytes.
        try:
            if data.startswith('{"stream"') if isinstance(data, str) else data.startswith(b'{"stream"'):
                ev = _combined_dec.decode(data).data
            else:
                ev = _raw_dec.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self._parse_generic(decode(data), received_at)
        if type(ev) is _ForceOrder:
            return self._liq(ev.o, ev.E, received_at)
        if type(ev) is _AggTrade:
            return self._trade(ev, received_at)
        if type(ev) is _BookTicker:
            return self._book(ev, received_at)
        return []  # depthUpdate

    # ---- generic (dict) path: every shape, authoritative error messages
    def _parse_generic(self, msg: object, received_at: int) -> list[Event]:
        if isinstance(msg, dict) and "stream" in msg and "data" in msg:
            msg = msg["data"]
        if isinstance(msg, list):
            out: list[Event] = []
            for item in msg:
                out += self._event(item, received_at)
            return out
        return self._event(msg, received_at)

    def _event(self, msg: object, received_at: int) -> list[Event]:
        if not isinstance(msg, dict):
            raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
        e = msg.get("e")
        handler = _HANDLERS.get(e) if isinstance(e, str) else None
        if handler is not None:
            return getattr(self, handler)(msg, received_at)
        if e in _IGNORED_EVENTS:
            return []
        if e is None:
            if "result" in msg and "id" in msg:
                return []  # SUBSCRIBE/UNSUBSCRIBE ack
            if "openInterest" in msg and "symbol" in msg:
                return self._open_interest(msg, received_at)
            if "code" in msg and "msg" in msg:
                raise FrameError(f"venue error {msg.get('code')}: {msg.get('msg')}")
            if "symbols" in msg and "serverTime" in msg:
                # REST exchangeInfo (e.g. a recorded one): no events; COIN-M sizes are learnt.
                if self.inverse:
                    self.contracts.update(self.contract_specs(msgspec.json.encode(msg)))
                return []
        raise FrameError(f"unknown Binance event {e!r}")

    def _force_order(self, msg: dict, received_at: int) -> list[Event]:
        o = msg.get("o")
        if not isinstance(o, dict):
            raise FrameError("forceOrder without 'o' object")
        order = _Order(
            s=text(o.get("s")),
            S=str(o.get("S")),
            p=num(o.get("p"), "p"),
            q=num(o.get("q", 0), "q"),
            ap=num(o.get("ap"), "ap") if o.get("ap") not in (None, "") else 0.0,
            X=o.get("X"),
            z=num(o["z"], "z") if o.get("z") not in (None, "") else None,
            T=ms(o.get("T", 0), "T"),
        )
        return self._liq(order, ms(msg.get("E", 0), "E"), received_at)

    def _agg_trade(self, msg: dict, received_at: int) -> list[Event]:
        t = _AggTrade(
            s=text(msg.get("s")),
            a=int(msg["a"]),
            p=pos(msg.get("p"), "p"),
            q=pos(msg.get("q"), "q"),
            T=ms(msg.get("T"), "T"),
            m=bool(msg.get("m")),
            E=ms(msg.get("E", 0), "E"),
        )
        return self._trade(t, received_at)

    def _mark_price(self, msg: dict, received_at: int) -> list[Event]:
        sym = text(msg.get("s"))
        mark = pos(msg.get("p"), "p")
        self._last_price[sym] = mark
        nxt = ms(msg.get("T") or 0, "T")
        return [
            Ticker(self.name, sym, ms(msg.get("E"), "E"), received_at, mark_price=mark,
                   index_price=opt(msg.get("i")), funding_rate=opt(msg.get("r")), next_funding_time=nxt or None)
        ]  # fmt: skip

    def _book(self, t: _BookTicker, received_at: int) -> list[Event]:
        """Best bid/ask (``bookTicker``); sizes to base units (COIN-M: contracts x USD size / price)."""
        bid, ask = check_pos(t.b, "b"), check_pos(t.a, "a")
        bsz, asz = t.B, t.A
        if not (0.0 <= bsz < _INF and 0.0 <= asz < _INF):
            raise FrameError(f"invalid book sizes B={bsz!r} A={asz!r}")
        if self.inverse:
            size = self.contracts.get(self.name, t.s).size
            bsz, asz = bsz * size / bid, asz * size / ask
        ts = t.T or t.E or received_at
        if not 0 <= ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        return [Ticker(self.name, t.s, ts, received_at, bid_price=bid, bid_size=bsz, ask_price=ask, ask_size=asz)]

    def _book_ticker(self, msg: dict, received_at: int) -> list[Event]:
        t = _BookTicker(s=text(msg.get("s")), b=num(msg.get("b"), "b"), B=num(msg.get("B"), "B"),
                        a=num(msg.get("a"), "a"), A=num(msg.get("A"), "A"), T=ms(msg.get("T", 0), "T"),
                        E=ms(msg.get("E", 0), "E"))
        return self._book(t, received_at)

    def _day_ticker(self, msg: dict, received_at: int) -> list[Event]:
        """Rolling 24 h ticker: last price and volume (module docstring for the units)."""
        sym = text(msg.get("s"))
        last = pos(msg.get("c"), "c")
        v, q = num(msg.get("v"), "v"), num(msg.get("q"), "q")
        if self.inverse:  # v contracts, q base coin
            volume, volume_usd = q, v * self.contracts.get(self.name, sym).size
        else:  # v base coin, q quote (USDT/USDC at par)
            volume, volume_usd = v, q
        self._last_price[sym] = last
        return [Ticker(self.name, sym, ms(msg.get("E"), "E"), received_at, last_price=last,
                       volume_24h=volume, volume_24h_usd=volume_usd)]

    def _kline(self, msg: dict, received_at: int) -> list[Event]:
        k = msg.get("k")
        if not isinstance(k, dict):
            raise FrameError("kline without 'k' object")
        sym = text(k.get("s") or msg.get("s"))
        if self.inverse:  # COIN-M: v, V are contracts; q, Q are base-coin volumes
            volume, qv, tbv, tbq = num(k["q"], "q"), None, num(k["Q"], "Q"), None
        else:
            volume, qv, tbv, tbq = num(k["v"], "v"), num(k["q"], "q"), num(k["V"], "V"), num(k["Q"], "Q")
        return [
            Kline(self.name, sym, str(k["i"]), ms(k["t"], "t"), ms(k["T"], "T"), pos(k["o"], "o"), pos(k["h"], "h"),
                  pos(k["l"], "l"), pos(k["c"], "c"), volume, qv, tbv, tbq, int(k.get("n") or 0), bool(k.get("x")))
        ]  # fmt: skip

    def _open_interest(self, msg: dict, received_at: int) -> list[Event]:
        sym = text(msg.get("symbol"))
        base, quote = self._split(sym)  # COIN-M BTCUSD_PERP: the part before "_" is the pair
        oi = num(msg.get("openInterest"), "openInterest")
        ts = ms(msg.get("time") or received_at, "time")
        last = self._last_price.get(sym)
        if self.inverse:  # contracts of contractSize USD
            usd = oi * self.contracts.get(self.name, sym).size
            if not last:
                raise FrameError(f"no price seen yet for {sym}: cannot convert COIN-M open interest")
            return [OpenInterest(self.name, sym, base, quote, usd / last, usd, ts, received_at)]
        return [OpenInterest(self.name, sym, base, quote, oi, oi * last if last else None, ts, received_at)]


def _stream_kind(stream: str) -> str:
    for part, kind in _STREAM_KINDS:
        if part in stream:
            return kind
    return "tickers"


class BinanceCoinM(BinanceUSDM):
    """Binance COIN-M futures (inverse, sizes in USD contracts); see module docstring.

    ``ws_url`` default ``wss://dstream.binance.com``, ``rest_url`` default
    ``https://dapi.binance.com``.
    """

    name = "binance_coinm"
    color = "#c99a06"
    #: Event times before this are implausible (the gate): COIN-M futures opened in August 2020; the first day of
    #: that year, 2020-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1577836800000
    #: taker fee, base tier: https://www.binance.com/en/fee/deliveryFee (COIN-M, regular user: 0.0500 %)
    taker_fee_bps = 5.0
    inverse = True
    default_ws = COINM_WS
    default_rest = COINM_REST
    quote_families = {"USD": "USD"}
    label = "coinm"
    recordings = RecordingNames(cryptofeed=("BINANCE_DELIVERY",), tardis=("binance-delivery",))
    oi_path = "/dapi/v1/openInterest"
    #: ``contractSize`` (USD) per symbol.
    #: https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Exchange-Information
    instruments = ("/dapi/v1/exchangeInfo",)

    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTCUSD_PERP"]`` (COIN-M perpetuals are quoted in USD)."""
        return [f"{base.upper()}{(quote or 'USD').upper()}_PERP"]

    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """Specs from ``/dapi/v1/exchangeInfo`` (``symbols[].contractSize``, USD, inverse)."""
        out = []
        for row in msgspec.json.decode(body).get("symbols") or []:
            cs = parse_number(row.get("contractSize"))
            if cs:
                out.append(ContractSpec(cls.name, row["symbol"], "inverse", cs, "USD"))
        return out

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """``BTCUSD_*`` 100 USD, every other COIN-M contract 10 USD (``contractSize``
        in /dapi/v1/exchangeInfo; recorded 100 for BTCUSD_PERP, 10 for ETHUSD_PERP)."""
        size = 100.0 if symbol.startswith("BTCUSD") else 10.0
        return ContractSpec(cls.name, symbol, "inverse", size, "USD", "fallback")


VENUES = (BinanceUSDM, BinanceCoinM)
