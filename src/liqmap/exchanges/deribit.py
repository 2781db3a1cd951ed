"""Deribit JSON-RPC v2 websocket: liquidations flagged inside public trades.

Protocol facts (official docs, https://docs.deribit.com/):

* Trades arrive as ``{"method":"subscription","params":{"channel":
  "trades.BTC-PERPETUAL.100ms","data":[{trade_id, trade_seq, timestamp,
  price, amount, direction, instrument_name, index_price, liquidation?}]}}``.
  Unauthenticated connections get the ``100ms`` aggregation (``raw`` needs
  auth). https://docs.deribit.com/#trades-instrument_name-interval
* ``liquidation``: ``"M"`` the maker side was under liquidation, ``"T"`` the
  taker side, ``"MT"`` both. ``direction`` is the TAKER side. Hence:
  ``T`` -> liquidated position = long if the taker sold, short if it bought;
  ``M`` -> the maker took the other side: long if the taker BOUGHT;
  ``MT`` -> TWO liquidations (one long, one short), ids suffixed ``:long`` /
  ``:short``. (cryptofeed ignores M/T and uses ``direction`` -- wrong for M.)
* Units: "For perpetual and inverse futures the amount is in USD units. For
  options and linear futures it is the underlying base currency coin."
  -> inverse (``BTC-PERPETUAL``, ``BTC-27JUN25``): value_usd = amount,
  quantity = amount / price; linear (``BTC_USDC-PERPETUAL``): quantity =
  amount, value = amount x price (USDC at par); options: quantity = amount,
  price in coin -> value_usd = amount x price x index_price.
* Every trade (liquidation or not) is also emitted as a :class:`Trade`
  (``liquidation=True`` when flagged).
* Heartbeat: after connect send ``public/set_heartbeat`` (interval 30 s); the
  server then sends ``{"method":"heartbeat","params":{"type":"test_request"}}``
  which MUST be answered with ``public/test`` (:meth:`Deribit.auto_reply`).
  https://docs.deribit.com/#public-set_heartbeat
* ``ticker.{instrument}.100ms`` -> :class:`Ticker` + :class:`OpenInterest`; ``best_bid_amount`` /
  ``best_ask_amount`` are USD for inverse instruments (divided by the price to coins) and coins
  for options and linear (USDC) instruments; ``stats.volume`` (24 h, coins) and
  ``stats.volume_usd``; ``current_funding`` the current funding rate (Deribit funds
  continuously: no next funding time). https://docs.deribit.com/#ticker-instrument_name-interval
  (``open_interest`` in the amount units above).
* Subscribe: ``public/subscribe`` answers ``{"jsonrpc":"2.0","id":n,"result":[channels]}``
  listing the channels subscribed (recorded session: cryptofeed
  DERIBIT.ws.1.0, 2021-07-22); a channel missing from ``result`` counts as refused;
  errors are ``{"id":n,"error":{"code","message"}}``. Subscribe requests cost 3,000
  credits of a 30,000 pool (about 3 a second sustained, third-party summary of
  https://support.deribit.com/hc/en-us/articles/25944617523357-Rate-Limits): at most
  50 channels a request, 3 requests a second.
* Listing (every currency's perpetuals AND dated futures):
  ``public/get_instruments?currency=any&kind=future&expired=false`` ("The currency
  symbol or ``any`` for all"; perpetuals are futures with settlement_period
  perpetual), sustained 1 request/s: read at start and hourly.
  https://docs.deribit.com/api-reference/market-data/public-get_instruments
  All-market mode subscribes trades and ticker of every listed instrument; the REST
  trade-history polls stay on the two main perpetuals.
* Public REST trade history with the ``liquidation`` field exists
  (``public/get_last_trades_by_instrument``) -> ``rest_liquidations = True``;
  its ``result.trades`` bodies are parsed like subscription frames.
* Gap backfill (:meth:`Deribit.history`):
  ``public/get_last_trades_by_currency_and_time?currency=&kind=future&start_timestamp=&end_timestamp=&count=1000&sorting=asc``
  returns ``{"result":{"trades":[...],"has_more":bool}}``; "only returns trades from
  the last 24 hours"; count at most 1000.
  https://docs.deribit.com/api-reference/market-data/public-get_last_trades_by_currency_and_time
  Trade ids are the websocket's, so a trade seen live is dropped as a duplicate.

id = ``deribit:{instrument_name}:{trade_id}`` (``:long``/``:short`` for MT).
"""

