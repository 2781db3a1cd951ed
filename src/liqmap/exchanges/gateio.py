"""Gate futures (``gateio``): ``futures.public_liquidates`` on the USDT- and BTC-settled
perpetual websockets, and the public ``liq_orders`` history for gap backfill.

Protocol facts (official docs; https://www.gate.com/docs/developers/futures/ws/en as
crawled 2026-05-27, https://www.gate.com/docs/developers/apiv4/en/futures as crawled
2026-05-27, and the zh_CN page "Last Updated 8/20/2026" seen as a diff):

* URLs ``wss://fx-ws.gateio.ws/v4/ws/usdt`` and ``/v4/ws/btc`` (one connection per
  settle currency, labels ``usdt`` and ``btc``). Connect with the header
  ``X-Gate-Size-Decimal: 1``: sizes then arrive as (possibly decimal) strings;
  without it they are rounded DOWN to integers and that push "will be offline"
  (changelog 2025-12-09).
* Requests ``{"time": s, "id": n, "channel": ..., "event": "subscribe",
  "payload": [...]}``; the answer echoes ``id`` and carries ``"error": null`` and
  ``"result": {"status": "success"}``, or an ``error`` object ``{code, message}``
  with ``"result": {"status": "fail"}`` (codes 1 invalid argument struct, 2 invalid
  argument, 3 service error). One channel per request, so one topic per request.
* ``futures.public_liquidates`` with payload ``["!all"]`` = every contract. Push
  ``{"channel","event":"update","time":s,"time_ms":ms,"result":[{price, size,
  time_ms, contract}]}``; since 2026-08-20 the rows of one contract are aggregated
  per period (default 1 s, pushed early at 20) and "no longer discarding other
  liquidation orders in the period", the row time is documented as ``time`` (ms)
  instead of ``time_ms``: both are read, and a ``time`` below 1e11 (the older zh
  example) is seconds. Before that change the page said "each contract can push up
  to one liquidate order data every 1 second". Sampling: ``complete`` per the
  2026-08-20 page.
* ``size`` is the liquidation ORDER's quantity in contracts, signed: negative =
  a sell order = a LONG position liquidated. The docs do not state the sign rule
  on this channel; Gate's trades channel says "Positive size means taker is buyer,
  negative seller", and the REST history example liquidates a long position
  (``size "600"``) with ``order_size "-600"``. ``price`` is the "order price".
* Contract sizes: ``GET /api/v4/futures/{settle}/contracts`` -> ``name``, ``type``
  (``direct`` | ``inverse``), ``quanto_multiplier`` ("how many units of the
  underlying asset the face value of one contract represents"). direct: quantity =
  |size| x quanto_multiplier coins. inverse (BTC-settled ``BTC_USD``): the docs do
  not say what one contract is; read as 1 USD per contract (value_usd = |size|,
  quantity = value / price), Gate's inverse-contract convention -- UNVERIFIED here.
  Until the contracts load: BTC_USDT 0.0001 BTC, ETH_USDT 0.01 ETH (exchanges.md
  §8.2, a 2023 contracts response); any other contract's liquidations are HELD (not
  valued with a guess) until the contracts load.
* Keep-alive: the server sends protocol pings (answered by the websocket library);
  ``{"time": ..., "channel": "futures.ping"}`` gets ``{"channel": "futures.pong"}``
  (sent every 20 s: an application reply proves a quiet socket alive). Before an
  upgrade the server pushes ``{"type": "upgrade", "msg": ...}``: a restart notice
  (the connection is rotated make-before-break).
* Also parsed: ``futures.tickers`` (``mark_price``, ``index_price``,
  ``funding_rate``, ``total_size`` = open interest in contracts), ``futures.trades``
  (``size`` signed contracts, ``id``, ``create_time_ms``), ``futures.candlesticks``
  (payload ``["1m", contract]``; ``t`` s, ``v`` contracts, ``n`` = ``1m_BTC_USDT``,
  ``w`` = window closed).
* Gap backfill: ``GET /api/v4/futures/{settle}/liq_orders?from=&to=&limit=`` is
  public; ``to - from`` at most 3600 s, seconds; ``limit`` at most 1000; rows
  ``{time (s), contract, size (position), order_size (signed), order_price,
  fill_price, left}``; public endpoints 200 requests per 10 s per IP. A history row
  has the live row's fields (contract, second, order size, order price; numbers as
  text in both since the 2025-12 decimal change), so both build the same id and a
  liquidation seen live is a duplicate. Times are seconds:
  a liquidation in the first (partial) second of a gap may fall before the window.

id = ``gateio:{contract}:{second}:{size}:{price}`` (the venue's number text); identical rows
in one frame get ``#2``, ``#3`` (``frame_repeats_are_distinct``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence
from urllib.parse import urlsplit

import msgspec

from liqmap.exchanges._common import (
    INF, MAX_TS, decode, dict_rows, json_object, ms, num, opt, pos, rows_or_partial, text,
)  # fmt: skip
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec, parse_number, to_base
from liqmap.models import Event, Kline, Liquidation, OpenInterest, Ticker, Trade
from liqmap.units import INTERVAL_MS, now_ms

WS_BASE = "wss://fx-ws.gateio.ws/v4/ws"
REST_BASE = "https://api.gateio.ws"
SETTLES = ("usdt", "btc")
LIQ_CHANNEL = "futures.public_liquidates"
PING = '{"time":123456,"channel":"futures.ping"}'  # the docs' own example: the time is not checked
#: History window per request (the API's limit) and page size.
HISTORY_WINDOW_S = 3600
HISTORY_LIMIT = 1000
#: Held rows (contract size unknown until the contracts load), at most.
MAX_HELD = 10_000
#: quanto_multiplier until the contracts load (exchanges.md §8.2, 2023 contracts response).
_FALLBACK_MULT = {"BTC_USDT": 0.0001, "ETH_USDT": 0.01}


class _Row(msgspec.Struct, gc=False):
    contract: str
    price: str  # the current shape: numbers as text (JSON numbers take the generic path)
    size: str
    time_ms: int = 0
    time: int = 0


class _Push(msgspec.Struct, gc=False):
    channel: str
    event: str
    result: list[_Row]


_liq_dec = msgspec.json.Decoder(_Push, strict=False)


def _text(value: str | float) -> str:
    """A number as the venue's text (a JSON number becomes its shortest text)."""
    return value if isinstance(value, str) else repr(float(value))


