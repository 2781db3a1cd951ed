"""BitMEX realtime websocket: ``liquidation``, ``trade``, ``instrument`` and ``quote`` tables.

Protocol facts (official docs https://www.bitmex.com/app/wsAPI and the
recorded frames in tests/fixtures):

* Tables use the diff protocol: ``partial`` (image at subscribe), ``insert``,
  ``update``, ``delete``. A liquidation ORDER is ``insert``-ed with its full
  size (``leavesQty``) at the bankruptcy price, ``update``-d as it fills and
  ``delete``-d when done. Events = ``insert`` and ``partial`` rows (partial rows
  are orders still open at subscribe time; a reconnect repeats them with the
  same orderID, which de-duplicates). ``delete`` -> ``[]``.
* An ``update`` usually lowers ``leavesQty`` as the order fills (not counted again), but
  BitMEX also raises it -- a further position of the same account liquidated into the same
  order (seen 12,900 -> 21,600 contracts, issue #12). Growth above the largest size seen
  is counted as additional liquidated size: one more event of the growth, id
  ``bitmex:{orderID}:grew:{new leavesQty}``, at the update's price (else the insert's),
  stamped at the update's receipt. The largest size is tracked per open order (at most
  :data:`MAX_TRACKED` orders, forgotten at ``delete``).
* ``side`` is the liquidation ORDER side: ``Sell`` = a LONG was liquidated.
* Liquidation rows carry NO timestamp: timestamp = received_at.
* id = ``bitmex:{orderID}`` (independent of receipt time and recording format).
* Keep-alive: send text ``ping``, server answers ``pong``.
* Subscribe (https://www.bitmex.com/app/wsAPI; answer shapes from the recorded
  session tests/fixtures/cryptofeed_sample_data/BITMEX.ws.1.0, 2021-07-22): one
  answer per topic, ``{"success":true,"subscribe":"trade:XBTUSD","request":{...}}``.
  A refused request is answered ONCE, echoing the request, e.g.
  ``{"status":400,"error":"Unknown or expired symbol.","meta":{},"request":{"op":
  "subscribe","args":[...]}}`` -- the whole request is refused, the
  ``liquidation`` topic with it if it shared the request [3P:
  thrasher-corp/gocryptotrader#1692, 2024-10]; more than 20 args get "Too many
  args sent. Max length is 20." [3P: BitMEX/api-connectors#387]. Hence: at most
  10 args a request (as tardis-node sends), ``liquidation`` alone, and the
  other topics of a refused request retried one by one. "already subscribed"
  counts as subscribed. The welcome frame carries ``"limit":{"remaining":N}``:
  the recorded one says 39 after one connect, i.e. 40 connections an hour.
* Listing: ``/api/v1/instrument/active`` (perpetuals, futures): only listed
  symbols are subscribed.
* ``quote`` rows ``{timestamp, symbol, bidSize, bidPrice, askPrice, askSize}``: best bid/ask,
  sizes in contracts (converted to coins like liquidations). ``instrument`` rows also carry
  ``bidPrice``/``askPrice``, ``homeNotional24h`` (24 h volume in the underlying),
  ``foreignNotional24h`` (in the quote currency), ``fundingRate`` and ``fundingTimestamp``
  (the next funding time). https://www.bitmex.com/api/explorer/#!/Instrument/Instrument_get ,
  https://www.bitmex.com/api/explorer/#!/Quote/Quote_get

Contract units (from ``/api/v1/instrument`` via
:class:`~liqmap.exchanges.contracts.ContractSizes`, fallback table otherwise):

* inverse (``XBTUSD``, ``XBTZ19``): 1 USD per contract -> value_usd =
  leavesQty, quantity = value_usd / price. Non-USD inverse (``XBTEUR``,
  ``XBTEURU21``: ``quoteCurrency`` EUR, 1 EUR per contract, price in EUR): the
  event's ``quote`` is ``EUR``, quantity = EUR / price (XBT), and value_usd =
  quantity x the XBT/USD price below (converted, never the EUR amount labelled
  USD); held like quanto rows until an XBT/USD price is known.
* quanto (``ETHUSD``: ``multiplier`` 100 satoshi per USD of price): value in
  XBT = contracts x multiplier x 1e-8 x price; value_usd = that x XBT/USD.
* linear (``*USDT`` with ``underlyingToPositionMultiplier``; XBT-quoted dated
  futures like ``ADAZ19``): quantity = contracts / underlyingToPositionMultiplier;
  value = quantity x price (x XBT/USD when quoted in XBT).

XBT/USD approximation (documented, needed for quanto and XBT-quoted
contracts): the parser keeps the LAST XBTUSD price it has seen -- instrument
``markPrice``/``lastPrice``, trade price, or an XBTUSD liquidation price --
seeded from the loaded instrument spec's ``markPrice``. Until any XBT price is
known, such liquidations are HELD (not dropped, at most 10,000) and emitted
with the first frame that brings an XBT price; at the end of a stream (a replay's
end, an adapter's stop, :meth:`Venue.drain`) the ones still held are emitted as
:class:`~liqmap.models.Quarantined` (reason ``unvalued``, ``value_usd`` unknown,
counted in health and stored apart), never dropped silently; trades of those contracts get
``value_usd = NaN`` in that window. ``connections()`` subscribes
``instrument:XBTUSD`` so a live feed has the price from its first frame.

Unknown contract size: a USDT-margined linear contract that is neither loaded
from ``/api/v1/instrument/active`` nor in the fallback table (sizes range from
1e-6 to 1 coin, so no guess is safe) has size NaN; its liquidations are HELD
the same way and released when the instruments load (``rest_polls`` refreshes
them every 60 s; ``ContractSizes.version`` changes).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import msgspec

from liqmap.exchanges._common import INF, check_pos, decode, iso_ms, json_object, num, opt, pos, rows_or_partial, split_concat, typed
from liqmap.exchanges.base import ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, RestPoll, Topic, Venue
from liqmap.exchanges.contracts import ContractSpec, parse_number
from liqmap.models import Event, Liquidation, OpenInterest, Quarantined, Ticker, Trade
from liqmap.symbols import USD_QUOTES

WS_URL = "wss://ws.bitmex.com/realtime"
REST_BASE = "https://www.bitmex.com"
MAX_PENDING = 10_000
#: open liquidation orders whose largest ``leavesQty`` is tracked (growth, module doc)
MAX_TRACKED = 10_000
_MONTH = re.compile(r"^([A-Z0-9]+?)([FGHJKMNQUVXZ]\d\d)$")
_IGNORED_TABLES = frozenset({"orderBookL2", "orderBookL2_25", "orderBook10", "quoteBin1m", "funding", "announcement", "connected", "settlement", "insurance"})  # fmt: skip


_POSITION = {"Sell": "long", "Buy": "short"}  # liquidation ORDER side -> position


class _LiqRow(msgspec.Struct, gc=False):
    orderID: str
    symbol: str
    side: str
    price: float
    leavesQty: float


class _LiqTable(msgspec.Struct, gc=False):
    table: str
    action: str
    data: list[_LiqRow]


_liq_dec = msgspec.json.Decoder(_LiqTable)


def _asset(code: str) -> str:
    return "BTC" if code in ("XBT", "XBt") else code


#: Fallback quanto multipliers (satoshi per contract per USD of price), see :meth:`BitMEX.contract_fallback`.
_FALLBACK_QUANTO = {"ETHUSD": 100.0, "LTCUSD": 200.0, "XRPUSD": 20000.0, "BCHUSD": 100.0}
#: Fallback coins per contract of USDT-margined linear perpetuals, see :meth:`BitMEX.contract_fallback`.
_FALLBACK_LINEAR_USDT = {
    "XBTUSDT": 1e-6, "ETHUSDT": 1e-5, "BCHUSDT": 1e-5, "SOLUSDT": 1e-4, "BNBUSDT": 1e-4,
    "AVAXUSDT": 1e-4, "LTCUSDT": 1e-4, "LINKUSDT": 1e-3, "DOTUSDT": 1e-3, "XRPUSDT": 1e-2,
    "DOGEUSDT": 1e-2, "ADAUSDT": 1e-2,
}  # fmt: skip


class BitMEX(Venue):
    """BitMEX (see module docstring).

    Args:
        contracts: contract specs registry (instrument/active).
        ws_url: full websocket URL, default ``wss://ws.bitmex.com/realtime``.
        rest_url: REST base, default ``https://www.bitmex.com``.
    """

    name = "bitmex"
    color = "#e0443a"
    #: taker fee, base tier: https://www.bitmex.com/wallet/fees (perpetual swaps: 0.075 %)
    taker_fee_bps = 7.5
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "complete"  # every liquidation order is inserted
    rest_liquidations = False  # GET /api/v1/liquidation lists only orders still open
    default_ws = WS_URL
    default_rest = REST_BASE
    quote_families = {"USDT": "USDT", "USD": "USD"}
    #: 10 args a request (tardis-node; BitMEX refuses more than 20), 40 connections an hour.
    limits = Limits(args_per_subscribe=10, connections_per_s=40 / 3600)
    #: ``isInverse``, ``isQuanto``, ``multiplier``, ``underlyingToPositionMultiplier``,
    #: ``quoteCurrency``, ``markPrice``. https://www.bitmex.com/api/explorer/#!/Instrument/Instrument_getActive
    instruments = ("/api/v1/instrument/active",)
    label = "realtime"
    recordings = RecordingNames(cryptofeed=("BITMEX",), tardis=("bitmex",))

    def _init_state(self) -> None:
        self._xbt: float | None = None
        self._mark: dict[str, float] = {}
        self._pending: list[tuple[_LiqRow, int]] = []
        self._pending_state: tuple[bool, int] | None = None  # (XBT price known, contracts.version) at last retry
        self._orders: dict[str, _LiqRow] = {}  # open orderID -> its row with the largest leavesQty seen

    # ------------------------------------------------------------ symbols and contracts
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["XBTUSD", "XBTUSDT"]``; ``ETH`` -> ``["ETHUSD", "ETHUSDT"]``."""
        b = "XBT" if base.upper() in ("BTC", "XBT") else base.upper()
        if quote:
            return [f"{b}{quote.upper()}"]
        return [f"{b}USD", f"{b}USDT"]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """BitMEX symbol -> (base, quote) with XBT reported as BTC.

        ``XBTUSD`` -> (BTC, USD); ``ETHUSD`` -> (ETH, USD); ``XBTZ19`` -> (BTC, USD);
        ``ADAZ19`` -> (ADA, BTC) (XBT-quoted future); ``UNIUSDT`` -> (UNI, USDT).
        """
        m = _MONTH.match(symbol)
        root = m.group(1) if m else symbol
        if root == "XBT":
            return "BTC", "USD"
        try:
            base, quote = split_concat(root)
        except FrameError:
            if m:
                return _asset(root), "BTC"
            raise
        return _asset(base), _asset(quote)

    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """Specs from ``/api/v1/instrument[/active]`` rows.

        ``isInverse`` -> inverse, 1 quote unit (USD/EUR) per contract;
        ``isQuanto`` -> quanto, ``multiplier`` satoshi per contract per price unit;
        otherwise linear, ``1 / underlyingToPositionMultiplier`` coins per contract
        (1 when absent), price quoted in ``quoteCurrency``.
        """
        out = []
        for row in msgspec.json.decode(body):
            sym = row.get("symbol")
            # perpetual (FFWCSX), future (FFCCSX), perpetual-FX (FFWCSF); rows without a
            # type or multiplier are not instrument definitions and are ignored
            if not isinstance(sym, str) or not sym or row.get("typ") not in ("FFWCSX", "FFCCSX", "FFWCSF"):
                continue
            if parse_number(row.get("multiplier")) is None:
                continue
            mark = parse_number(row.get("markPrice"))
            quote = (row.get("quoteCurrency") or "USD").upper()
            if row.get("isInverse"):
                out.append(ContractSpec(cls.name, sym, "inverse", 1.0, quote, mark_price=mark))
            elif row.get("isQuanto"):
                mult = parse_number(row.get("multiplier")) or 100.0
                out.append(ContractSpec(cls.name, sym, "quanto", abs(mult) * 1e-8, quote, mark_price=mark))
            else:
                utp = parse_number(row.get("underlyingToPositionMultiplier")) or 1.0
                out.append(ContractSpec(cls.name, sym, "linear", 1.0 / utp, quote, mark_price=mark))
        return out

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """Documented spec until ``/api/v1/instrument/active`` loads.

        Values from the recorded /api/v1/instrument/active response (cryptofeed
        sample_data/BITMEX.0, 2021-07-22): XBT*USD/EUR inverse 1 USD; ETHUSD quanto
        100 sat, LTCUSD 200, XRPUSD 20000, BCHUSD 100; XBT-quoted futures (ADAZ19,
        XRPU21, ETHU21) linear 1 coin (underlyingToPositionMultiplier 1). Unknown
        <X>USD: quanto 100 sat. USDT-margined linear perpetuals (listed since 2021; in
        the 2021 recording <X>USDT were still quanto): coins per contract =
        multiplier x 1e-6 = 1 / underlyingToPositionMultiplier -- XBTUSDT 1e-6,
        ETHUSDT 1e-5, BCHUSDT 1e-5, SOL/BNB/AVAX/LTC 1e-4, LINK/DOT 1e-3,
        XRP/DOGE/ADA 1e-2 (BitMEX contract specs, https://www.bitmex.com/app/contract/XBTUSDT;
        the same multipliers appear in the offline table of crypto-contract-value's
        bitmex.rs). Unknown <X>USDT: size UNKNOWN (NaN): the parser holds such
        liquidations until /instrument supplies it.
        """
        name = cls.name
        if symbol.startswith("XBT"):
            rest = symbol[3:]
            if rest.startswith(("USD", "EUR")) and not rest.startswith("USDT") or _MONTH.match(symbol):
                quote = "EUR" if rest.startswith("EUR") else "USD"
                return ContractSpec(name, symbol, "inverse", 1.0, quote, "fallback")
        if symbol in _FALLBACK_QUANTO:
            return ContractSpec(name, symbol, "quanto", _FALLBACK_QUANTO[symbol] * 1e-8, "USD", "fallback")
        if _MONTH.match(symbol) and "USD" not in symbol:
            return ContractSpec(name, symbol, "linear", 1.0, "XBT", "fallback")
        if symbol in _FALLBACK_LINEAR_USDT:
            return ContractSpec(name, symbol, "linear", _FALLBACK_LINEAR_USDT[symbol], "USDT", "fallback")
        if "USDT" in symbol:
            # sizes range over 1e-6..1 coin: no safe guess; NaN = unknown until /instrument loads
            return ContractSpec(name, symbol, "linear", math.nan, "USDT", "fallback")
        return ContractSpec(name, symbol, "quanto", 100e-8, "USD", "fallback")

    # ------------------------------------------------------------ declarative I/O
    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection: ``liquidation`` (all symbols, a request of its own) +
        ``instrument:XBTUSD`` (XBT price for conversions) + ``trade``/``quote``/``instrument``
        per symbol; text ``ping`` every 15 s."""
        topics = [Topic("liquidation", "liquidations"), Topic("instrument:XBTUSD", "tickers")]
        for s in dict.fromkeys(symbols or ()):
            topics.append(Topic(f"trade:{s}", "trades"))
            topics.append(Topic(f"quote:{s}", "tickers"))
            if s != "XBTUSD":
                topics.append(Topic(f"instrument:{s}", "tickers"))
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=topics,
                heartbeat=Heartbeat(15.0, "ping", is_pong=lambda t: t == "pong"),
                max_lifetime_s=None,
                stale_after_s=60.0,
            )
        ]

    def control(self, data: str) -> Control | None:
        """``success``/``subscribe`` per topic, or an error echoing the refused request."""
        if not data.startswith("{") or ('"subscribe"' not in data and '"error"' not in data) or '"table"' in data[:12]:
            return None
        msg = json_object(data)
        if msg is None or "table" in msg:
            return None
        req = msg.get("request") if isinstance(msg.get("request"), dict) else {}
        args = tuple(a for a in req.get("args") or () if isinstance(a, str))
        if msg.get("success") and isinstance(msg.get("subscribe"), str):
            return Control("ack", (msg["subscribe"],))
        if "error" in msg and req.get("op") == "subscribe":
            err = str(msg.get("error"))
            if "already subscribed" in err.lower():
                return Control("ack", args)
            return Control("reject", (), None, f"{msg.get('status')}: {err}", request_keys=args)
        return None

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """``/api/v1/instrument/active`` every 60 s: open interest + mark of all contracts."""
        return [RestPoll("instrument", f"{self.rest_url}/api/v1/instrument/active", 60.0, 1, 30)]

    # ------------------------------------------------------------ unit conversion
    def xbt_usd(self) -> float | None:
        """Current XBT/USD reference (see module docstring), or None."""
        if self._xbt:
            return self._xbt
        spec = self.contracts.get("bitmex", "XBTUSD")
        return spec.mark_price if spec.source != "fallback" and spec.mark_price else None

    def _convert(self, spec: ContractSpec, contracts: float, price: float) -> tuple[float, float] | None:
        """(quantity coins, value USD), or None when an XBT price is needed but
        unknown, or the contract size is unknown (fallback NaN, see module docstring)."""
        if not math.isfinite(spec.size):
            return None
        if spec.kind == "inverse":
            value = contracts * spec.size  # in the quote currency
            if spec.quote in USD_QUOTES:
                return value / price, value
            xbt = self.xbt_usd()  # XBTEUR: EUR contracts; coins x XBT/USD is the USD value
            if not xbt:
                return None
            return value / price, value / price * xbt
        if spec.kind == "quanto":
            xbt = self.xbt_usd()
            if not xbt:
                return None
            value = contracts * spec.size * price * xbt
            return value / price, value
        qty = contracts * spec.size
        if spec.quote in ("XBT", "XBt", "BTC"):
            xbt = self.xbt_usd()
            if not xbt:
                return None
            return qty, qty * price * xbt
        return qty, qty * price

    def _see_xbt(self, symbol: str, price: float | None) -> None:
        if symbol == "XBTUSD" and price and price > 0 and math.isfinite(price):
            self._xbt = price

    # ------------------------------------------------------------ parsing
    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        if data == "pong" or data == b"pong":
            return []
        hot = (b'"liquidation"' if type(data) is bytes else '"liquidation"') in data[:30]
        fast = typed(_liq_dec, data) if hot else None
        if fast is not None and fast.table == "liquidation":
            act = fast.action
            if act == "insert" or act == "partial":
                return self._release(rows_or_partial(fast.data, lambda row: self._liq(row, received_at)))
        msg = decode(data)
        if isinstance(msg, list):  # REST /instrument body: also refreshes contract specs
            specs = self.contract_specs(data)
            if specs:
                self.contracts.update(specs)
            out = self._instrument(msg, received_at)
        elif not isinstance(msg, dict):
            raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
        else:
            table = msg.get("table")
            if table is None:
                if "error" in msg:
                    raise FrameError(f"venue error: {msg.get('error')}")
                if "info" in msg or "success" in msg or "subscribe" in msg:
                    return []  # welcome / subscribe ack
                raise FrameError("frame without table")
            action = msg.get("action")
            rows = msg.get("data")
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise FrameError(f"{table}: data is not a list of objects")
            if table == "liquidation":
                if action == "update":
                    return self._release(rows_or_partial(rows, lambda row: self._grown(row, received_at)))
                if action == "delete":
                    for r in rows:
                        self._orders.pop(r.get("orderID"), None)  # type: ignore[arg-type]
                    return []
                if action not in ("insert", "partial"):
                    raise FrameError(f"unknown action {action!r}")
                out = rows_or_partial(rows, lambda row: self._liq(_row(row), received_at))
            elif table == "trade":
                if action not in ("insert", "partial"):
                    return []
                out = [self._trade(r, received_at) for r in rows]
            elif table == "instrument":
                out = self._instrument(rows, received_at)
            elif table == "quote":
                out = [self._quote(r, received_at) for r in rows] if action in ("insert", "partial") else []
            elif table in _IGNORED_TABLES:
                return []
            else:
                raise FrameError(f"unsupported table {table!r}")
        return self._release(out)

    def _release(self, out: list[Event]) -> list[Event]:
        """Prepend held liquidations that can now be valued: retried whenever an
        XBT/USD price first becomes known or the contract specs change; the ones
        still without a value stay held, in order."""
        if self._pending:
            state = (self.xbt_usd() is not None, self.contracts.version)
            if state != self._pending_state:
                self._pending_state = state
                held, self._pending = self._pending, []
                out = [e for r, t in held if (e := self._liq(r, t, track=False)) is not None] + out
        return out

    def drain(self, received_at: int) -> list[Event]:
        """The liquidations still held at the end of a stream (module doc): valued ones if a
        price came meanwhile, the others as ``unvalued`` :class:`~liqmap.models.Quarantined`."""
        out = self._release([])
        held, self._pending = self._pending, []
        for row, t in held:
            out.append(self._liq(row, t, hold=False))
        return self.gate.filter(out) if out else out

    def _grown(self, r: dict, received_at: int) -> Liquidation | None:
        """The extra liquidated size of an ``update`` raising an open order's ``leavesQty``
        above the largest seen (module doc), else None (a fill, or an order not seen)."""
        seen = self._orders.get(r.get("orderID"))  # type: ignore[arg-type]
        leaves = r.get("leavesQty")
        if seen is None or leaves is None:
            return None
        leaves = pos(leaves, "leavesQty")
        if leaves <= seen.leavesQty:
            return None
        price = r.get("price")
        price = seen.price if price is None else pos(price, "price")
        extra = _LiqRow(f"{seen.orderID}:grew:{leaves:.15g}", seen.symbol, seen.side, price, leaves - seen.leavesQty)
        self._orders[seen.orderID] = _LiqRow(seen.orderID, seen.symbol, seen.side, price, leaves)
        return self._liq(extra, received_at, track=False)

    def _track(self, row: _LiqRow) -> None:
        """Remember an open order's size (the largest seen), oldest forgotten beyond MAX_TRACKED."""
        seen = self._orders.get(row.orderID)
        if seen is not None and seen.leavesQty >= row.leavesQty:
            return
        if seen is None and len(self._orders) >= MAX_TRACKED:
            del self._orders[next(iter(self._orders))]
        self._orders[row.orderID] = row

    def _liq(self, row: _LiqRow, received_at: int, hold: bool = True, track: bool = True) -> Liquidation | Quarantined | None:
        """The event of one inserted order (or its growth); None while held for a value.
        ``hold=False`` (draining): a row that cannot be valued becomes ``unvalued`` Quarantined."""
        order_id, sym, side = row.orderID, row.symbol, row.side
        if not order_id or not sym:
            raise FrameError("liquidation row without orderID/symbol")
        pside = _POSITION.get(side)
        if pside is None:
            raise FrameError(f"unknown side {side!r}")
        price, contracts = row.price, row.leavesQty
        if not (0.0 < price < INF and 0.0 < contracts < INF):
            raise FrameError(f"invalid price/leavesQty {price!r}/{contracts!r}")
        base, quote = self._split_cache.get(sym) or self._split(sym)
        self._see_xbt(sym, price)
        if track:
            self._track(row)
        spec = self.contracts.get("bitmex", sym)
        conv = self._convert(spec, contracts, price)
        if conv is None:
            if not hold:  # end of the stream: stored apart with the value unknown, counted
                qty = contracts * spec.size if spec.kind == "linear" else math.nan
                return self.gate.unvalued(Liquidation(
                    "bitmex", sym, base, quote, pside, price, qty, math.nan, received_at, received_at,
                    f"bitmex:{order_id}", side, None, True,
                ))  # fmt: skip
            if len(self._pending) < MAX_PENDING:
                self._pending.append((row, received_at))
                return None
            raise FrameError(
                f"{sym}: liquidation {order_id} cannot be valued (no XBT/USD price or contract size "
                f"known) and {MAX_PENDING} are already held"
            )
        qty, value = conv
        return Liquidation(
            "bitmex", sym, base, quote, pside, price, qty, value, received_at, received_at,
            f"bitmex:{order_id}", side, None, True,
        )  # fmt: skip

    def _trade(self, r: dict, received_at: int) -> Trade:
        sym = r.get("symbol")
        if not isinstance(sym, str) or not sym:
            raise FrameError("trade without symbol")
        price = pos(r.get("price"), "price")
        size = pos(r.get("size"), "size")
        side = r.get("side")
        if side not in ("Buy", "Sell"):
            raise FrameError(f"unknown trade side {side!r}")
        self._see_xbt(sym, price)
        base, quote = self.base_quote(sym)
        home, foreign = r.get("homeNotional"), r.get("foreignNotional")
        if home is not None and foreign is not None:  # venue-computed coins / quote value
            qty, value = check_pos(num(home, "homeNotional"), "homeNotional"), num(foreign, "foreignNotional")
            if quote == "BTC":
                xbt = self.xbt_usd()
                value = value * xbt if xbt else math.nan
            elif quote not in USD_QUOTES and base == "BTC":  # XBTEUR: foreignNotional is EUR
                xbt = self.xbt_usd()
                value = qty * xbt if xbt else math.nan
        else:
            conv = self._convert(self.contracts.get("bitmex", sym), size, price)
            qty, value = conv if conv else (math.nan, math.nan)
        return Trade("bitmex", sym, base, quote, "buy" if side == "Buy" else "sell", price, qty, value,
                     iso_ms(r.get("timestamp")), received_at, f"bitmex:{r.get('trdMatchID')}")  # fmt: skip

    def _instrument(self, rows: list, received_at: int) -> list[Event]:
        out: list[Event] = []
        for r in rows:  # XBT price first: the other rows are valued with it
            if isinstance(r, dict) and r.get("symbol") == "XBTUSD":
                self._see_xbt("XBTUSD", opt(r.get("markPrice")) or opt(r.get("lastPrice")))
        for r in rows:
            if not isinstance(r, dict) or not isinstance(r.get("symbol"), str):
                raise FrameError("instrument row without symbol")
            sym = r["symbol"]
            mark = opt(r.get("markPrice"))
            last = opt(r.get("lastPrice"))
            if mark:
                self._mark[sym] = mark
            self._see_xbt(sym, mark or last)
            ts = iso_ms(r["timestamp"]) if r.get("timestamp") else received_at
            oi = opt(r.get("openInterest"))
            oi_base = None
            if oi is not None and oi >= 0:
                ref = self._mark.get(sym) or last
                try:
                    base, quote = self.base_quote(sym)
                except FrameError:
                    base = quote = ""
                if ref and base:
                    conv = self._convert(self.contracts.get("bitmex", sym), oi, ref) if oi > 0 else (0.0, 0.0)
                    if conv:
                        oi_base = conv[0]
                        out.append(OpenInterest("bitmex", sym, base, quote, conv[0], conv[1], ts, received_at))
            if mark or last or oi_base is not None or r.get("fundingRate") is not None or r.get("bidPrice"):
                out.append(self._instrument_ticker(r, sym, ts, received_at, oi_base, out))
        return out

    def _instrument_ticker(self, r: dict, sym: str, ts: int, received_at: int, oi_base: float | None,
                           out: list[Event]) -> Ticker:
        """The Ticker of one ``instrument`` row (``out`` holds its OpenInterest, if any)."""
        oi_usd = out[-1].open_interest_usd if oi_base is not None and isinstance(out[-1], OpenInterest) else None
        home, foreign = opt(r.get("homeNotional24h")), opt(r.get("foreignNotional24h"))
        quote = (r.get("quoteCurrency") or "").upper()
        vol_usd = foreign
        if foreign is not None and quote in ("XBT", "BTC"):
            xbt = self.xbt_usd()
            vol_usd = foreign * xbt if xbt else None
        elif foreign is not None and quote not in USD_QUOTES:
            vol_usd = None
        nxt = r.get("fundingTimestamp")
        return Ticker("bitmex", sym, ts, received_at, last_price=opt(r.get("lastPrice")),
                      mark_price=opt(r.get("markPrice")), index_price=opt(r.get("indicativeSettlePrice")),
                      funding_rate=opt(r.get("fundingRate")), open_interest=oi_base,
                      bid_price=opt(r.get("bidPrice")), ask_price=opt(r.get("askPrice")), volume_24h=home,
                      volume_24h_usd=vol_usd, next_funding_time=iso_ms(nxt) if nxt else None,
                      open_interest_usd=oi_usd)

    def _quote(self, r: dict, received_at: int) -> Ticker:
        """Best bid/ask of one ``quote`` row; sizes to coins (None while they cannot be valued)."""
        sym = r.get("symbol")
        if not isinstance(sym, str) or not sym:
            raise FrameError("quote row without symbol")
        bid, ask = opt(r.get("bidPrice")), opt(r.get("askPrice"))
        spec = self.contracts.get("bitmex", sym)
        sizes = []
        for px, key in ((bid, "bidSize"), (ask, "askSize")):
            n = opt(r.get(key))
            conv = self._convert(spec, n, px) if px and n is not None and n >= 0 else None
            sizes.append(conv[0] if conv else None)
        ts = iso_ms(r["timestamp"]) if r.get("timestamp") else received_at
        return Ticker("bitmex", sym, ts, received_at, bid_price=bid, bid_size=sizes[0], ask_price=ask, ask_size=sizes[1])


def _row(r: dict) -> _LiqRow:
    """Validate a generic-decoded liquidation row into the typed row."""
    oid, sym = r.get("orderID"), r.get("symbol")
    if not isinstance(oid, str) or not oid or not isinstance(sym, str) or not sym:
        raise FrameError("liquidation row without orderID/symbol")
    return _LiqRow(oid, sym, str(r.get("side")), pos(r.get("price"), "price"), pos(r.get("leavesQty"), "leavesQty"))


VENUES = (BitMEX,)
