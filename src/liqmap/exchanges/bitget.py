"""Bitget futures (``bitget``): the v3 (UTA) public websocket ``liquidation`` topic.

Protocol facts (official docs; the old ``/api-doc/...`` pages now redirect to
``https://www.bitget.com/docs/uta/...``):

* Liquidations: ``{"op":"subscribe","args":[{"instType":"usdt-futures",
  "topic":"liquidation"}]}`` on ``wss://ws.bitget.com/v3/ws/public``, one arg per
  product type (``usdt-futures``, ``coin-futures``, ``usdc-futures``), no symbol.
  Push ``{"action":"update","arg":{instType, topic},"data":[{symbol, side,
  price, amount, ts}],"ts":ms}``, every value a string.
  https://www.bitget.com/api-doc/uta/websocket/public/Liquidation-Channel
* Field table of that page: ``side`` "Position side: ``buy`` Long position
  liquidation, ``sell`` Short position liquidation"; ``price`` "Liquidation
  price"; ``amount`` "Liquidation amount, Unit: quote coin"; ``ts`` ms. (The
  field table was truncated in the copies exchanges.md §7.1 used, hence its
  "amount likely base coin"; the complete table says quote coin.) The one real
  frame (tardis-node fixture, 2026-04-28) agrees: ``amount / price`` is a round
  lot (13.70319 / 0.1649 = 83.1 APE, 143.330431857868 / 0.500280739469 = 286.5
  IP), which only a quote notional gives. Hence value_usd = amount (USDT, USDC
  and USD at par) and quantity = amount / price in base coin -- also for
  coin-futures, whose quote is USD.
* Sampling: the page copy on www.bitget.live says "pushed once per second ...
  only the record with the highest liquidation quantity for long and short
  positions respectively per trading pair" (at most 2 per pair per second); a
  later copy of the same page (Bitget UTA docs bundle) says "once every 20
  seconds or every 10,000 records ... all forced-liquidation data on the
  platform". The real frame fits the later text (rows 10.6 s and 20.2 s older
  than the push), but the docs disagree, so liqmap claims no more than
  ``lower_bound``.
* Connection rules (https://www.bitget.com/api-doc/common/websocket-intro): send
  the text ``ping`` every 30 s, the server answers ``pong`` and disconnects after
  2 min without one (an older copy: 30 s) -> ping every 25 s; forced disconnect
  every 24 h -> rotate after 23.5 h; 10 messages/s per connection; 240
  subscribe requests per hour; at most 1000 channels per connection (fewer than
  50 recommended). A third-party probe (2026-09-15) saw a v3 subscribe with 25
  args close the socket and recommends <= 10 args per request ->
  ``args_per_subscribe=10``; the liquidation args go in a request of their own.
* Errors: ``{"event":"error","code":30001,"msg":"..."}`` (numeric code on v3).
* Also parsed (args ``{instType, topic, symbol}``, same URL): ``ticker``
  (``markPrice``, ``indexPrice``, ``fundingRate``, ``openInterest``),
  ``publicTrade`` (``v`` base coin, quote coin for COIN-futures), ``kline``
  (``start``, o/h/l/c, ``volume`` base, ``turnover`` quote; a candle counts as
  closed once the push time passed its end). Docs: the Tickers-, New-Trades- and
  Candlesticks-Channel pages under .../uta/websocket/public/. ``openInterest``
  units are not stated; for USDT/USDC futures it is read as base coin (as the
  v2 REST open interest, "ETH in ETHUSDT"), for coin-futures it is not used.
* Replay of the 2022 v1 ``mix`` stream (cryptofeed BITGET sample): ``trade``
  rows ``[ts, price, size, side]`` and ``ticker`` (``markPrice``,
  ``capitalRate``, ``holding``) are parsed; books and candles are skipped.
* Symbols: USDT futures ``BTCUSDT``, USDC futures ``BTCPERP``, coin futures
  ``BTCUSD`` (tardis-node's instType mapping, exchanges.md §7.3).
* Public REST liquidation history: ``GET /api/v3/market/liquidations`` exists
  (three days, per third-party notes of the official page) but is not used
  here, so ``rest_liquidations = False``.
* Contract sizes: amounts are quote value and trade sizes base coin, so no
  instruments table is needed.

id = ``bitget:{symbol}:{ts}:{side}:{amount}:{price}`` (the venue's number text);
identical rows in one frame get ``#2``, ``#3`` (``frame_repeats_are_distinct``).
"""

from __future__ import annotations

from typing import Any, Sequence

import msgspec

from liqmap.exchanges._common import (
    INF, MAX_TS, control_object, decode_object, dict_rows, ms, num, opt, pos, position_side, rows_or_partial, split_concat, text, typed,
)  # fmt: skip
from liqmap.exchanges.base import ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, Topic, Venue
from liqmap.models import Event, Kline, Liquidation, OpenInterest, Ticker, Trade
from liqmap.units import INTERVAL_MS