from __future__ import annotations

from typing import Sequence

import msgspec

from liqmap.exchanges._common import INF, MAX_TS, decode_object, json_object, ms, num, object_rows, opt, typed
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, RestPoll, Topic, Venue,
)  # fmt: skip
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade

WS_URL = "wss://www.deribit.com/ws/api/v2"
REST_BASE = "https://www.deribit.com"
#: Default instruments when no symbols are given: the inverse perpetuals that carry
#: most Deribit futures liquidations. (A currency-wide ``trades.{kind}.{currency}``
#: channel is used by third-party clients but was not confirmed in the official
#: docs, so it is not relied on.)
DEFAULT_INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL")
_TEST_REPLY = '{"jsonrpc":"2.0","id":9001,"method":"public/test","params":{}}'
#: Request id of ``public/set_heartbeat`` (apart from the feed's subscribe ids 1, 2, ...).
_HEARTBEAT_ID = 900_001


class _Tr(msgspec.Struct, gc=False):
    trade_id: str
    timestamp: int
    price: float
    amount: float
    direction: str
    instrument_name: str
    liquidation: str | None = None
    index_price: float | None = None


class _Params(msgspec.Struct, gc=False):
    channel: str
    data: list[_Tr]


class _Sub(msgspec.Struct, gc=False):
    method: str
    params: _Params


_sub_dec = msgspec.json.Decoder(_Sub, strict=False)


#: Settlement currencies of Deribit futures for the gap backfill (all-market).
HISTORY_CURRENCIES = ("BTC", "ETH", "USDC", "USDT")


def _currency(instrument: str) -> str:
    """Currency a future's trades are listed under: ``BTC-PERPETUAL`` -> BTC,
    ``SOL_USDC-PERPETUAL`` -> USDC."""
    head = instrument.split("-", 1)[0]
    return head.split("_", 1)[1] if "_" in head else head


def instrument_kind(name: str) -> str:
    """``inverse`` (BTC-PERPETUAL, BTC-27JUN25), ``linear`` (BTC_USDC-PERPETUAL) or ``option``."""
    parts = name.split("-")
    if len(parts) >= 4:
        return "option"
    if "_" in parts[0]:
        return "linear"
    return "inverse"


