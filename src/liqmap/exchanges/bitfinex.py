"""Bitfinex (``bitfinex``): the ``status`` channel ``liq:global`` (every liquidated position
of the platform), public trades of the heatmap's perpetuals, derivatives status (open
interest, mark price) and the public ``liquidations/hist`` for gap backfill.

Protocol facts (official docs, read through stored copies of the pages; the pages carry no
date): https://docs.bitfinex.com/reference/ws-public-status (status channel),
https://docs.bitfinex.com/reference/rest-public-liquidations (``liquidations/hist``),
https://docs.bitfinex.com/reference/rest-public-derivatives-status (``status/deriv``),
https://docs.bitfinex.com/docs/ws-public and https://docs.bitfinex.com/docs/ws-general
(URL, limits, message rules), https://www.bitfinex.com/legal/derivative/product (the
BTCF0:USTF0 perpetual references BTC/USDt, margined and settled in USDt):

* Websocket ``wss://api-pub.bitfinex.com/ws/2``; 20 connections per minute per IP, 25
  channels per connection (ws-public). On connect the server sends ``{"event":"info",
  "version":2,"platform":{"status":1}}``. "All times are UTC timestamps expressed as
  milliseconds"; "new fields may be appended at the end of a message" (ws-general): rows are
  read by index, never by length.
* Subscribe ``{"event":"subscribe","channel":"status","key":"liq:global"}``; answer
  ``{"event":"subscribed","channel":"status","chanId":N,"key":"liq:global"}``. Data frames
  are ``[chanId, payload]``; later frames name only the chanId, so the ``subscribed`` answer
  is parsed too (:attr:`Control.carries_data`) to map chanIds to channels per connection.
  A liquidation frame is self-describing and needs no map.
* Liquidation feed update ``[chanId, [["pos", POS_ID, TIME_MS, null, SYMBOL, AMOUNT,
  BASE_PRICE, null, IS_MATCH, IS_MARKET_SOLD, null, LIQUIDATION_PRICE], ...]]``. The REST
  page documents the same row: ``AMOUNT`` "Size of the position. Positive values means a
  long position, negative values means a short position"; ``BASE_PRICE`` "The price at
  which user entered the position"; ``IS_MATCH`` "0: initial liquidation trigger | 1:
  market execution"; ``IS_MARKET_SOLD`` "0: position acquired by the system | 1: direct
  sell into the market"; ``[11]`` (REST ``PRICE_ACQUIRED``) "The price at which the
  position has been acquired". TIME_MS may be fractional (the docs' example
  1574697680828.2002): truncated to the ms.
* One liquidation per position: the TRIGGER row (``IS_MATCH`` 0) carries the whole
  position, so it is the event (tardis-node's mapper does the same); the market-execution
  rows (``IS_MATCH`` 1) are partial fills of it and are not counted again. The trigger's
  price is ``[11]``; a trigger without one (real 2020-07-06 ETH frame) takes the price of a
  market execution of the same POS_ID, seen before or after it (the real frames arrived
  match first, trigger second); until then it is held (at most :data:`MAX_HELD`).
  ``BASE_PRICE`` is the ENTRY price and is never used as the liquidation price.
* Side and units, where the ws page is silent: the REST page's AMOUNT sign (above) is the
  POSITION side; checked on the real frames: the long ``tBTCF0:USTF0`` +0.00268657 was
  entered at 9135.97 and liquidated at 9080 (below entry), the short ``tETHF0:USTF0``
  -8.6007 entered at 222.25 and liquidated at 235.52 (above entry), as a long and a short
  must be. AMOUNT is in BASE units: the real amounts (0.00268657 BTC, 8.6007 ETH) are
  fractional coin amounts, not contract counts; one perpetual contract is one unit of the
  base (contract size 1).
* The feed is platform-wide: perpetuals (``tBTCF0:USTF0``, USDt-margined; ``...:EUTF0``
  EURt-margined) and margin-trading pairs (the docs' example ``tBSVUSD``). Symbols are kept
  without the ``t`` prefix (``BTCF0:USTF0``, ``BTCUSD``, ``DOGE:USD``): base and quote are
  split at ``:`` (else 3 + 3 letters), the perpetual suffix ``F0`` dropped, and Bitfinex's
  codes ``UST`` -> USDT, ``UDC`` -> USDC, ``EUT`` -> EUR (EURt at par with EUR). A quote
  that is not a USD stablecoin (EUR, BTC, ...) is valued with the last USD price of that
  currency seen on this venue (``EURF0:USTF0``, ``BTCF0:USTF0``, ...); before one is seen
  the liquidation is stored apart as ``unvalued`` (:class:`~liqmap.models.Quarantined`).
* Sampling: ``complete`` -- the channel publishes every liquidated position of the
  platform (one trigger per position).
* Heartbeat: an idle channel gets ``[chanId,"hb"]`` (every 15 s per ws-general; that
  sentence was not in the stored copy we read: UNVERIFIED here); hb frames are liveness,
  not data. ``{"event":"info","code":20051}`` announces a server restart (ws-general info
  codes, UNVERIFIED in the stored copy): rotated make-before-break.
* Subscription errors ``{"event":"error","msg","code"}`` (ws-general codes 10000 unknown
  event, 10001 unknown pair, 10305 channel limit; 10300 subscription failed and 10301
  already subscribed per third-party clients: 10301 counts as an ack). Bitfinex echoes no
  request id; an error naming the request's ``channel`` and ``key``/``symbol`` rejects that
  topic.
* Trades ``{"event":"subscribe","channel":"trades","symbol":"tBTCF0:USTF0"}``: snapshot
  ``[chanId, [[ID, MTS, AMOUNT, PRICE], ...]]`` then ``[chanId, "te", [ID, MTS, AMOUNT,
  PRICE]]`` (``tu`` repeats a ``te``: skipped); AMOUNT > 0 = taker buy (base units).
* Derivatives status ``GET /v2/status/deriv?keys=ALL`` (90 requests/min): rows ``[KEY, MTS,
  null, DERIV_PRICE, SPOT_PRICE, ..., [12] CURRENT_FUNDING, ..., [15] MARK_PRICE, ...,
  [18] OPEN_INTEREST "Total number of outstanding derivative contracts"]`` (contracts =
  base units, above); polled every 60 s -> open interest and mark price of every perpetual.
* Listing: ``GET /v2/conf/pub:list:pair:futures`` -> ``[["BTCF0:USTF0", ...]]`` (the
  configs endpoint of ws-general lists pairs the same way).
* Gap backfill: ``GET /v2/liquidations/hist?start=&end=&limit=&sort=1`` (3 requests/min;
  start/end ms; the same rows as the feed, each wrapped in a list per third-party clients
  -- both shapes are read); 500 rows a page, paged forward from the newest row's time.
  Ids are the feed's, so a liquidation seen live is a duplicate.

id = ``bitfinex:{POS_ID}`` (the venue's position id: one liquidation per position).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import msgspec

from liqmap.exchanges._common import INF, MAX_TS, decode, num, opt, rows_or_partial, typed
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, RestPoll, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade
from liqmap.symbols import USD_QUOTES

WS_URL = "wss://api-pub.bitfinex.com/ws/2"
REST_BASE = "https://api-pub.bitfinex.com"
LIQ_KEY = "liq:global"
LIQ_TOPIC = f"status:{LIQ_KEY}"
LISTING_PATH = "/v2/conf/pub:list:pair:futures"
STATUS_PATH = "/v2/status/deriv?keys=ALL"
HISTORY_PATH = "/v2/liquidations/hist"
HISTORY_LIMIT = 500
#: Triggers held for a price (a market execution of the same position), at most; and
#: execution prices remembered for triggers still to come.
MAX_HELD = 10_000
MAX_MATCH_PRICES = 10_000
#: Bitfinex currency codes -> the names events carry.
_ALIASES = {"UST": "USDT", "UDC": "USDC", "EUT": "EUR"}
_CODES = {"USDT": "UST", "USDC": "UDC", "EUR": "EUT"}
_RESTART_CODES = (20051,)
_ANY = msgspec.json.Decoder()


def _currency(code: str) -> str:
    code = code[:-2] if code.endswith("F0") and len(code) > 2 else code
    return _ALIASES.get(code, code)


class Bitfinex(Venue):
    """Bitfinex liquidations (all of the platform), trades, derivatives status (see module
    docstring). Args: ``contracts``, ``ws_url`` (default ``wss://api-pub.bitfinex.com/ws/2``),
    ``rest_url`` (default ``https://api-pub.bitfinex.com``)."""

    name = "bitfinex"
    color = "#16b157"  # Bitfinex green
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "complete"
    rest_liquidations = True
    history_delay_s = 5.0
    history_limit_per_min = 3  # "Rate Limit: 3 reqs/min"
    launched_ms = 1_546_300_800_000  # 2019-01-01: the liq:global feed's docs example is 2019-11
    default_ws = WS_URL
    default_rest = REST_BASE
    #: 25 channels per connection, 20 connections per minute (ws-public); one channel a request.
    limits = Limits(args_per_subscribe=1, topics_per_connection=25, subscribes_per_s=5.0, connections_per_s=0.3)
    quote_families = {"USDT": "USDT"}
    instruments = (LISTING_PATH,)
    label = "public"
    recordings = RecordingNames(tardis=("bitfinex-derivatives",), hosts=("api.bitfinex.com",))

    def _init_state(self) -> None:
        #: (connection, chanId) -> (channel, symbol or key)
        self._chans: dict[tuple[str, int], tuple[str, str]] = {}
        #: POS_ID -> held trigger row (no price yet)
        self._held: OrderedDict[Any, tuple[list, int]] = OrderedDict()
        self._match_price: OrderedDict[Any, float] = OrderedDict()
        #: currency -> its last USD price seen on this venue (values non-USD quotes)
        self._usd: dict[str, float] = {}
        self._split: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------ symbols and contracts
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTCF0:USTF0"]`` (the USDt-margined perpetual)."""
        return [f"{base.upper()}F0:{_CODES.get((quote or 'USDT').upper(), (quote or 'USDT').upper())}F0"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTCF0:USTF0`` -> (BTC, USDT); ``tBTCUSD`` -> (BTC, USD); ``DOGE:USD`` -> (DOGE, USD).

        Raises:
            FrameError: neither ``BASE:QUOTE`` nor six letters.
        """
        s = symbol[1:] if symbol[:1] == "t" else symbol
        if ":" in s:
            base, _, quote = s.partition(":")
        elif len(s) == 6:
            base, quote = s[:3], s[3:]
        else:
            raise FrameError(f"cannot split Bitfinex pair {symbol!r}")
        if not base or not quote:
            raise FrameError(f"cannot split Bitfinex pair {symbol!r}")
        return _currency(base.upper()), _currency(quote.upper())

    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """The futures pair list: every perpetual is one base unit per contract."""
        return [ContractSpec(cls.name, s, "linear", 1.0, cls.base_quote(s)[1]) for s in cls.listed_symbols(body)]

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``[["BTCF0:USTF0", ...]]`` -> the pairs (without a ``t``)."""
        msg = msgspec.json.decode(body)
        rows = msg[0] if isinstance(msg, list) and msg and isinstance(msg[0], list) else msg
        return [s for s in rows if isinstance(s, str) and s] if isinstance(rows, list) else []

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """One base unit per contract (the amounts are coin amounts, module docstring)."""
        try:
            quote = cls.base_quote(symbol)[1]
        except FrameError:
            quote = "USDT"
        return ContractSpec(cls.name, symbol, "linear", 1.0, quote, "fallback")

    # ------------------------------------------------------------ declarative I/O
    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One socket: ``status`` ``liq:global`` (every liquidation) plus ``trades`` and
        ``status`` ``deriv:`` (mark price, open interest, funding) of the given perpetuals
        (``BTCF0:USTF0``)."""
        topics = [Topic(LIQ_TOPIC, "liquidations", (("channel", "status"), ("key", LIQ_KEY)))]
        for s in dict.fromkeys(x[1:] if x[:1] == "t" else x for x in symbols or ()):
            topics.append(Topic(f"trades:t{s}", "trades", (("channel", "trades"), ("symbol", f"t{s}"))))
            topics.append(Topic(f"status:deriv:t{s}", "tickers", (("channel", "status"), ("key", f"deriv:t{s}"))))
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=tuple(topics),
                heartbeat=Heartbeat(None, is_pong=lambda t: t.endswith(',"hb"]')),
                stale_after_s=60.0,  # an idle channel gets a heartbeat every 15 s
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"event":"subscribe","channel":...,"key"|"symbol":...}`` (one channel a request)."""
        return msgspec.json.encode({"event": "subscribe", **dict(topics[0].request_arg)}).decode()

    def control(self, data: str) -> Control | None:
        """``subscribed`` (an ack, also parsed for its chanId), ``error`` (10301 already
        subscribed = ack), ``info`` 20051 (restart)."""
        if data[:1] != "{" or '"event"' not in data[:40]:
            return None
        msg = typed(_ANY, data)
        if not isinstance(msg, dict):
            return None
        event = msg.get("event")
        name = msg.get("key") or msg.get("symbol")
        keys = (f"{msg.get('channel')}:{name}",) if msg.get("channel") and isinstance(name, str) else ()
        if event == "subscribed":
            return Control("ack", keys, carries_data=True)
        if event == "error":
            if msg.get("code") == 10301:
                return Control("ack", keys)
            return Control("reject", keys, reason=f"{msg.get('code')}: {msg.get('msg')}")
        if event == "info" and msg.get("code") in _RESTART_CODES:
            return Control("restart", reason=f"{msg.get('code')}: {msg.get('msg')}")
        return None

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """Derivatives status of every perpetual (open interest, mark price) every 60 s."""
        return [RestPoll(label="status", url=f"{self.rest_url}{STATUS_PATH}", interval_s=60.0, limit_per_min=90)]

    # ------------------------------------------------------------ gap backfill
    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """``liquidations/hist`` over the gap, oldest first, 500 rows a page (the feed is
        platform-wide: one request series serves every symbol)."""
        return [self._history_page(int(start_ms), int(end_ms))]

    def _history_page(self, start: int, end: int) -> HistoryPage:
        url = f"{self.rest_url}{HISTORY_PATH}?start={start}&end={end}&limit={HISTORY_LIMIT}&sort=1"
        return HistoryPage(url, tag="liq", cursor=(start, end))

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """A full page may hide newer rows: ask again from its newest row's time (rows of
        that ms come again and de-duplicate by id)."""
        rows = typed(_ANY, body)
        if not isinstance(rows, list) or len(rows) < HISTORY_LIMIT:
            return None
        times = [int(r[2]) for r in map(_unwrap, rows) if r is not None and isinstance(r[2], (int, float))]
        start, end = page.cursor
        newest = max(times, default=start)
        nxt = newest if newest > start else start + 1
        return self._history_page(nxt, end) if nxt < end else None

    # ------------------------------------------------------------ parsing
    def _pair(self, symbol: str) -> tuple[str, str]:
        bq = self._split.get(symbol)
        if bq is None:
            bq = self.base_quote(symbol)
            if len(self._split) < 10_000:
                self._split[symbol] = bq
        return bq

    def _value(self, base: str, quote: str, price: float, qty: float) -> float | None:
        """USD value; follows the USD price of ``base`` for quotes in that currency;
        None when the quote's USD price is not known yet."""
        if quote in USD_QUOTES:
            self._usd[base] = price
            return price * qty
        rate = self._usd.get(quote)
        return price * qty * rate if rate else None

    def _liq(self, r: list, price: float, received_at: int) -> Event:
        symbol = r[4][1:] if r[4][:1] == "t" else r[4]
        amount, ts = num(r[5], "amount"), int(num(r[2], "time"))
        if not (0.0 < price < INF and 0.0 < abs(amount) < INF):
            raise FrameError(f"invalid price/amount {price!r}/{amount!r}")
        if not 0 < ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {r[2]!r}")
        base, quote = self._pair(symbol)
        qty = abs(amount)
        side, order_side = ("long", "sell") if amount > 0 else ("short", "buy")
        value = self._value(base, quote, price, qty)
        liq = Liquidation(self.name, symbol, base, quote, side, price, qty, value if value is not None else float("nan"),
                          ts, received_at, f"bitfinex:{r[1]}", order_side, None)  # fmt: skip
        return liq if value is not None else self.gate.unvalued(liq)

    def _pos(self, r: Any, received_at: int) -> Event | None:
        """One ``pos`` row: the trigger is the liquidation; a market execution only lends
        its price to the trigger of the same position (module docstring)."""
        if not isinstance(r, list) or len(r) < 10 or r[0] != "pos" or not isinstance(r[4], str):
            raise FrameError(f"not a liquidation row: {str(r)[:80]}")
        pid = r[1]
        price = opt(r[11]) if len(r) > 11 else None
        if r[8]:  # market execution
            if price is None or not 0.0 < price < INF:
                return None
            held = self._held.pop(pid, None)
            if held is not None:
                return self._liq(held[0], price, held[1])
            self._match_price[pid] = price
            if len(self._match_price) > MAX_MATCH_PRICES:
                self._match_price.popitem(last=False)
            return None
        if price is None:
            price = self._match_price.pop(pid, None)
        if price is None:
            if len(self._held) >= MAX_HELD:
                raise FrameError(f"position {pid}: no price and {MAX_HELD} triggers already held")
            self._held[pid] = (r, received_at)
            return None
        self._held.pop(pid, None)
        return self._liq(r, price, received_at)

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        msg = decode(data)
        if isinstance(msg, dict):
            return self._event(msg, connection)
        if not isinstance(msg, list) or not msg:
            if msg == []:
                return []  # an empty REST page
            raise FrameError(f"unknown Bitfinex frame {str(msg)[:80]}")
        head = msg[0]
        if isinstance(head, list):  # a REST body: liquidation history or derivatives status
            if head and isinstance(head[0], str) and head[0] != "pos":
                return self._status_rows(msg, received_at)
            return rows_or_partial((_unwrap(r) for r in msg), lambda r: self._pos(r, received_at))
        payload = msg[1] if len(msg) > 1 else None
        if payload == "hb" or payload == "tu" or payload == []:
            return []
        if isinstance(payload, list) and isinstance(payload[0], list) and payload[0][:1] == ["pos"]:
            return rows_or_partial(payload, lambda r: self._pos(r, received_at))
        channel, symbol = self._channel(msg, connection)
        if channel == "trades":
            rows = [msg[2]] if payload == "te" else payload if isinstance(payload, list) else []
            return rows_or_partial(rows, lambda r: self._trade(symbol, r, received_at))
        if channel == "status" and symbol and isinstance(payload, list):
            return self._status(symbol, payload, received_at)
        raise FrameError(f"frame of an unknown channel {head!r}")

    def _channel(self, msg: list, connection: str) -> tuple[str | None, str]:
        """(channel, pair) of a data frame: from the subscribed answers of this connection,
        or the trailing channel and pair of a tardis recording."""
        if len(msg) >= 4 and isinstance(msg[-2], str) and isinstance(msg[-1], str):
            return msg[-2], msg[-1]
        chan = self._chans.get((connection, msg[0])) if isinstance(msg[0], int) else None
        return chan if chan is not None else (None, "")

    def _event(self, msg: dict, connection: str) -> list[Event]:
        event = msg.get("event")
        if event == "subscribed":
            name = msg.get("key") or msg.get("symbol")
            if isinstance(msg.get("chanId"), int) and isinstance(name, str):
                if len(self._chans) > 10_000:
                    self._chans.clear()
                pair = name[6:] if name.startswith("deriv:") else "" if name == LIQ_KEY else name
                self._chans[(connection, msg["chanId"])] = (str(msg.get("channel")), pair[1:] if pair[:1] == "t" else pair)
            return []
        if event == "error":
            raise FrameError(f"venue error {msg.get('code')}: {msg.get('msg')}")
        if event in ("info", "conf", "pong", "unsubscribed"):
            return []
        raise FrameError(f"unknown Bitfinex event {event!r}")

    def _trade(self, symbol: str, r: Any, received_at: int) -> Trade:
        if not symbol or not isinstance(r, list) or len(r) < 4:
            raise FrameError(f"trade row without a channel or fields: {str(r)[:80]}")
        amount, price = num(r[2], "amount"), num(r[3], "price")
        ts = int(num(r[1], "time"))
        if not (0.0 < price < INF and 0.0 < abs(amount) < INF and 0 < ts < MAX_TS):
            raise FrameError(f"invalid trade {str(r)[:80]}")
        base, quote = self._pair(symbol)
        value = self._value(base, quote, price, abs(amount))
        return Trade(self.name, symbol, base, quote, "buy" if amount > 0 else "sell", price, abs(amount),
                     value if value is not None else float("nan"), ts, received_at, f"bitfinex:{symbol}:{r[0]}")  # fmt: skip

    def _status_rows(self, rows: list, received_at: int) -> list[Event]:
        """``status/deriv`` REST rows ``[KEY, <the websocket's status fields>]``."""
        out: list[Event] = []
        for r in rows:
            if isinstance(r, list) and len(r) > 18 and isinstance(r[0], str):
                out += self._status(r[0][1:] if r[0][:1] == "t" else r[0], r[1:], received_at)
        return out

    def _status(self, symbol: str, f: list, received_at: int) -> list[Event]:
        """One derivatives status ``[TIME_MS, null, DERIV_PRICE, SPOT_PRICE, ..., [11]
        CURRENT_FUNDING, ..., [14] MARK_PRICE, ..., [17] OPEN_INTEREST, ...]`` -> OpenInterest
        (contracts = base units) and Ticker (mark, mid as last price, spot mid as index)."""
        if len(f) < 18:
            raise FrameError(f"{symbol}: derivatives status of {len(f)} fields")
        ts = int(num(f[0], "time")) if f[0] is not None else received_at
        mark, oi = opt(f[14]), opt(f[17])
        base, quote = self._pair(symbol)
        if mark and quote in USD_QUOTES:
            self._usd[base] = mark
        out: list[Event] = []
        if oi is not None and oi >= 0:
            usd = oi * mark if mark and quote in USD_QUOTES else None
            out.append(OpenInterest(self.name, symbol, base, quote, oi, usd, ts, received_at))
        out.append(Ticker(self.name, symbol, ts, received_at, last_price=opt(f[2]), mark_price=mark,
                          index_price=opt(f[3]), funding_rate=opt(f[11]), open_interest=oi))  # fmt: skip
        return out


def _unwrap(r: Any) -> list | None:
    """A history row: ``["pos", ...]`` or the same wrapped in a list."""
    if isinstance(r, list) and r and isinstance(r[0], list):
        r = r[0]
    return r if isinstance(r, list) and len(r) > 4 else None


VENUES = (Bitfinex,)
