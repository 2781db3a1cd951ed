"""dYdX v4 (``dydx``): liquidations are the indexer's ``v4_trades`` with ``type == "LIQUIDATED"``.

Protocol facts (official sources: the indexer's own documentation and code,
dydxprotocol/v4-chain @ 84d4664b (2026-03-04)
``indexer/services/comlink/public/websocket-documentation.md``, ``api-documentation.md``,
``indexer/services/socks/src/config.ts``; docs.dydx.xyz source
dydxprotocol/v4-documentation @ 3e475b73 (2026-04-22) ``interaction/data/feeds.mdx``,
``concepts/trading/limits/rate-limits.mdx``):

* Websocket ``wss://indexer.dydx.trade/v4/ws``, REST ``https://indexer.dydx.trade/v4``.
  On connect ``{"type":"connected","connection_id","message_id":0}``.
* Subscribe ``{"type":"subscribe","channel":"v4_trades","id":"BTC-USD"}``, one market a
  request. The answer ``{"type":"subscribed","channel","id","contents":{"trades":[...]}}``
  holds the market's recent trades (the REST ``/v4/trades/perpetualMarket/{id}``
  result): it acknowledges the topic AND is parsed (ids de-duplicate). Updates
  ``{"type":"channel_data","id","channel":"v4_trades","contents":{"trades":[...]}}``.
  Errors ``{"type":"error","message":...,"channel"?,"id"?}``, e.g. "Invalid
  subscription id for channel: (v4_trades-XYZ-USD)", "Per-connection subscription limit
  reached for v4_trades (limit=32)." (socks ``helpers/message.ts``,
  ``lib/subscription.ts``: these two carry no channel/id fields, the topic is read
  from the text).
* Limits: at most **32** ``v4_trades`` (and 32 ``v4_candles``) subscriptions per
  connection (socks ``V4_TRADES_CHANNEL_LIMIT: 32``), so all markets take
  ceil(markets / 32) connections; 2 subscribes per (connection, channel, id) per second;
  REST 100 requests per 10 s per IP. The server sends a websocket ping every 30 s and
  disconnects after 10 s without a pong (answered by the websocket library).
* Trade ``{id, side, size, price, type, createdAt, createdAtHeight}``; ``type`` in
  ``LIMIT``, ``LIQUIDATED``, ``DELEVERAGED``, ``TWAP_SUBORDER``. "LIQUIDATED is for the
  taker side of the fill where the subaccount was liquidated" (FillType/TradeType in
  websocket-documentation.md) and ``side`` is the taker's: ``SELL`` = a LONG position
  liquidated. ``DELEVERAGED`` (auto-deleveraging) is a trade, not a liquidation.
  ``size`` is base asset, ``price`` USD (USDC collateral, at par); ``createdAt`` ISO-8601
  UTC; ``id`` is the taker fill id, unique. Every trade is also a :class:`Trade`
  (``liquidation=True`` for LIQUIDATED). Sampling: every taker fill, ``complete``;
  one liquidation may print several rows (one per maker fill).
* Markets: ``GET /v4/perpetualMarkets`` -> ``{"markets": {ticker: {status,
  oraclePrice, openInterest (base), ...}}}`` (the listing: ``status == "ACTIVE"``);
  ``v4_markets`` pushes the same (``subscribed``) then ``trading`` / ``oraclePrices``
  changes: open interest and the oracle price (dYdX's mark price) per market.
  ``v4_candles`` id ``BTC-USD/1MIN`` for klines (``startedAt``, OHLC, ``baseTokenVolume``,
  ``usdVolume``, ``trades``).
* Gap backfill: ``GET /v4/trades/perpetualMarket/{ticker}?limit=1000&createdBeforeOrAt=<ISO>``,
  newest first (``API_LIMIT_V4`` default 1000, comlink ``config.ts``); paged backwards
  from the oldest row while the window is not covered. Ids are the websocket's.
* The cryptofeed ``DYDX`` sample is dYdX **v3** (``api.dydx.exchange/v3``, ``v3_*``
  channels, trades without id or type): a different, retired protocol, not replayed here.

id = ``dydx:{ticker}:{trade id}`` (the Trade and the Liquidation share it).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import quote

import msgspec

from liqmap.exchanges._common import (
    control_object, datetime_ms, decode_object, iso_datetime, iso_ms, num, object_rows, opt, pos, position_side, text, typed,
)  # fmt: skip
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec
from liqmap.models import Event, Kline, Liquidation, OpenInterest, Ticker, Trade
from liqmap.units import INTERVAL_MS, MINUTE_MS, SECOND_MS

WS_URL = "wss://indexer.dydx.trade/v4/ws"
REST_BASE = "https://indexer.dydx.trade"
#: Markets subscribed when no listing is loaded (the listing replaces them).
DEFAULT_MARKETS = ("BTC-USD", "ETH-USD", "SOL-USD")
HISTORY_LIMIT = 1000
_POSITION = {"SELL": "long", "BUY": "short"}  # the liquidated taker's side -> position
_RESOLUTIONS = {"1m": "1MIN", "5m": "5MINS", "15m": "15MINS", "30m": "30MINS", "1h": "1HOUR", "4h": "4HOURS", "1d": "1DAY"}
_INTERVALS = {v: k for k, v in _RESOLUTIONS.items()}


class _Tr(msgspec.Struct, gc=False):
    id: str
    side: str
    size: float
    price: float
    type: str
    createdAt: datetime  # RFC 3339 text, parsed by msgspec (generic path: :func:`iso_datetime`)


class _Contents(msgspec.Struct, gc=False):
    trades: list[_Tr]


class _Msg(msgspec.Struct, gc=False):
    channel: str
    id: str
    contents: _Contents


_trades_dec = msgspec.json.Decoder(_Msg, strict=False)
#: "Invalid subscription id for channel: (v4_trades-XYZ-USD)" (socks lib/subscription.ts)
_ERROR_TOPIC = re.compile(r"\((v4_[a-z]+)-([^)]+)\)")
_hour_ms: dict[str, int] = {}  # "2026-09-17T13" -> ms of that UTC hour (bounded)


def _created_ms(value: str) -> int:
    """``2026-09-17T13:39:47.542Z`` -> ms UTC: the hour from a small cache plus the
    minutes, seconds and ms read by position; anything else through ISO-8601 parsing."""
    if len(value) == 24 and value[13] == ":" and value[16] == ":" and value[19] == "." and value[23] == "Z":
        hour = _hour_ms.get(value[:13])
        if hour is None:
            hour = int(datetime.fromisoformat(value[:13] + ":00:00+00:00").timestamp() * 1000)
            if len(_hour_ms) > 10_000:
                _hour_ms.clear()
            _hour_ms[value[:13]] = hour
        return hour + int(value[14:16]) * MINUTE_MS + int(value[17:19]) * SECOND_MS + int(value[20:23])
    return iso_ms(value)


def _iso(ms_utc: int) -> str:
    """ms UTC -> ``2026-09-17T13:39:47.542Z``."""
    return datetime.fromtimestamp(ms_utc / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class DYDX(Venue):
    """dYdX v4 indexer (see module docstring).

    Args:
        contracts: unused (sizes are base asset), accepted for uniformity.
        ws_url: websocket URL, default ``wss://indexer.dydx.trade/v4/ws``.
        rest_url: REST base, default ``https://indexer.dydx.trade`` (paths ``/v4/...``).
        kline_interval: candle interval for given symbols (``1m``).
    """

    name = "dydx"
    color = "#6966ff"  # dYdX purple
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
    sampling = "complete"  # every taker fill is published
    rest_liquidations = True
    #: v4 public testnet, early 2023 (the docs' examples date from it; mainnet 2023-10-26).
    launched_ms = 1_672_531_200_000
    history_delay_s = 3.0
    history_limit_per_min = 300  # 100 requests / 10 s per IP, half of it
    default_ws = WS_URL
    default_rest = REST_BASE
    #: 32 v4_trades (and 32 v4_candles) per connection; one market per request; 2
    #: subscribes per second per channel+id, paced at 5 requests/s over distinct ids.
    limits = Limits(args_per_subscribe=1, topics_per_connection=32, subscribes_per_s=5.0)
    quote_families = {"USD": "USD"}
    #: ``BTC`` -> ``BTC-USD`` (every market is quoted in USD); ``BTC-USD`` -> (BTC, USD).
    symbol_format = "{base}-USD"
    symbol_quotes = ("USD",)
    symbol_sep = "-"
    instruments = ("/v4/perpetualMarkets",)
    label = "ws"
    recordings = RecordingNames(tardis=("dydx-v4",))

    def _init_state(self) -> None:
        self._oracle: dict[str, float] = {}

    # ------------------------------------------------------------ contracts and listing
    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """Markets of ``/v4/perpetualMarkets``: sizes are base asset (1 coin per unit)."""
        return [ContractSpec(cls.name, t, "linear", 1.0, "USD") for t in cls.listed_symbols(body)]

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """Tickers whose ``status`` is ``ACTIVE``."""
        markets = msgspec.json.decode(body).get("markets") or {}
        return [t for t, m in markets.items() if isinstance(m, dict) and m.get("status", "ACTIVE") == "ACTIVE"]

    # ------------------------------------------------------------ declarative I/O
    def _markets(self, symbols: Sequence[str] | None) -> list[str]:
        if symbols:
            return list(dict.fromkeys(s.upper() for s in symbols))
        return sorted(self.listing) if self.listing else list(DEFAULT_MARKETS)

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """``v4_markets`` (open interest, oracle prices) and ``v4_trades`` of every market
        (all listed ones when no symbols are given), candles of the given symbols; the
        feed spreads them over connections of at most 32 topics."""
        topics = [Topic("v4_markets", "open_interest", ("v4_markets", None))]
        topics += [Topic(f"v4_trades:{m}", "liquidations", ("v4_trades", m)) for m in self._markets(symbols)]
        res = _RESOLUTIONS.get(self.kline_interval, "1MIN")
        topics += [Topic(f"v4_candles:{m}/{res}", "klines", ("v4_candles", f"{m}/{res}")) for m in symbols or ()]
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=tuple(topics),
                heartbeat=Heartbeat(None),  # server pings every 30 s, answered by the library
                stale_after_s=120.0,
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"type":"subscribe","channel":...,"id":...}`` (one topic a request)."""
        channel, sub_id = topics[0].request_arg
        msg: dict[str, Any] = {"type": "subscribe", "channel": channel}
        if sub_id is not None:
            msg["id"] = sub_id
        return msgspec.json.encode(msg).decode()

    def control(self, data: str) -> Control | None:
        """``subscribed`` acknowledges ``channel:id`` (and is data: recent trades, the
        markets); ``error`` rejects the topic it names."""
        msg = control_object(data, 60, '"subscribed"', '"error"')
        if msg is None:
            return None
        channel, sub_id = msg.get("channel"), msg.get("id")
        key = f"{channel}:{sub_id}" if channel and sub_id and channel != "v4_markets" else channel
        if msg.get("type") == "subscribed":
            return Control("ack", (key,) if key else (), carries_data=True)
        if msg.get("type") == "error":
            reason = str(msg.get("message") or "error")
            m = _ERROR_TOPIC.search(reason)  # socks names the topic in the text only
            if not key and m:
                key = f"{m.group(1)}:{m.group(2)}"
            return Control("reject", (key,) if key else (), None, reason)
        return None

    # ------------------------------------------------------------ gap backfill
    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """Trades of every subscribed market up to the gap's end (newest first, 1000 a
        page); paged back until the gap's start (:meth:`history_next`)."""
        return [self._history_page(m, end_ms) for m in self._markets(symbols)]

    def _history_page(self, market: str, before_ms: int) -> HistoryPage:
        url = (f"{self.rest_url}/v4/trades/perpetualMarket/{market}?limit={HISTORY_LIMIT}"
               f"&createdBeforeOrAt={quote(_iso(before_ms))}")  # fmt: skip
        return HistoryPage(url, tag=market, cursor=market)

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """A full page whose oldest trade is still inside the gap: the page before it."""
        try:
            trades = msgspec.json.decode(body).get("trades") or []
        except (msgspec.DecodeError, AttributeError):
            return None
        if len(trades) < HISTORY_LIMIT:
            return None
        oldest = min(_created_ms(t["createdAt"]) for t in trades if isinstance(t, dict) and t.get("createdAt"))
        return self._history_page(page.cursor, oldest) if oldest > start_ms else None

    # ------------------------------------------------------------ parsing
    def _trade(self, market: str, t: _Tr, received_at: int) -> list[Event]:
        price, size, side, ts = t.price, t.size, t.side, datetime_ms(t.createdAt)
        pside = position_side(price, size, ts, side, _POSITION, "price/size", 1)
        base, quote_ = self._split_cache.get(market) or self._split(market)
        tid = f"dydx:{market}:{t.id}"
        value = size * price
        liq = t.type == "LIQUIDATED"
        trade = Trade("dydx", market, base, quote_, "sell" if side == "SELL" else "buy", price, size, value, ts,
                      received_at, tid, liq)  # fmt: skip
        if not liq:
            return [trade]
        return [Liquidation("dydx", market, base, quote_, pside, price, size, value, ts, received_at, tid, side, t.type),
                trade]  # fmt: skip

    def _trades(self, market: str, trades: list[_Tr], received_at: int) -> list[Event]:
        out: list[Event] = []
        for t in trades:
            out += self._trade(market, t, received_at)
        return out

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        head = data[:160]
        if (b'"v4_trades"' if isinstance(data, bytes) else '"v4_trades"') in head:
            msg = typed(_trades_dec, data)
            if msg is not None and msg.channel == "v4_trades":
                try:
                    return self._trades(msg.id, msg.contents.trades, received_at)
                except FrameError:
                    pass  # a bad row: the generic path keeps the others
        return self._generic(decode_object(data), received_at, connection)

    def _generic(self, msg: dict, received_at: int, connection: str) -> list[Event]:
        kind = msg.get("type")
        if kind == "error":
            raise FrameError(f"venue error: {msg.get('message')}")
        if kind in ("connected", "unsubscribed", "pong"):
            return []
        channel = msg.get("channel")
        contents = msg.get("contents")
        if kind is None and "trades" in msg:  # REST /v4/trades/perpetualMarket/{ticker}
            return self._trade_rows(_market_of(connection), msg["trades"], received_at)
        if kind is None and "markets" in msg:  # REST /v4/perpetualMarkets
            return self._markets_oi(msg["markets"], received_at, received_at)
        if not isinstance(contents, dict):
            raise FrameError(f"{channel}: contents is not an object")
        if channel == "v4_trades":
            return self._trade_rows(text(msg.get("id"), "id"), contents.get("trades"), received_at)
        if channel == "v4_markets":
            return self._v4_markets(contents, received_at)
        if channel == "v4_candles":
            return self._candles(text(msg.get("id"), "id"), contents, received_at)
        raise FrameError(f"unsupported dYdX channel {channel!r}")

    def _trade_rows(self, market: str, rows: Any, received_at: int) -> list[Event]:
        out: list[Event] = []
        for r in object_rows(rows, "trades", "trade"):
            t = _Tr(id=text(r.get("id"), "id"), side=str(r.get("side")), size=pos(r.get("size"), "size"),
                    price=pos(r.get("price"), "price"), type=str(r.get("type")),
                    createdAt=iso_datetime(r.get("createdAt")))  # fmt: skip
            out += self._trade(market, t, received_at)
        return out

    def _v4_markets(self, contents: dict, received_at: int) -> list[Event]:
        out: list[Event] = []
        for ticker, p in (contents.get("oraclePrices") or {}).items():
            if isinstance(p, dict) and opt(p.get("oraclePrice")):
                self._oracle[ticker] = num(p["oraclePrice"], "oraclePrice")
                ts = _created_ms(p["effectiveAt"]) if isinstance(p.get("effectiveAt"), str) else received_at
                out.append(Ticker("dydx", ticker, ts, received_at, mark_price=self._oracle[ticker]))
        markets = contents.get("markets") or contents.get("trading") or {}
        return out + self._markets_oi(markets, received_at, received_at)

    def _markets_oi(self, markets: Any, ts: int, received_at: int) -> list[Event]:
        if not isinstance(markets, dict):
            raise FrameError("markets is not an object")
        out: list[Event] = []
        for ticker, m in markets.items():
            if not isinstance(m, dict):
                continue
            if opt(m.get("oraclePrice")):
                self._oracle[ticker] = num(m["oraclePrice"], "oraclePrice")
            oi = opt(m.get("openInterest"))
            if oi is None or oi < 0:
                continue
            base, quote_ = self._split(ticker)
            px = self._oracle.get(ticker)
            out.append(OpenInterest("dydx", ticker, base, quote_, oi, oi * px if px else None, ts, received_at))
        return out

    def _candles(self, sub_id: str, contents: dict, received_at: int) -> list[Event]:
        market, _, res = sub_id.partition("/")
        interval = _INTERVALS.get(res)
        if interval is None:
            raise FrameError(f"unknown candle resolution {res!r}")
        rows = contents.get("candles") if isinstance(contents.get("candles"), list) else [contents]
        out: list[Event] = []
        for c in rows:
            start = iso_ms(c.get("startedAt"))
            out.append(Kline("dydx", market, interval, start, start + INTERVAL_MS[interval] - 1, pos(c.get("open"), "open"),
                             pos(c.get("high"), "high"), pos(c.get("low"), "low"), pos(c.get("close"), "close"),
                             num(c.get("baseTokenVolume"), "baseTokenVolume"), opt(c.get("usdVolume")),
                             trades=int(c.get("trades") or 0), closed=False))  # fmt: skip
        return out


def _market_of(connection: str) -> str:
    """Market of a history body from its label ``history:{start}:{end}:{market}``."""
    market = connection.rsplit(":", 1)[-1]
    if "-" not in market:
        raise FrameError(f"trades body without a market (connection {connection!r})")
    return market


VENUES = (DYDX,)
