"""OKX v5 public websocket (perpetual swaps and dated futures).

Protocol facts (official docs, https://www.okx.com/docs-v5/en/):

* ``liquidation-orders`` is subscribed per instrument TYPE (``SWAP``,
  ``FUTURES``), not per instrument: push ``{"arg":{...}, "data":[{"instId",
  "instType", "details":[{side, posSide, bkPx, sz, bkLoss, ccy, ts}]}]}``.
  ``side`` is the liquidation ORDER side (``sell`` closes a long); ``posSide``
  (``long``/``short`` in hedge mode, ``net`` otherwise) names the position
  directly and wins when given. ``ts`` is a string of ms. OKX says the feed is
  not every liquidation and not necessarily in time order.
  https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel
* Sizes are contracts: linear (``BTC-USDT-SWAP``) ``ctVal`` coins per contract
  -> quantity = sz x ctVal, value_usd = quantity x bkPx; inverse
  (``BTC-USD-SWAP``) ``ctVal`` USD per contract -> value_usd = sz x ctVal,
  quantity = value_usd / bkPx. ``ctVal`` comes from
  :class:`~liqmap.exchanges.contracts.ContractSizes` (instruments endpoint, or
  its documented fallback). https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
* price = ``bkPx`` (bankruptcy price).
* Keep-alive: "The connection will break automatically if the subscription is
  not established or data has not been pushed for more than 30 seconds"; send
  the text ``ping`` every 25 s, expect ``pong``. Limits on the same page:
  connection 3 requests/s per IP; 480 subscribe/unsubscribe/login requests per
  connection per hour; the args of one request up to 64 KB.
  https://www.okx.com/docs-v5/en/#overview-websocket-connect (crawl 2026-09-08)
* Endpoints (official "Production Trading Services", crawl 2026-09-08,
  https://www.okx.com/docs-v5/en/#overview-production-trading-services): REST
  ``https://openapi.okx.com`` (was ``www.okx.com`` until 2026; kept as the REST
  fallback), public WS ``wss://ws.okx.com:8443/ws/v5/public``. The port-443 form
  ``wss://ws.okx.com/ws/v5/public`` is the fallback: third-party clients use it
  where 8443 is refused; a third-party report that 8443 stopped on 2026-10-31 was
  NOT found in any source (official or not), so the documented form stays first.
  Checked 2026-12.
* Subscribe / acks (https://www.okx.com/docs-v5/en/#overview-websocket-subscribe):
  a request may carry ``id`` (up to 32 alphanumerics), echoed in the answer; one
  answer per arg: ``{"id","event":"subscribe","arg":{...},"connId"}``; failure
  ``{"id","event":"error","code","msg","connId"}`` -- e.g. 60018 "Wrong URL or
  channel:..., instId:... doesn't exist" (real frame of 2026-10-02 in
  tests/fixtures/okx_protocol). Whether the other args of a failing request
  survive is not documented: ``liquidation-orders`` travels in a request of its
  own and the feed retries the rest one by one.
* Restart notice (https://www.okx.com/docs-v5/en/#overview-websocket-notification):
  ``{"event":"notice","code":"64008","msg":"The connection will soon be closed
  for a service upgrade. Please reconnect.","connId"}``, 60 s before the close:
  :meth:`OKX.control` reports it as ``restart`` and the feed rotates
  make-before-break.
* Also parsed: ``trades`` (taker side, sz contracts or spot coins), ``tickers``,
  ``mark-price``, ``open-interest`` (``oiCcy`` coins), ``funding-rate``; REST
  ``/api/v5/public/open-interest?instType=SWAP`` bodies (all swaps in one call).
* ``tickers`` rows: ``last``, ``bidPx``/``bidSz``, ``askPx``/``askSz`` (sizes in contracts for
  derivatives, coins for spot), ``vol24h`` (contracts; spot: base coin), ``volCcy24h``
  (derivatives: base coin; spot: quote currency).
  https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-tickers-channel
  ``funding-rate`` rows: ``fundingRate`` for the period that settles at ``fundingTime`` (ms; the
  next funding time). https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel
* Replay of old recordings: the REST-generated v5 ``liquidations`` channel and
  the v3 ``swap/liquidation`` / ``futures/liquidation`` tables (``type`` 3 =
  long liquidated, 4 = short; OKEx v3 docs as used by tardis-node).
* Gap backfill (:meth:`OKX.history`): ``GET /api/v5/public/liquidation-orders`` with
  ``instType`` (``SWAP``/``FUTURES``), ``instFamily`` (or ``uly``; one of them is
  required for derivatives), ``state=filled``, ``before``/``after`` (ms: rows newer /
  older than), ``limit`` <= 100; body ``{"code":"0","msg":"","data":[{instId, instType,
  uly, instFamily, details:[{side, posSide, bkPx, sz, bkLoss, ccy, ts}]}]}`` -- the
  websocket rows, parsed by the same code, so a row seen live gets its live id.
  "Retrieve information on liquidation orders in the last day", "Rate Limit: 40
  requests per 2 seconds", "Rate limit rule: IP" (the docs' text as third-party SDKs
  quote it; ccxt's okx table costs ``public/liquidation-orders`` 0.5 of its 20 req / 2 s
  unit, i.e. 40 / 2 s: https://github.com/ccxt/ccxt python/ccxt/okx.py; the official
  python-okx SDK keeps the path, okx/consts.py ``LIQUIDATION_ORDERS``). The endpoint is
  NOT in the 2026 crawls of https://www.okx.com/docs-v5/en/#public-data-rest-api
  (2026-06-28 .. 2026-09-08: the websocket channel is, the REST section is gone), so it
  is used as undocumented-but-served: a failure (or an error body) leaves the gap
  unfilled, never wrong. Requests go 20 per 2 s (half the last documented limit: the
  open-interest poll shares the IP); gaps longer than the one day kept stay unfilled.

id = ``okx:{instId}:{ts}:{side}:{sz}:{bkPx}`` (canonical numbers); identical details within one frame
get ``#2``, ``#3`` ... (distinct liquidations, see ``Venue.frame_repeats_are_distinct``).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import msgspec

from liqmap.exchanges._common import INF, MAX_TS, control_object, decode_object, iso_ms, json_object, ms, num, opt, pos, rows_or_partial, text, typed
from liqmap.exchanges.base import (
    ConnectionSpec, Control, FrameError, Heartbeat, HistoryPage, Limits, RecordingNames, RestPoll, Topic, Venue,
)  # fmt: skip
from liqmap.exchanges.contracts import ContractSpec, parse_number, to_base
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade
from liqmap.symbols import USD_QUOTES
from liqmap.units import DAY_MS

WS_URL = "wss://ws.okx.com:8443/ws/v5/public"
#: Port-443 form of the public websocket (third-party use; fallback, module docstring).
WS_URL_443 = "wss://ws.okx.com/ws/v5/public"
REST_BASE = "https://openapi.okx.com"
#: The REST host of the docs before 2026 (fallback).
REST_FALLBACK = "https://www.okx.com"
#: Liquidation history (gap backfill, module docstring): path, rows a page, how far back it reaches.
HISTORY_PATH = "/api/v5/public/liquidation-orders"
HISTORY_LIMIT = 100
HISTORY_REACH_MS = DAY_MS
_IGNORED_CHANNELS = frozenset(
    {"books", "books5", "books-l2-tbt", "books50-l2-tbt", "bbo-tbt", "price-limit", "index-tickers",
     "estimated-price", "instruments", "status"}
)  # fmt: skip


_POS_SIDES = {"long": "long", "short": "short"}  # hedge-mode posSide names the position
_ORDER_SIDES = {"sell": "long", "buy": "short"}  # liquidation ORDER side -> position


class _Detail(msgspec.Struct, gc=False):
    side: str
    bkPx: float
    sz: float
    ts: int
    posSide: str = ""


class _Row(msgspec.Struct, gc=False):
    instId: str
    details: list[_Detail]


class _LiqArg(msgspec.Struct, gc=False):
    channel: str


class _LiqMsg(msgspec.Struct, gc=False):
    arg: _LiqArg
    data: list[_Row]


_liq_dec = msgspec.json.Decoder(_LiqMsg, strict=False)


#: Fallback ctVal (see :meth:`OKX.contract_fallback`): (base, quote) -> coins (linear) or USD (inverse).
_FALLBACK_CTVAL = {
    ("BTC", "USDT"): 0.01, ("ETH", "USDT"): 0.1, ("BTC", "USD"): 100.0,
    # majors' linear ctVal (coins per contract) as OKX's /api/v5/public/instruments lists them
    ("SOL", "USDT"): 1.0, ("XRP", "USDT"): 100.0, ("DOGE", "USDT"): 1000.0, ("LTC", "USDT"): 1.0,
    ("ADA", "USDT"): 100.0, ("LINK", "USDT"): 1.0, ("DOT", "USDT"): 1.0, ("AVAX", "USDT"): 1.0,
    ("BCH", "USDT"): 0.1, ("TRX", "USDT"): 1000.0, ("SHIB", "USDT"): 1_000_000.0,
}  # fmt: skip


class OKX(Venue):
    """OKX v5 (see module docstring).

    Args:
        contracts: contract sizes (``ctVal``) registry.
        ws_url: full websocket URL, default ``wss://ws.okx.com:8443/ws/v5/public``
            (falling back to the port-443 form).
        rest_url: REST base, default ``https://openapi.okx.com`` (falling back to
            ``https://www.okx.com``).
        inst_types: instrument types for ``liquidation-orders`` (``SWAP``, ``FUTURES``).
    """

    name = "okx"
    color = "#8c8c8c"
    #: taker fee, base tier: https://www.okx.com/fees (perpetuals, regular user Lv1: 0.050 %)
    taker_fee_bps = 5.0
    frame_repeats_are_distinct = True  # ids are built from the fields (see Venue)
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "lower_bound"  # OKX: the channel does not carry every liquidation
    rest_liquidations = True  # the REST liquidation-orders history (module docstring)
    history_limit_per_min = 600  # 20 requests / 2 s: half of the documented 40 / 2 s per IP
    default_ws = WS_URL
    default_rest = REST_BASE
    #: 20 args a request (our choice, far under the 64 KB limit), 480 requests per
    #: connection per hour, 3 connections per second per IP (module docstring).
    limits = Limits(args_per_subscribe=20, subscribes_per_hour=480, connections_per_s=3.0)
    rest_fallbacks = (REST_FALLBACK,)
    rejects_whole_request = False  # one answer per arg
    quote_families = {"USDT": "USDT", "USDC": "USDC", "USD": "USD"}
    #: ``BTC`` -> ``BTC-USDT-SWAP``, ``BTC-USD-SWAP`` (linear, inverse); ``BTC-USDT-SWAP`` ->
    #: (BTC, USDT), ``BTC-USD-250627`` -> (BTC, USD), ``BTC-USDT`` -> (BTC, USDT).
    symbol_format = "{base}-{quote}-SWAP"
    symbol_quotes = ("USDT", "USD")
    symbol_sep = "-"
    #: ``ctVal`` x ``ctMult``, ``ctType`` linear/inverse per instrument.
    #: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
    instruments = ("/api/v5/public/instruments?instType=SWAP", "/api/v5/public/instruments?instType=FUTURES")
    label = "public"
    recordings = RecordingNames(cryptofeed=("OKX", "OKEX"), tardis=("okex*", "okx*"), hosts=("ws.okex.com",))

    def __init__(self, *args: Any, inst_types: Sequence[str] = ("SWAP", "FUTURES"), **kw: Any) -> None:
        self.inst_types = tuple(inst_types)
        super().__init__(*args, **kw)

    # ------------------------------------------------------------ contracts
    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """Specs from an ``/api/v5/public/instruments`` body (``data[]`` rows).

        linear: size = ctVal x ctMult coins; inverse: size = ctVal x ctMult USD.
        Rows without ``ctVal`` (spot, margin) are skipped.
        """
        out = []
        for row in msgspec.json.decode(body).get("data") or []:
            ct, mult = parse_number(row.get("ctVal")), parse_number(row.get("ctMult")) or 1.0
            kind = row.get("ctType")
            if not ct or kind not in ("linear", "inverse"):
                continue
            inst = row["instId"]
            quote = row.get("settleCcy") if kind == "linear" else "USD"
            parts = inst.split("-")
            if kind == "linear" and len(parts) >= 2:
                quote = parts[1]
            out.append(ContractSpec(cls.name, inst, kind, ct * mult, quote or "USD"))
        return out

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """Documented ctVal until the instruments load.

        BTC-USDT-SWAP 0.01 BTC, ETH-USDT-SWAP 0.1 ETH, BTC-USD-SWAP 100 USD, ETH-USD-SWAP
        10 USD (recorded OKX /api/v5/public/instruments response, cryptofeed
        sample_data/OKX.0, 2022; same family rule for dated futures). Other inverse
        (-USD-) contracts 10 USD (OKX inverse contract specs). Linear majors:
        SOL/LTC/LINK/DOT/AVAX 1, BCH 0.1, XRP/ADA 100, DOGE/TRX 1000, SHIB 1e6 coins
        (instruments ctVal as kept in crypto-contract-value's offline okx.rs table,
        2022). Other linear contracts: UNKNOWN, 1 coin assumed -- wrong for many
        coins, which is why the instruments endpoint is loaded at start-up.
        """
        parts = symbol.split("-")
        base = parts[0]
        if len(parts) >= 2 and parts[1] == "USD":
            size = _FALLBACK_CTVAL.get((base, "USD"), 10.0)
            return ContractSpec(cls.name, symbol, "inverse", size, "USD", "fallback")
        quote = parts[1] if len(parts) >= 2 else "USDT"
        size = _FALLBACK_CTVAL.get((base, quote), 1.0)
        return ContractSpec(cls.name, symbol, "linear", size, quote, "fallback")

    # ------------------------------------------------------------ declarative I/O
    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One ``public`` connection: ``liquidation-orders`` per instType (SWAP and
        FUTURES: every contract), plus ``trades``/``tickers``/``mark-price``/``open-interest``
        per given instrument (+ ``funding-rate`` for swaps); text ``ping`` every 25 s; the port-443
        URL as fallback."""
        topics = [Topic(f"liquidation-orders:{t}", "liquidations", {"channel": "liquidation-orders", "instType": t})
                  for t in self.inst_types]  # fmt: skip
        for s in dict.fromkeys(symbols or ()):
            for ch, kind in (("trades", "trades"), ("tickers", "tickers"), ("mark-price", "mark_price"),
                             ("open-interest", "open_interest")):  # fmt: skip
                topics.append(Topic(f"{ch}:{s}", kind, {"channel": ch, "instId": s}))
            if s.endswith("-SWAP"):
                topics.append(Topic(f"funding-rate:{s}", "tickers", {"channel": "funding-rate", "instId": s}))
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=topics,
                heartbeat=Heartbeat(25.0, "ping", is_pong=lambda t: t == "pong"),
                max_lifetime_s=None,
                stale_after_s=75.0,  # pongs answer every 25 s ping: three missed = dead
                fallback_urls=(WS_URL_443,) if self.ws_url == WS_URL else (),
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"id":"<n>","op":"subscribe","args":[...]}``: OKX echoes ``id`` in its answers."""
        return msgspec.json.encode({"id": str(request_id), "op": "subscribe", "args": [t.request_arg for t in topics]}).decode()

    def control(self, data: str) -> Control | None:
        """Subscribe ack (per arg), error (60018 ...) or the 64008 restart notice."""
        msg = control_object(data, 120, '"event"')
        if msg is None:
            return None
        event, rid = msg.get("event"), msg.get("id")
        rid = str(rid) if rid not in (None, "") else None
        reason = f"{msg.get('code')}: {msg.get('msg')}"
        if event == "subscribe":
            return Control("ack", (_arg_key(msg.get("arg")),), rid)
        if event == "error":
            m = _ERROR_ARG.search(str(msg.get("msg") or ""))
            return Control("reject", (f"{m.group(1)}:{m.group(2)}",) if m else (), rid, reason)
        if event == "notice" and str(msg.get("code")) == "64008":
            return Control("restart", reason=reason)
        return None

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``instId`` of every live SWAP/FUTURES instrument (``state == "live"``)."""
        rows = msgspec.json.decode(body).get("data") or []
        return [r["instId"] for r in rows if isinstance(r, dict) and r.get("instId") and r.get("state", "live") == "live"]

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """Open interest of every swap in one call, every 60 s (20 req / 2 s limit)."""
        return [
            RestPoll(
                label="oi:SWAP",
                url=f"{self.rest_url}/api/v5/public/open-interest?instType=SWAP",
                interval_s=60.0,
                weight=1,
                limit_per_min=600,
                fallback_urls=(f"{REST_FALLBACK}/api/v5/public/open-interest?instType=SWAP",)
                if self.rest_url == REST_BASE else (),
            )
        ]

    # ------------------------------------------------------------ gap backfill
    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """``liquidation-orders`` history of the gap ``(start_ms, end_ms]`` (ms UTC): one
        request per (instType, instrument family) of the listing -- the live channel is
        all-market -- else of ``symbols`` (``BTC-USDT-SWAP`` -> SWAP ``BTC-USDT``); [] when
        neither is known or the gap reaches past the one day OKX keeps (it stays unfilled)."""
        if int(end_ms) - int(start_ms) > HISTORY_REACH_MS:
            return []
        insts = self.listing if self.listing is not None else (symbols or ())
        return [self._history_page(t, f, int(start_ms), int(end_ms) + 1) for t, f in families(insts, self.inst_types)]

    def _history_page(self, inst_type: str, family: str, start: int, after: int) -> HistoryPage:
        """Rows newer than ``start`` and older than ``after`` (ms), 100 at most."""
        query = (f"{HISTORY_PATH}?instType={inst_type}&instFamily={family}&state=filled"
                 f"&before={start}&after={after}&limit={HISTORY_LIMIT}")  # fmt: skip
        fallback = (f"{REST_FALLBACK}{query}",) if self.rest_url == REST_BASE else ()
        return HistoryPage(f"{self.rest_url}{query}", tag=f"{inst_type}/{family}",
                           cursor=(inst_type, family, start, after), fallback_urls=fallback)  # fmt: skip

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """A full page (100 details) may hide older rows: ask again for those older than its
        oldest ms + 1 (rows of that ms come again and de-duplicate by id); None otherwise."""
        msg = json_object(body)
        rows = msg.get("data") if msg is not None else None
        if not isinstance(rows, list):
            return None
        times = [d.get("ts") for r in rows if isinstance(r, dict) for d in (r.get("details") or ()) if isinstance(d, dict)]
        if len(times) < HISTORY_LIMIT:
            return None
        try:
            oldest = min(int(t) for t in times)
        except (TypeError, ValueError):
            return None
        inst_type, family, start, after = page.cursor
        nxt = oldest + 1 if oldest + 1 < after else oldest
        return self._history_page(inst_type, family, start, nxt) if nxt > start + 1 else None

    # ------------------------------------------------------------ parsing
    def _contract(self, inst: str) -> tuple[int, str, str, bool, float]:
        """:meth:`Venue._contract`; a spot / margin instrument (``BTC-USDT``) is sized in coins."""
        if inst.count("-") >= 2:
            return super()._contract(inst)
        base, quote = self._split(inst)
        return (self.contracts.version, base, quote, False, 1.0)

    def _size(self, inst: str, sz: float, price: float) -> tuple[float, float]:
        """(quantity in coins, value USD) for ``sz`` contracts (spot/margin: coins)."""
        if inst.count("-") < 2:  # spot / margin instrument: size already in coins
            return sz, sz * price
        spec = self.contracts.get("okx", inst)
        return to_base(sz, price, spec.kind == "inverse", spec.size)

    def _liq(self, inst: str, side: str, pos_side: str, sz: float, px: float, ts: int, received_at: int) -> Liquidation:
        if not (0.0 < px < INF and 0.0 < sz < INF):
            raise FrameError(f"invalid sz/bkPx {sz!r}/{px!r}")
        if not 0 <= ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        pside = _POS_SIDES.get(pos_side) or _ORDER_SIDES.get(side)
        if pside is None:
            raise FrameError(f"unknown liquidation side {side!r}/{pos_side!r}")
        c = self._contract_cache.get(inst)
        if c is None or c[0] != self.contracts.version:
            c = self._contract(inst)
        qty, value = to_base(sz, px, c[3], c[4])
        return Liquidation(
            "okx", inst, c[1], c[2], pside, px, qty, value, ts or received_at, received_at,
            f"okx:{inst}:{ts}:{side or pside}:{sz!r}:{px!r}", side or pos_side or None, None, not ts,
        )  # fmt: skip

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        if data == "pong" or data == b"pong":
            return []
        hot = (b"liquidation-orders" if type(data) is bytes else "liquidation-orders") in data[:60]
        msg = typed(_liq_dec, data) if hot else None
        if msg is not None and msg.arg.channel == "liquidation-orders":
            try:
                return [
                    self._liq(row.instId, d.side, d.posSide, d.sz, d.bkPx, d.ts, received_at)
                    for row in msg.data
                    for d in row.details
                ]
            except FrameError:
                pass  # a bad detail: the generic path below keeps the others (rare, off the fast path)
        return self._generic(decode_object(data), received_at)

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        if "event" in msg:
            if msg["event"] == "error":
                raise FrameError(f"venue error {msg.get('code')}: {msg.get('msg')}")
            return []  # subscribe/unsubscribe ack, notice
        if "table" in msg:
            return self._v3(msg, received_at)
        arg = msg.get("arg")
        data = msg.get("data")
        if not isinstance(arg, dict):
            if "code" in msg and isinstance(data, list):
                return self._rest(msg, data, received_at)
            raise FrameError("frame without 'arg'")
        ch = arg.get("channel")
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise FrameError(f"{ch}: data is not a list of objects")
        if ch == "liquidation-orders":
            return self._liquidation_rows(data, received_at)
        if ch == "liquidations":  # REST-generated (tardis) replay shape, instId in arg
            inst = text(arg.get("instId"), "instId")
            return rows_or_partial(data, lambda d: self._detail(inst, d, received_at))
        if ch == "trades":
            return [self._trade(d, received_at) for d in data]
        if ch == "tickers":
            return [self._ticker(d, received_at) for d in data]
        if ch == "funding-rate":
            return [
                Ticker("okx", text(d.get("instId"), "instId"), ms(d.get("ts") or received_at, "ts"), received_at,
                       funding_rate=opt(d.get("fundingRate")), next_funding_time=ms(d["fundingTime"], "fundingTime")
                       if d.get("fundingTime") else None)
                for d in data
            ]  # fmt: skip
        if ch == "mark-price":
            return [
                Ticker("okx", text(d.get("instId"), "instId"), ms(d.get("ts"), "ts"), received_at, mark_price=pos(d.get("markPx"), "markPx"))
                for d in data
            ]
        if ch == "open-interest":
            return [self._oi(d, received_at) for d in data]
        if ch in _IGNORED_CHANNELS:
            return []
        raise FrameError(f"unsupported channel {ch!r}")

    def _liquidation_rows(self, data: list[dict], received_at: int) -> list[Event]:
        """``liquidation-orders`` rows ``{instId, details:[...]}`` of a websocket push or a REST
        history body; one bad detail (e.g. an empty bkPx) does not lose the others."""
        pairs: list[tuple[Any, Any]] = []
        for row in data:
            details = row.get("details")
            if not isinstance(details, list):
                raise FrameError("liquidation-orders row without details")
            inst = row.get("instId")
            pairs += [(inst, d) for d in details]
        return rows_or_partial(pairs, lambda p: self._detail(text(p[0], "instId"), p[1], received_at))

    def _ticker(self, d: dict, received_at: int) -> Ticker:
        """One ``tickers`` row: sizes and volume to coins / USD (module docstring)."""
        inst = text(d.get("instId"), "instId")
        last = opt(d.get("last"))
        sides = []
        for px_key, sz_key in (("bidPx", "bidSz"), ("askPx", "askSz")):
            px, sz = opt(d.get(px_key)), opt(d.get(sz_key))
            sides += [px, self._size(inst, sz, px)[0] if px and sz is not None and sz >= 0 else None]
        vol, vol_ccy = opt(d.get("vol24h")), opt(d.get("volCcy24h"))
        if inst.count("-") < 2:  # spot: vol24h base, volCcy24h quote
            volume, volume_usd = vol, vol_ccy if self._split(inst)[1] in USD_QUOTES else None
        else:  # derivatives: volCcy24h base; USD from the contracts
            volume = vol_ccy
            volume_usd = self._size(inst, vol, last)[1] if vol is not None and last else None
        return Ticker("okx", inst, ms(d.get("ts"), "ts"), received_at, last_price=last, bid_price=sides[0],
                      bid_size=sides[1], ask_price=sides[2], ask_size=sides[3], volume_24h=volume,
                      volume_24h_usd=volume_usd)

    def _detail(self, inst: str, d: object, received_at: int) -> Liquidation:
        if not isinstance(d, dict):
            raise FrameError("liquidation detail is not an object")
        return self._liq(
            inst, str(d.get("side") or ""), str(d.get("posSide") or ""), num(d.get("sz"), "sz"),
            num(d.get("bkPx"), "bkPx"), ms(d.get("ts"), "ts"), received_at,
        )  # fmt: skip

    def _v3(self, msg: dict, received_at: int) -> list[Event]:
        table = msg.get("table")
        if table not in ("swap/liquidation", "futures/liquidation"):
            raise FrameError(f"unsupported v3 table {table!r}")
        out: list[Event] = []
        for d in msg.get("data") or []:
            if not isinstance(d, dict):
                raise FrameError("v3 row is not an object")
            t = str(d.get("type"))
            side = {"3": "sell", "4": "buy"}.get(t)
            if side is None:
                raise FrameError(f"unknown v3 liquidation type {t!r}")
            out.append(
                self._liq(text(d.get("instrument_id"), "instId"), side, "", num(d.get("size"), "size"), num(d.get("price"), "price"),
                          iso_ms(d.get("created_at")), received_at)
            )  # fmt: skip
        return out

    def _trade(self, d: dict, received_at: int) -> Trade:
        inst = text(d.get("instId"), "instId")
        px, sz = pos(d.get("px"), "px"), pos(d.get("sz"), "sz")
        side = d.get("side")
        if side not in ("buy", "sell"):
            raise FrameError(f"unknown trade side {side!r}")
        base, quote = self._split(inst)
        qty, value = self._size(inst, sz, px)
        return Trade("okx", inst, base, quote, side, px, qty, value, ms(d.get("ts"), "ts"), received_at,
                     f"okx:{inst}:{d.get('tradeId')}")  # fmt: skip

    def _oi(self, d: dict, received_at: int) -> OpenInterest:
        inst = text(d.get("instId"), "instId")
        base, quote = self._split(inst)
        oi_ccy = d.get("oiCcy")
        if oi_ccy not in (None, ""):
            oi = num(oi_ccy, "oiCcy")
        else:  # contracts only: convert with the contract size (no price needed for linear)
            spec = self.contracts.get("okx", inst)
            if spec.kind != "linear":
                raise FrameError(f"open interest of {inst} without oiCcy")
            oi = num(d.get("oi"), "oi") * spec.size
        return OpenInterest("okx", inst, base, quote, oi, opt(d.get("oiUsd")), ms(d.get("ts"), "ts"), received_at)

    def _rest(self, msg: dict, data: list, received_at: int) -> list[Event]:
        """A REST body: the liquidation history (rows with ``details``) or open interest."""
        if str(msg.get("code")) != "0":
            raise FrameError(f"venue error {msg.get('code')}: {msg.get('msg')}")
        rows = [d for d in data if isinstance(d, dict)]
        if rows and "details" in rows[0]:
            return self._liquidation_rows(rows, received_at)
        return [self._oi(d, received_at) for d in rows]