class GateIO(Venue):
    """Gate USDT- and BTC-settled perpetual futures (see module docstring).

    Args:
        contracts: contract sizes (``quanto_multiplier``) registry.
        ws_url: websocket base, default ``wss://fx-ws.gateio.ws/v4/ws`` (``/usdt``,
            ``/btc`` appended).
        rest_url: REST base, default ``https://api.gateio.ws``.
        settles: settle currencies to collect (``usdt``, ``btc``).
        kline_interval: candlestick interval for given symbols (``1m``).
    """

    name = "gateio"
    color = "#2354e6"  # Gate blue
    frame_repeats_are_distinct = True
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
    sampling = "complete"  # since 2026-08-20: every liquidation, aggregated per second
    rest_liquidations = True
    history_delay_s = 5.0
    history_limit_per_min = 600  # 200 requests / 10 s per endpoint and IP, a third of it
    default_ws = WS_BASE
    default_rest = REST_BASE
    #: One channel per request; 10 requests/s is not documented for futures, pace 5/s.
    limits = Limits(args_per_subscribe=1, subscribes_per_s=5.0)
    rejects_whole_request = True
    quote_families = {"USDT": "USDT", "USD": "USD"}
    #: ``BTC`` -> ``BTC_USDT``, ``BTC_USD``; ``BTC_USDT_20260925`` -> (BTC, USDT).
    symbol_format = "{base}_{quote}"
    symbol_quotes = ("USDT", "USD")
    symbol_sep = "_"
    instruments = ("/api/v4/futures/usdt/contracts", "/api/v4/futures/btc/contracts")
    label = "usdt"
    recordings = RecordingNames(cryptofeed=("GATEIO_FUTURES",), hosts=("fx-ws.gateio.ws",))

    def __init__(self, *args: Any, settles: Sequence[str] = SETTLES, **kw: Any) -> None:
        self.settles = tuple(settles)
        super().__init__(*args, **kw)

    def _init_state(self) -> None:
        self._held: list[tuple[str, str | float, str | float, int, int]] = []
        self._held_version = -1

    # ------------------------------------------------------------ symbols and contracts
    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """Specs from a ``/futures/{settle}/contracts`` body: direct -> linear
        ``quanto_multiplier`` coins; inverse -> 1 USD per contract (module docstring)."""
        out = []
        rows = msgspec.json.decode(body)
        for row in rows if isinstance(rows, list) else []:
            name = row.get("name") if isinstance(row, dict) else None
            if not name:
                continue
            if row.get("type") == "inverse":
                out.append(ContractSpec(cls.name, name, "inverse", 1.0, "USD"))
                continue
            mult = parse_number(row.get("quanto_multiplier"))
            if mult and mult > 0:
                out.append(ContractSpec(cls.name, name, "linear", mult, cls.base_quote(name)[1]))
        return out

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """Contracts trading (``status`` trading, or no status and not ``in_delisting``)."""
        rows = msgspec.json.decode(body)
        return [r["name"] for r in rows if isinstance(r, dict) and r.get("name")
                and r.get("status", "trading") == "trading" and not r.get("in_delisting")]  # fmt: skip

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """Until the contracts load: BTC_USDT 0.0001 BTC, ETH_USDT 0.01 ETH (a 2023
        contracts response, exchanges.md §8.2); BTC-settled ``*_USD`` 1 USD; any other
        contract UNKNOWN (NaN: its liquidations are held, not guessed)."""
        if symbol.upper().endswith("_USD"):
            return ContractSpec(cls.name, symbol, "inverse", 1.0, "USD", "fallback")
        quote = symbol.upper().split("_")[1] if "_" in symbol else "USDT"
        return ContractSpec(cls.name, symbol, "linear", _FALLBACK_MULT.get(symbol.upper(), math.nan), quote, "fallback")

    @classmethod
    def connection_label(cls, url: str | None = None, message: Any = None) -> str:
        """``btc`` for the BTC-settled socket (``.../ws/btc``, or a message about a
        ``*_USD`` contract), else ``usdt``."""
        if url is not None:
            return "btc" if urlsplit(url).path.rstrip("/").endswith("/btc") else "usdt"
        rows = message.get("result") if isinstance(message, dict) else None
        row = rows[0] if isinstance(rows, list) and rows else None
        contract = row.get("contract") if isinstance(row, dict) else None
        return "btc" if isinstance(contract, str) and contract.endswith("_USD") else "usdt"

    # ------------------------------------------------------------ declarative I/O
    def _settle_of(self, symbol: str) -> str:
        return "btc" if symbol.upper().endswith("_USD") else "usdt"

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection per settle currency: ``futures.public_liquidates`` ``!all``,
        plus tickers, trades and candlesticks of the given contracts of that settle."""
        out = []
        for settle in self.settles:
            topics = [Topic(f"{LIQ_CHANNEL}:!all", "liquidations", (LIQ_CHANNEL, ["!all"]))]
            for s in dict.fromkeys(x.upper() for x in symbols or ()):
                if self._settle_of(s) != settle:
                    continue
                topics += [
                    Topic(f"futures.tickers:{s}", "tickers", ("futures.tickers", [s])),
                    Topic(f"futures.trades:{s}", "trades", ("futures.trades", [s])),
                    Topic(f"futures.candlesticks:{self.kline_interval}_{s}", "klines",
                          ("futures.candlesticks", [self.kline_interval, s])),
                ]  # fmt: skip
            out.append(
                ConnectionSpec(
                    label=settle,
                    url=f"{self.ws_url}/{settle}",
                    topics=tuple(topics),
                    heartbeat=Heartbeat(20.0, PING, is_pong=lambda t: '"futures.pong"' in t[:80]),
                    headers={"X-Gate-Size-Decimal": "1"},
                    stale_after_s=90.0,  # pongs every 20 s keep a healthy socket busy
                )
            )
        return out

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"time", "id", "channel", "event": "subscribe", "payload"}`` -- one channel
        per request (``args_per_subscribe=1``)."""
        channel, payload = topics[0].request_arg
        return msgspec.json.encode(
            {"time": now_ms() // 1000, "id": request_id, "channel": channel, "event": "subscribe", "payload": payload}
        ).decode()

    def control(self, data: str) -> Control | None:
        """Subscribe answers (by the echoed ``id``; without one, a liquidation channel
        answer names its one topic; ``error`` = rejection) and the ``upgrade`` notice
        (a restart)."""
        head = data[:200]
        if '"upgrade"' in head and '"type"' in head:
            return Control("restart", reason=str((json_object(data) or {}).get("msg") or "upgrade"))
        if '"event":"subscribe"' not in data.replace(" ", "")[:400]:
            return None
        msg = (json_object(data) or {})
        rid = msg.get("id")
        rid = str(rid) if rid is not None else None
        err = msg.get("error")
        if isinstance(err, dict):
            return Control("reject", (), rid, f"{err.get('code')}: {err.get('message')}")
        if rid is None and msg.get("channel") == LIQ_CHANNEL:  # an answer without id: one such topic
            return Control("ack", (f"{LIQ_CHANNEL}:!all",))
        return Control("ack", (), rid)

    # ------------------------------------------------------------ gap backfill
    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """``liq_orders`` of the connection's settle currency over the gap, in windows of
        at most 3600 s (the API's limit), 1000 rows a request."""
        settle = connection.split("-", 1)[0] if connection.split("-", 1)[0] in SETTLES else None
        settles = (settle,) if settle else self.settles
        frm, to = int(start_ms) // 1000, -(-int(end_ms) // 1000)
        pages = []
        for s in settles:
            for a in range(frm, to, HISTORY_WINDOW_S):
                b = min(a + HISTORY_WINDOW_S, to)
                pages.append(self._history_page(s, a, b))
        return pages

    def _history_page(self, settle: str, frm: int, to: int) -> HistoryPage:
        url = f"{self.rest_url}/api/v4/futures/{settle}/liq_orders?from={frm}&to={to}&limit={HISTORY_LIMIT}"
        return HistoryPage(url, tag=settle, cursor=(settle, frm))

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """A full page (1000 rows) may hide older rows: ask again up to its oldest second."""
        try:
            rows = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return None
        if not isinstance(rows, list) or len(rows) < HISTORY_LIMIT:
            return None
        oldest = min(int(r.get("time") or 0) for r in rows if isinstance(r, dict))
        settle, frm = page.cursor
        return self._history_page(settle, frm, oldest) if oldest > frm else None

    # ------------------------------------------------------------ parsing
    def _liq(self, contract: str, price_v: str | float, size_v: str | float, ts: int,
             received_at: int) -> Liquidation | None:  # fmt: skip
        """One row; None when its contract size is unknown yet (the row is held)."""
        price, size = float(price_v), float(size_v)
        if not (0.0 < price < INF and 0.0 < abs(size) < INF):
            raise FrameError(f"invalid price/size {price_v!r}/{size_v!r}")
        if ts < 100_000_000_000:  # seconds (the older zh example)
            ts *= 1000
        if not 0 < ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        _, base, quote, inverse, per = self._contract(contract)
        if not math.isfinite(per):
            if len(self._held) < MAX_HELD:
                self._held.append((contract, price_v, size_v, ts, received_at))
                return None
            raise FrameError(f"{contract}: contract size unknown and {MAX_HELD} rows already held")
        qty, value = to_base(abs(size), price, inverse, per)
        side, order_side = ("long", "sell") if size < 0 else ("short", "buy")
        return Liquidation(
            self.name, contract, base, quote, side, price, qty, value, ts, received_at,
            f"gateio:{contract}:{ts // 1000}:{_text(size_v)}:{_text(price_v)}", order_side, None,
        )  # fmt: skip

    def _liqs(self, rows: list[_Row], received_at: int) -> list[Event]:
        """Hot path: :meth:`_liq` inlined over a push's rows for contracts whose size is
        known and rows in the current shape (same checks, same result); anything else
        goes through :meth:`_liq`."""
        out: list[Event] = []
        inst, version, name = self._contract_cache, self.contracts.version, self.name
        for r in rows:
            contract, ts = r.contract, r.time_ms or r.time
            c = inst.get(contract)
            price, size = float(r.price), float(r.size)
            if c is None or c[0] != version or not (0.0 < price < INF and (0.0 < size < INF or -INF < size < 0.0)) \
                    or not (100_000_000_000 <= ts < MAX_TS) or c[4] != c[4]:  # fmt: skip
                ev = self._liq(contract, r.price, r.size, ts, received_at)
                if ev is not None:
                    out.append(ev)
                continue
            n = size if size > 0 else -size
            if c[3]:
                value = n * c[4]
                qty = value / price
            else:
                qty = n * c[4]
                value = qty * price
            side, order_side = ("long", "sell") if size < 0 else ("short", "buy")
            out.append(Liquidation(name, contract, c[1], c[2], side, price, qty, value, ts, received_at,
                                   f"gateio:{contract}:{ts // 1000}:{r.size}:{r.price}", order_side, None))  # fmt: skip
        return out

    def _release_held(self) -> list[Event]:
        """Rows held for an unknown contract size, valued once the contracts changed."""
        if not self._held or self._held_version == self.contracts.version:
            return []
        self._held_version = self.contracts.version
        held, self._held = self._held, []
        return [e for r in held if (e := self._liq(*r)) is not None]

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        out = None
        if ("public_liquidates" if type(data) is str else b"public_liquidates") in data[:60]:
            try:  # typed() inlined: this is the hot path
                msg = _liq_dec.decode(data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                msg = None
            if msg is not None and msg.event == "update":
                try:
                    out = self._liqs(msg.result, received_at)
                except (FrameError, ValueError):
                    pass  # a bad row: the generic path keeps the others
        if out is None:
            out = self._generic(decode(data), received_at)
        if self._held and self._held_version != self.contracts.version:
            return self._release_held() + out
        return out

    def _generic(self, msg: Any, received_at: int) -> list[Event]:
        if isinstance(msg, list):  # REST liq_orders history
            return rows_or_partial(dict_rows(msg) if msg else [], lambda r: self._liq(
                text(r.get("contract"), "contract"), _num_text(r.get("order_price"), "order_price"),
                _num_text(r.get("order_size"), "order_size"), ms(r.get("time"), "time"), received_at))  # fmt: skip
        if not isinstance(msg, dict):
            raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
        if msg.get("type") == "upgrade":
            return []
        channel, event = msg.get("channel"), msg.get("event")
        if event in ("subscribe", "unsubscribe") or channel == "futures.pong":
            err = msg.get("error")
            if isinstance(err, dict):
                raise FrameError(f"venue error {err.get('code')}: {err.get('message')}")
            return []
        result = msg.get("result")
        if channel == LIQ_CHANNEL:
            return rows_or_partial(dict_rows(result), lambda r: self._liq(
                text(r.get("contract"), "contract"), _num_text(r.get("price"), "price"), _num_text(r.get("size"), "size"),
                ms(r.get("time_ms") or r.get("time"), "time"), received_at))  # fmt: skip
        if channel == "futures.trades":
            return rows_or_partial(dict_rows(result), lambda r: self._trade(r, received_at))
        if channel == "futures.tickers":
            ts = ms(msg.get("time_ms") or received_at, "time_ms")
            out: list[Event] = []
            for r in dict_rows(result):
                out += self._ticker(r, ts, received_at)
            return out
        if channel == "futures.candlesticks":
            return rows_or_partial(dict_rows(result), lambda r: self._kline(r))
        if isinstance(channel, str) and channel.startswith(("futures.order_book", "futures.book_ticker", "futures.obu")):
            return []
        raise FrameError(f"unsupported Gate channel {channel!r}")

    def _coins(self, contract: str, contracts: float, price: float) -> tuple[float, float]:
        """(base quantity, USD value) of ``contracts`` at ``price`` (NaN while unknown)."""
        _, _, _, inverse, per = self._contract(contract)
        if inverse:
            return contracts * per / price, contracts * per
        return contracts * per, contracts * per * price

    def _trade(self, r: dict, received_at: int) -> Trade:
        contract = text(r.get("contract"), "contract")
        price, size = pos(r.get("price"), "price"), num(r.get("size"), "size")
        if size == 0:
            raise FrameError("trade size 0")
        qty, value = self._coins(contract, abs(size), price)
        if not math.isfinite(qty):
            raise FrameError(f"{contract}: contract size unknown")
        _, base, quote, _, _ = self._contract(contract)
        ts = ms(r.get("create_time_ms") or (int(num(r.get("create_time"), "create_time")) * 1000), "create_time_ms")
        return Trade(self.name, contract, base, quote, "buy" if size > 0 else "sell", price, qty, value, ts,
                     received_at, f"gateio:{contract}:{r.get('id')}")  # fmt: skip

    def _ticker(self, r: dict, ts: int, received_at: int) -> list[Event]:
        contract = text(r.get("contract"), "contract")
        mark = opt(r.get("mark_price"))
        oi = opt(r.get("total_size"))
        out: list[Event] = []
        oi_base = None
        if oi is not None and oi >= 0 and mark:
            oi_base, oi_usd = self._coins(contract, oi, mark)
            if math.isfinite(oi_base):
                _, base, quote, _, _ = self._contract(contract)
                out.append(OpenInterest(self.name, contract, base, quote, oi_base, oi_usd, ts, received_at))
            else:
                oi_base = None
        out.append(Ticker(self.name, contract, ts, received_at, last_price=opt(r.get("last")), mark_price=mark,
                          index_price=opt(r.get("index_price")), funding_rate=opt(r.get("funding_rate")),
                          open_interest=oi_base))  # fmt: skip
        return out

    def _kline(self, r: dict) -> Kline:
        name = text(r.get("n"), "n")  # "1m_BTC_USDT"
        interval, _, contract = name.partition("_")
        if interval not in INTERVAL_MS or not contract:
            raise FrameError(f"unknown candlestick name {name!r}")
        start = ms(int(num(r.get("t"), "t")) * 1000, "t")
        close = pos(r.get("c"), "c")
        v = num(r.get("v"), "v")
        volume = self._coins(contract, v, close)[0] if v else 0.0
        if not math.isfinite(volume):
            raise FrameError(f"{contract}: contract size unknown, candle volume cannot be valued")
        return Kline(self.name, contract, interval, start, start + INTERVAL_MS[interval] - 1, pos(r.get("o"), "o"),
                     pos(r.get("h"), "h"), pos(r.get("l"), "l"), close, volume, opt(r.get("a")),
                     closed=bool(r.get("w")))  # fmt: skip


def _num_text(value: Any, field: str) -> str | float:
    """A required number field as given (text or number); FrameError when missing/non-numeric."""
    num(value, field)
    return value


VENUES = (GateIO,)