WS_URL = "wss://ws.bitget.com/v3/ws/public"
REST_BASE = "https://api.bitget.com"
INST_TYPES = ("usdt-futures", "coin-futures", "usdc-futures")
_POSITION = {"buy": "long", "sell": "short"}  # liquidation ``side`` is the POSITION side
#: v3 kline intervals -> liqmap interval names
_INTERVALS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "4H": "4h",
              "6H": "6h", "12H": "12h", "1D": "1d"}  # fmt: skip


class _Row(msgspec.Struct, gc=False):
    symbol: str
    side: str
    price: str  # numbers stay text: the id keeps the venue's digits, float() is cheaper than repr()
    amount: str
    ts: str


class _Arg(msgspec.Struct, gc=False):
    topic: str
    instType: str = ""


class _Push(msgspec.Struct, gc=False):
    arg: _Arg
    data: list[_Row]


_liq_dec = msgspec.json.Decoder(_Push, strict=False)


def _txt(value: Any, field: str) -> str:
    """A number field as the venue's text (a JSON number becomes its shortest text)."""
    pos(value, field)
    return value if isinstance(value, str) else repr(float(value))


def _arg_key(arg: Any) -> str | None:
    """Topic key of an ack's or error's ``arg`` (``liquidation:usdt-futures``,
    ``ticker:usdt-futures:BTCUSDT``, ``kline:...:1m``); v1/v2 name it ``channel``/``instId``."""
    if not isinstance(arg, dict):
        return None
    topic = arg.get("topic") or arg.get("channel")
    parts = [topic, str(arg.get("instType") or "").lower(), arg.get("symbol") or arg.get("instId"), arg.get("interval")]
    return ":".join(str(p) for p in parts if p) if topic else None


def inst_type(symbol: str) -> str:
    """Product type of a symbol: ``usdc-futures`` (``...PERP``), ``coin-futures``
    (``...USD``), else ``usdt-futures``."""
    s = symbol.upper()
    if s.endswith("PERP"):
        return "usdc-futures"
    return "coin-futures" if s.endswith("USD") else "usdt-futures"