#: The arg an OKX subscribe error names: "... channel:trades,instId:BTC-USDT-SWAP doesn't exist ..."
_ERROR_ARG = re.compile(r"channel:([\w-]+),\s*(?:instId|instType|instFamily):([\w.-]+)")


def families(insts: Iterable[str], inst_types: Sequence[str]) -> list[tuple[str, str]]:
    """Sorted ``(instType, instFamily)`` pairs of OKX instrument ids among ``inst_types``:
    ``BTC-USDT-SWAP`` -> ``("SWAP", "BTC-USDT")``, ``BTC-USD-250627`` -> ``("FUTURES",
    "BTC-USD")``; spot, margin and option ids are skipped."""
    out = set()
    for inst in insts:
        parts = inst.split("-")
        if len(parts) == 3:
            kind = "SWAP" if parts[2] == "SWAP" else "FUTURES"
            if kind in inst_types:
                out.add((kind, f"{parts[0]}-{parts[1]}"))
    return sorted(out)


def _arg_key(arg: object) -> str:
    """Topic key of an OKX ``arg`` object: ``channel:instType`` or ``channel:instId``."""
    if not isinstance(arg, dict):
        return ""
    return f"{arg.get('channel')}:{arg.get('instId') or arg.get('instType') or arg.get('instFamily') or ''}"


VENUES = (OKX,)