class Deribit(Venue):
    """Deribit (see module docstring).

    Args:
        contracts: unused (amounts are USD or coins), accepted for uniformity.
        ws_url: full websocket URL, default ``wss://www.deribit.com/ws/api/v2``.
        rest_url: REST base, default ``https://www.deribit.com``.
    """

    name = "deribit"
    color = "#14c4b3"
    #: Event times before this are implausible (the gate): Deribit opened in June 2016; the first day of
    #: that year, 2016-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1451606400000
    #: taker fee, base tier: https://www.deribit.com/kb/fees (BTC/ETH perpetual taker: 0.05 %)
    taker_fee_bps = 5.0
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "complete"  # every public trade carries its liquidation flag
    rest_liquidations = True
    history_delay_s = 2.0  # the trade history is current (trades are the websocket's)
    history_limit_per_min = 600
    default_ws = WS_URL
    default_rest = REST_BASE
    #: The only stablecoin-margined perpetuals settle in USDC: they serve the USDT family too.
    quote_families = {"USDT": "USDC", "USDC": "USDC", "USD": "USD"}
    limits = Limits(args_per_subscribe=50, subscribes_per_s=3.0)
    instruments = ("/api/v2/public/get_instruments?currency=any&kind=future&expired=false",)
    label = "ws"
    recordings = RecordingNames(cryptofeed=("DERIBIT",), tardis=("deribit",), hosts=("streams.deribit.com",))

    def _init_state(self) -> None:
        self._info_cache: dict[str, tuple[str, str, str]] = {}
        self._mark: dict[str, float] = {}

    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTC-PERPETUAL"]``; ``("SOL", "USDC")`` -> ``["SOL_USDC-PERPETUAL"]``."""
        b = base.upper()
        if quote and quote.upper() != "USD":
            return [f"{b}_{quote.upper()}-PERPETUAL"]
        return [f"{b}-PERPETUAL"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTC-PERPETUAL`` -> (BTC, USD); ``SOL_USDC-PERPETUAL`` -> (SOL, USDC)."""
        head = symbol.split("-", 1)[0]
        if not head:
            raise FrameError(f"bad instrument name {symbol!r}")
        if "_" in head:
            base, quote = head.split("_", 1)
            return base, quote
        return head, "USD"

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection. Sends ``public/set_heartbeat`` (30 s), then subscribes
        ``trades.{instrument}.100ms`` (the liquidation source) + ``ticker.{instrument}.100ms``
        per instrument: the given ones, else every listed future and perpetual (the
        :data:`DEFAULT_INSTRUMENTS` while no listing is loaded)."""
        if symbols:
            syms = list(dict.fromkeys(symbols))
        else:
            syms = sorted(self.listing) if self.listing else list(DEFAULT_INSTRUMENTS)
        topics = [Topic(f"trades.{s}.100ms", "liquidations") for s in syms]
        topics += [Topic(f"ticker.{s}.100ms", "tickers") for s in syms]
        hb = {"jsonrpc": "2.0", "id": _HEARTBEAT_ID, "method": "public/set_heartbeat", "params": {"interval": 30}}
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                subscribe=[msgspec.json.encode(hb).decode()],
                topics=topics,
                heartbeat=Heartbeat(None),  # server-driven: see auto_reply
                max_lifetime_s=None,
                stale_after_s=75.0,  # heartbeats every 30 s keep a healthy socket busy
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """JSON-RPC ``public/subscribe`` with ``id`` = the request id."""
        msg = {"jsonrpc": "2.0", "id": request_id, "method": "public/subscribe", "params": {"channels": [t.key for t in topics]}}
        return msgspec.json.encode(msg).decode()

    def control(self, data: str) -> Control | None:
        """The answer to a ``public/subscribe`` (channels listed in ``result``) or its error."""
        if '"method"' in data[:40] or ('"result"' not in data and '"error"' not in data):
            return None
        msg = json_object(data)
        if msg is None or not isinstance(msg.get("id"), int) or msg["id"] in (_HEARTBEAT_ID, 9001):
            return None
        rid = str(msg["id"])
        if isinstance(msg.get("result"), list):
            return Control("ack", tuple(c for c in msg["result"] if isinstance(c, str)), rid, exhaustive=True)
        err = msg.get("error")
        if isinstance(err, dict):
            return Control("reject", (), rid, f"{err.get('code')}: {err.get('message')}")
        return None

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``instrument_name`` of every active future and perpetual of a get_instruments body."""
        rows = msgspec.json.decode(body).get("result") or []
        return [r["instrument_name"] for r in rows if isinstance(r, dict) and r.get("instrument_name")
                and r.get("is_active", True) and r.get("kind", "future") == "future"]  # fmt: skip

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """Last 100 trades (with liquidation flags) per given instrument (all-market: the
        two main perpetuals) every 30 s: recovers liquidations missed during a disconnect
        (ids de-duplicate)."""
        syms = list(symbols) if symbols else list(DEFAULT_INSTRUMENTS)
        return [
            RestPoll(
                label=f"trades:{s}",
                url=f"{self.rest_url}/api/v2/public/get_last_trades_by_instrument?instrument_name={s}&count=100",
                interval_s=30.0,
                weight=1,
                limit_per_min=600,
            )
            for s in syms
        ]

    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """Gap backfill: the futures trades (liquidation flags included) of the window,
        one request per settlement currency (``BTC``, ``ETH`` for the inverse contracts,
        ``USDC``/``USDT`` for the linear ones; those of ``symbols``, else all four),
        oldest first, 1000 a page."""
        if symbols:
            currencies = sorted({_currency(s) for s in symbols})
        else:
            currencies = list(HISTORY_CURRENCIES)
        return [self._history_page(c, start_ms, end_ms) for c in currencies]

    def _history_page(self, currency: str, start_ms: int, end_ms: int) -> HistoryPage:
        url = (f"{self.rest_url}/api/v2/public/get_last_trades_by_currency_and_time?currency={currency}"
               f"&kind=future&start_timestamp={int(start_ms)}&end_timestamp={int(end_ms)}&count=1000&sorting=asc")
        return HistoryPage(url, tag=currency, cursor=(currency, int(end_ms)))  # fmt: skip

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """While ``has_more``: the next page from the newest trade's time (trades at that
        same ms come again and de-duplicate by trade id)."""
        try:
            result = msgspec.json.decode(body).get("result") or {}
        except (msgspec.DecodeError, AttributeError):
            return None
        trades = result.get("trades") if isinstance(result, dict) else None
        if not result.get("has_more") or not trades:
            return None
        last = max(int(t.get("timestamp") or 0) for t in trades if isinstance(t, dict))
        currency, end_ms = page.cursor
        if last <= start_ms or last >= end_ms:
            return None
        return self._history_page(currency, last, end_ms)

    def auto_reply(self, data: str) -> str | None:
        """``public/test`` in answer to a ``test_request`` heartbeat, else None."""
        if "test_request" in data:
            return _TEST_REPLY
        return None

    # ------------------------------------------------------------ parsing
    def _info(self, name: str) -> tuple[str, str, str]:
        r = self._info_cache.get(name)
        if r is None:
            base, quote = self.base_quote(name)
            r = (base, quote, instrument_kind(name))
            if len(self._info_cache) < 20_000:  # options: many instruments
                self._info_cache[name] = r
        return r

    def _trade_events(self, t: _Tr, received_at: int) -> list[Event]:
        name = t.instrument_name
        price, amount = t.price, t.amount
        if not (0.0 < price < INF and 0.0 < amount < INF):
            raise FrameError(f"invalid price/amount {price!r}/{amount!r}")
        base, quote, kind = self._info_cache.get(name) or self._info(name)
        if kind == "inverse":
            qty, value = amount / price, amount
        elif kind == "linear":
            qty, value = amount, amount * price
        else:
            idx = t.index_price or 0.0
            if not 0.0 <= idx < INF:
                raise FrameError(f"invalid index_price {idx!r}")
            qty, value = amount, amount * price * idx
        d = t.direction
        if d != "buy" and d != "sell":
            raise FrameError(f"unknown direction {d!r}")
        ts = t.timestamp
        if not 0 <= ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        tid = f"deribit:{name}:{t.trade_id}"
        flag = t.liquidation
        out: list[Event] = []
        if flag:
            if flag == "T":
                sides = ("long" if d == "sell" else "short",)
            elif flag == "M":
                sides = ("long" if d == "buy" else "short",)
            elif flag == "MT":
                sides = ("long", "short")
            else:
                raise FrameError(f"unknown liquidation flag {flag!r}")
            for s in sides:
                out.append(
                    Liquidation("deribit", name, base, quote, s, price, qty, value, ts, received_at,
                                tid if len(sides) == 1 else f"{tid}:{s}",
                                "sell" if s == "long" else "buy", flag)
                )  # fmt: skip
        out.append(Trade("deribit", name, base, quote, d, price, qty, value, ts, received_at, tid, bool(flag)))
        return out

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        hot = (b'"trades.' if type(data) is bytes else '"trades.') in data[:80]
        msg = typed(_sub_dec, data) if hot else None
        if msg is not None:
            out: list[Event] = []
            for t in msg.params.data:
                out += self._trade_events(t, received_at)
            return out
        return self._generic(decode_object(data), received_at)

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        if "error" in msg:
            err = msg["error"]
            raise FrameError(f"venue error: {err.get('message') if isinstance(err, dict) else err}")
        method = msg.get("method")
        if method == "heartbeat":
            return []  # answered by auto_reply
        if method == "subscription":
            params = msg.get("params")
            if not isinstance(params, dict):
                raise FrameError("subscription without params")
            ch = params.get("channel")
            if not isinstance(ch, str):
                raise FrameError("subscription without channel")
            data = params.get("data")
            if ch.startswith("trades."):
                return self._trades(data, received_at)
            if ch.startswith("ticker."):
                if not isinstance(data, dict):
                    raise FrameError("ticker data is not an object")
                return self._ticker(data, received_at)
            if ch.startswith(("book.", "quote.", "deribit_price_index.", "perpetual.", "incremental_ticker.")):
                return []
            raise FrameError(f"unsupported channel {ch!r}")
        if "result" in msg:
            res = msg["result"]
            if isinstance(res, dict) and isinstance(res.get("trades"), list):  # REST trade history
                return self._trades(res["trades"], received_at)
            return []  # subscribe / set_heartbeat / test acks
        raise FrameError("unknown Deribit frame")

    def _trades(self, rows: object, received_at: int) -> list[Event]:
        out: list[Event] = []
        for r in object_rows(rows, "trades data", "trade"):
            name = r.get("instrument_name")
            if not isinstance(name, str) or not name:
                raise FrameError("trade without instrument_name")
            liq = r.get("liquidation")
            t = _Tr(
                trade_id=str(r.get("trade_id")),
                timestamp=ms(r.get("timestamp"), "timestamp"),
                price=num(r.get("price"), "price"),
                amount=num(r.get("amount"), "amount"),
                direction=str(r.get("direction")),
                instrument_name=name,
                liquidation=liq if isinstance(liq, str) and liq else None,
                index_price=num(r["index_price"], "index_price") if r.get("index_price") is not None else None,
            )
            out += self._trade_events(t, received_at)
        return out

    def _ticker(self, d: dict, received_at: int) -> list[Event]:
        name = d.get("instrument_name")
        if not isinstance(name, str) or not name:
            raise FrameError("ticker without instrument_name")
        base, quote, kind = self._info(name)
        ts = ms(d.get("timestamp"), "timestamp")
        mark = opt(d.get("mark_price"))
        index = opt(d.get("index_price"))
        oi = opt(d.get("open_interest"))
        out: list[Event] = []
        oi_base = None
        if oi is not None and oi >= 0:
            if kind == "inverse":
                if mark:
                    oi_base = oi / mark
                    out.append(OpenInterest("deribit", name, base, quote, oi_base, oi, ts, received_at))
            else:
                oi_base = oi
                ref = index if kind == "option" else mark
                out.append(OpenInterest("deribit", name, base, quote, oi, oi * ref if ref else None, ts, received_at))
        funding = d.get("current_funding")
        sizes = []
        for px_key, amt_key in (("best_bid_price", "best_bid_amount"), ("best_ask_price", "best_ask_amount")):
            px, amt = opt(d.get(px_key)), opt(d.get(amt_key))
            px = px if px else None  # an empty side is sent as price 0
            sizes += [px, (amt / px if kind == "inverse" else amt) if px and amt is not None and amt >= 0 else None]
        stats = d.get("stats") if isinstance(d.get("stats"), dict) else {}
        out.append(
            Ticker("deribit", name, ts, received_at, last_price=opt(d.get("last_price")), mark_price=mark,
                   index_price=index, funding_rate=opt(funding), open_interest=oi_base,
                   bid_price=sizes[0], bid_size=sizes[1], ask_price=sizes[2], ask_size=sizes[3],
                   volume_24h=opt(stats.get("volume")), volume_24h_usd=opt(stats.get("volume_usd")),
                   open_interest_usd=out[0].open_interest_usd if out else None)
        )  # fmt: skip
        return out


VENUES = (Deribit,)