class Bitget(Venue):
    """Bitget v3 public websocket (see module docstring).

    Args:
        contracts: unused (no contract sizes), accepted for uniformity.
        ws_url: full websocket URL, default ``wss://ws.bitget.com/v3/ws/public``.
        rest_url: REST base, default ``https://api.bitget.com``.
        inst_types: product types of the liquidation topic.
        kline_interval: v3 kline interval for given symbols (``1m``).
    """

    name = "bitget"
    color = "#00c4d6"  # Bitget cyan
    #: Event times before this are implausible (the gate): Bitget opened in 2018; the first day of
    #: that year, 2018-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1514764800000
    frame_repeats_are_distinct = True
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
    sampling = "lower_bound"  # the docs disagree (module docstring): claim no more
    rest_liquidations = False
    default_ws = WS_URL
    default_rest = REST_BASE
    #: <= 10 args a request (third-party probe), 50 topics a connection (the docs' advice; 1000
    #: allowed), 24 h lifetime, 10 messages/s (paced at 5), 240 subscribes an hour,
    #: 300 connection requests per 5 minutes (1/s).
    limits = Limits(args_per_subscribe=10, topics_per_connection=50, max_lifetime_s=23.5 * 3600,
                    subscribes_per_s=5.0, subscribes_per_hour=240, connections_per_s=1.0)  # fmt: skip
    rejects_whole_request = False  # one answer per arg (the 2022 session: 8 args, 8 acks)
    quote_families = {"USDT": "USDT", "USDC": "USDC", "USD": "USD"}
    label = "public"
    recordings = RecordingNames(cryptofeed=("BITGET",), tardis=("bitget*",), hosts=("ws.bitget.com",))

    def __init__(self, *args: Any, inst_types: Sequence[str] = INST_TYPES, **kw: Any) -> None:
        self.inst_types = tuple(inst_types)
        super().__init__(*args, **kw)

    # ------------------------------------------------------------ symbols
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTCUSDT"]``; USDC -> ``["BTCPERP"]``; USD -> ``["BTCUSD"]``."""
        b = base.upper()
        q = (quote or "USDT").upper()
        return [f"{b}PERP" if q == "USDC" else f"{b}{q}"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTCUSDT`` -> (BTC, USDT); ``BTCPERP`` -> (BTC, USDC); ``BTCUSD`` -> (BTC, USD);
        a dated suffix (``BTCUSD_260327``) is dropped."""
        head = symbol.upper().split("_", 1)[0]
        if head.endswith("PERP") and len(head) > 4:
            return head[:-4], "USDC"
        return split_concat(head)

    # ------------------------------------------------------------ declarative I/O
    def _topics(self, symbols: Sequence[str] | None) -> list[Topic]:
        out = [Topic(f"liquidation:{t}", "liquidations", {"instType": t, "topic": "liquidation"}) for t in self.inst_types]
        for s in dict.fromkeys(x.upper() for x in symbols or ()):
            t = inst_type(s)
            out += [
                Topic(f"ticker:{t}:{s}", "tickers", {"instType": t, "topic": "ticker", "symbol": s}),
                Topic(f"publicTrade:{t}:{s}", "trades", {"instType": t, "topic": "publicTrade", "symbol": s}),
                Topic(f"kline:{t}:{s}:{self.kline_interval}", "klines",
                      {"instType": t, "topic": "kline", "symbol": s, "interval": self.kline_interval}),
            ]  # fmt: skip
        return out

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection: the ``liquidation`` topic per product type, plus
        ``ticker``/``publicTrade``/``kline`` per given symbol, as tracked topics (the feed
        sends them within ``limits``, liquidation topics alone); text ``ping`` every 25 s;
        rotated before the 24 h forced disconnect."""
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=tuple(self._topics(symbols)),
                heartbeat=Heartbeat(25.0, "ping", is_pong=lambda t: t == "pong"),
                max_lifetime_s=self.limits.max_lifetime_s,
                stale_after_s=120.0,  # pongs every 25 s keep a healthy socket busy
            )
        ]

    def control(self, data: str) -> Control | None:
        """One ack per arg (``event: subscribe``); ``event: error`` names the refused arg
        (v2: ``arg``; v3: the arg as JSON text at the start of ``msg``)."""
        msg = control_object(data, 40, '"event"')
        if msg is None:
            return None
        event = msg.get("event")
        if event == "subscribe":
            key = _arg_key(msg.get("arg"))
            return Control("ack", (key,) if key else ())
        if event == "error":
            arg = msg.get("arg")
            if not isinstance(arg, dict):
                text_msg = str(msg.get("msg") or "")
                try:
                    arg = msgspec.json.decode(text_msg[: text_msg.index("}") + 1]) if text_msg.startswith("{") else None
                except (msgspec.DecodeError, ValueError):
                    arg = None
            key = _arg_key(arg)
            return Control("reject", (key,) if key else (), None, f"{msg.get('code')}: {msg.get('msg')}")
        return None

    # ------------------------------------------------------------ parsing
    def _liq(self, sym: str, side: str, px: str, amt: str, t: str, received_at: int) -> Liquidation:
        """One row; ``px``/``amt``/``t`` are the venue's text (the id keeps it verbatim)."""
        price, amount, ts = float(px), float(amt), int(t)
        pside = position_side(price, amount, ts, side, _POSITION, "price/amount")
        base, quote = self._split_cache.get(sym) or self._split(sym)
        return Liquidation(
            "bitget", sym, base, quote, pside, price, amount / price, amount, ts or received_at, received_at,
            f"bitget:{sym}:{t}:{side}:{amt}:{px}", side, None, not ts,
        )  # fmt: skip

    def _liqs(self, rows: list[_Row], received_at: int) -> list[Event]:
        """Hot path: :meth:`_liq` inlined over a push's rows (same checks, same result)."""
        out: list[Event] = []
        cache = self._split_cache
        for r in rows:
            px, amt, t, side, sym = r.price, r.amount, r.ts, r.side, r.symbol
            price, amount, ts = float(px), float(amt), int(t)
            pside = _POSITION.get(side)
            bq = cache.get(sym)
            if not (0.0 < price < INF and 0.0 < amount < INF and 0 < ts < MAX_TS) or pside is None or bq is None:
                out.append(self._liq(sym, side, px, amt, t, received_at))  # raises with the reason, or fills the cache
                continue
            out.append(Liquidation("bitget", sym, bq[0], bq[1], pside, price, amount / price, amount, ts, received_at,
                                   f"bitget:{sym}:{t}:{side}:{amt}:{px}", side, None))  # fmt: skip
        return out

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        if data == "pong" or data == b"pong":
            return []
        msg = typed(_liq_dec, data) if (b'"liquidation"' if isinstance(data, bytes) else '"liquidation"') in data else None
        if msg is not None and msg.arg.topic == "liquidation":
            try:
                return self._liqs(msg.data, received_at)
            except (FrameError, ValueError):
                pass  # a bad row: the generic path keeps the others
        return self._generic(decode_object(data), received_at)

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        event = msg.get("event")
        if event is not None:
            if event == "error" or (msg.get("code") not in (None, "", 0, "0")):
                raise FrameError(f"venue error {msg.get('code')}: {msg.get('msg')}")
            return []  # subscribe / unsubscribe ack
        arg = msg.get("arg")
        if not isinstance(arg, dict):
            raise FrameError("frame without 'arg'")
        topic = arg.get("topic") or arg.get("channel")  # v3 topic / v1 channel
        rows = msg.get("data")
        if not isinstance(rows, list):
            raise FrameError(f"{topic}: data is not a list")
        ts = msg.get("ts")
        if topic == "liquidation":
            return rows_or_partial(dict_rows(rows), lambda r: self._liq(
                text(r.get("symbol")), str(r.get("side")), _txt(r.get("price"), "price"), _txt(r.get("amount"), "amount"),
                str(ms(r.get("ts"), "ts")), received_at))  # fmt: skip
        if topic == "publicTrade":
            return rows_or_partial(dict_rows(rows), lambda r: self._trade_v3(arg, r, received_at))
        if topic == "ticker":
            out: list[Event] = []
            for r in dict_rows(rows):
                out += self._ticker(arg, r, ms(ts or received_at, "ts"), received_at)
            return out
        if topic == "kline":
            return rows_or_partial(dict_rows(rows), lambda r: self._kline(arg, r, ms(ts or received_at, "ts")))
        if topic == "trade":  # v1 mix recordings
            return rows_or_partial(rows, lambda r: self._trade_v1(text(arg.get("instId"), "instId"), r, received_at))
        if topic == "books" or topic in ("books1", "books5", "books15", "books50") or str(topic).startswith("candle"):
            return []
        raise FrameError(f"unsupported topic {topic!r}")

    def _trade(self, sym: str, side: str, price: float, size: float, ts: int, tid: str, received_at: int,
               coin_m: bool = False) -> Trade:  # fmt: skip
        if side not in ("buy", "sell"):
            raise FrameError(f"unknown trade side {side!r}")
        base, quote = self._split(sym)
        qty, value = (size / price, size) if coin_m else (size, size * price)
        return Trade("bitget", sym, base, quote, side, price, qty, value, ts, received_at, tid)

    def _trade_v3(self, arg: dict, r: dict, received_at: int) -> Trade:
        sym = text(arg.get("symbol"))
        tid = f"bitget:{sym}:{text(r.get('i'), 'i')}"
        return self._trade(sym, str(r.get("S")), pos(r.get("p"), "p"), pos(r.get("v"), "v"), ms(r.get("T"), "T"), tid,
                           received_at, arg.get("instType") == "coin-futures")  # fmt: skip

    def _trade_v1(self, sym: str, r: Any, received_at: int) -> Trade:
        if not isinstance(r, list) or len(r) < 4:
            raise FrameError("v1 trade row is not [ts, price, size, side]")
        ts, price, size, side = ms(r[0], "ts"), pos(r[1], "price"), pos(r[2], "size"), str(r[3])
        return self._trade(sym, side, price, size, ts, f"bitget:{sym}:{ts}:{side}:{size!r}:{price!r}", received_at)

    def _ticker(self, arg: dict, r: dict, ts: int, received_at: int) -> list[Event]:
        sym = text(arg.get("symbol") or r.get("instId") or arg.get("instId"))
        mark = opt(r.get("markPrice"))
        oi = opt(r.get("openInterest") if "openInterest" in r else r.get("holding"))
        linear = arg.get("instType") != "coin-futures"
        out: list[Event] = []
        if oi is not None and oi >= 0 and linear:
            base, quote = self._split(sym)
            out.append(OpenInterest("bitget", sym, base, quote, oi, oi * mark if mark else None, ts, received_at))
        funding = r.get("fundingRate", r.get("capitalRate"))
        out.append(Ticker("bitget", sym, ts, received_at, last_price=opt(r.get("lastPrice", r.get("last"))),
                          mark_price=mark, index_price=opt(r.get("indexPrice")), funding_rate=opt(funding),
                          open_interest=oi if linear else None))  # fmt: skip
        return out

    def _kline(self, arg: dict, r: dict, push_ts: int) -> Kline:
        sym = text(arg.get("symbol"))
        interval = _INTERVALS.get(str(arg.get("interval")))
        if interval is None:
            raise FrameError(f"unknown kline interval {arg.get('interval')!r}")
        start = ms(r.get("start"), "start")
        end = start + INTERVAL_MS[interval]
        return Kline("bitget", sym, interval, start, end - 1, pos(r.get("open"), "open"), pos(r.get("high"), "high"),
                     pos(r.get("low"), "low"), pos(r.get("close"), "close"), num(r.get("volume"), "volume"),
                     opt(r.get("turnover")), closed=end <= push_ts)  # fmt: skip


VENUES = (Bitget,)
