"""HTX (Huobi) USDT-margined and coin-margined swaps (``htx``): the ``liquidation_orders``
notification topics.

Protocol facts (official docs: huobiapi/docs, branches ``usdt_swap_en`` @ d55c86c7 and
``coin_margined_swap_en`` @ 6014cb4b (2021), the source of the HTX API pages, now at
https://www.htx.com/en-us/opend/newApiPages/ -- "[General] Subscribe Liquidation Orders (no
authentication)", id 8cb7e25d-77b5-11ed-9966-0242ac110003 (USDT-M) and 28c34bd5-... (coin-M)):

* Notification websockets: USDT-margined ``wss://api.hbdm.com/linear-swap-notification``,
  coin-margined ``wss://api.hbdm.com/swap-notification`` (two connections, labels
  ``linear`` and ``inverse``). **Every frame is gzip-compressed binary**
  (:meth:`HTX.frame_text` gunzips it once; recordings hold the text).
* Subscribe ``{"op":"sub","cid":"<id>","topic":"public.*.liquidation_orders"}`` (``*`` =
  every contract, no authentication); answer ``{"op":"sub","cid","topic","ts","err-code":0}``,
  an error carries ``err-code`` != 0 and ``err-msg``. ``2014 Repeated subscription.`` is
  not a fault (third-party live capture, tests/fixtures/htx).
* Heartbeat: the server sends ``{"op":"ping","ts":"<ms as text>"}`` every 5 s; the client
  answers ``{"op":"pong","ts":<the same value>}`` (:meth:`HTX.auto_reply`); 5 unanswered
  pings close the connection (``{"op":"close"}``).
* Push ``{"op":"notify","topic":"public.ETH-USDT.liquidation_orders","ts":ms,"data":[{symbol,
  contract_code, direction, offset, volume, price, created_at, amount, trade_turnover}]}``.
  ``price`` is the bankruptcy price; ``created_at`` ms. ``direction`` is documented only as
  "Long or short" with values buy/sell while ``offset`` is always ``close``: a closing
  order's side, so ``buy`` closes a SHORT and ``sell`` closes a LONG (tardis-node maps it the
  same way). Units: USDT-M ``volume`` contracts, ``amount`` base coin (volume x
  contract_size), ``trade_turnover`` USDT -- the real 2026-09 frame checks: 500 contracts x
  0.01 = 5 ETH, 5 x 2446.26 = 12231.3. Coin-M: ``volume`` contracts of ``contract_size``
  USD (BTC 100, others 10), ``amount`` coins (volume x size / price: the documented example
  173 x 100 / 17102.9 = 1.0115 BTC); 2020 frames carry no ``amount``.
* Sampling: the docs do not say the topic carries every liquidation: ``lower_bound``.
* Contract sizes: ``GET /linear-swap-api/v1/swap_contract_info`` and
  ``/swap-api/v1/swap_contract_info`` -> ``data[]`` ``contract_code``, ``contract_size``
  (base coin per USDT-M contract; USD per coin-M contract), ``contract_status`` (1 = listing).
* Open interest: ``GET /linear-swap-api/v1/swap_open_interest`` and
  ``/swap-api/v1/swap_open_interest`` -> ``data[]`` ``contract_code``, ``volume``
  (contracts), ``amount`` (coins), ``value`` (USDT, USDT-M only), ``ts``; polled every 60 s
  (REST market data: 800 requests/s per IP). Trades and klines live on the separate market
  websockets (``/linear-swap-ws``, ``/swap-ws``) and are not collected here.
* Public liquidation history: ``/linear-swap-api/v3/swap_liquidation_orders`` exists, but
  its response fields are not in the docs we have: ``rest_liquidations = False``.

id = ``htx:{contract_code}:{created_at}:{direction}:{volume}:{price}``; identical rows in one
frame get ``#2``, ``#3`` (``frame_repeats_are_distinct``).
"""

from __future__ import annotations

import gzip
import re
import zlib
from typing import Any, Sequence
from urllib.parse import urlsplit

import msgspec

from liqmap.exchanges._common import INF, decode_object, dict_rows, json_object, ms, num, opt, pos, position_side, rows_or_partial, text, typed
from liqmap.exchanges.base import ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, RestPoll, Topic, Venue
from liqmap.exchanges.contracts import ContractSpec, parse_number
from liqmap.models import Event, Liquidation, OpenInterest

WS_BASE = "wss://api.hbdm.com"
REST_BASE = "https://api.hbdm.com"
TOPIC = "public.*.liquidation_orders"
#: connection label -> (websocket path, contract-info path, open-interest path)
MARGINS: dict[str, tuple[str, str, str]] = {
    "linear": ("/linear-swap-notification", "/linear-swap-api/v1/swap_contract_info", "/linear-swap-api/v1/swap_open_interest"),
    "inverse": ("/swap-notification", "/swap-api/v1/swap_contract_info", "/swap-api/v1/swap_open_interest"),
}  # fmt: skip
_POSITION = {"sell": "long", "buy": "short"}  # closing order side -> position closed
_PING_TS = re.compile(r'"ts"\s*:\s*("?[0-9]+"?)')


class _Row(msgspec.Struct, gc=False):
    contract_code: str
    direction: str
    volume: float
    price: float
    created_at: int
    amount: float | None = None
    trade_turnover: float | None = None


class _Notify(msgspec.Struct, gc=False):
    op: str
    data: list[_Row]


_notify_dec = msgspec.json.Decoder(_Notify, strict=False)


class HTX(Venue):
    """HTX USDT- and coin-margined swaps (see module docstring).

    Args:
        contracts: contract sizes (``contract_size``) registry.
        ws_url: websocket base, default ``wss://api.hbdm.com`` (paths appended).
        rest_url: REST base, default ``https://api.hbdm.com``.
        margins: which notification sockets to open (``linear``, ``inverse``).
    """

    name = "htx"
    color = "#1b67f6"  # HTX blue
    frame_repeats_are_distinct = True
    capabilities = ("liquidations", "open_interest")
    sampling = "lower_bound"  # completeness not documented
    rest_liquidations = False
    launched_ms = 1_577_836_800_000  # coin-margined swaps launched 2020
    default_ws = WS_BASE
    default_rest = REST_BASE
    #: 40 subscriptions/s per connection (docs), paced at 5; one topic a request.
    limits = Limits(args_per_subscribe=1, subscribes_per_s=5.0)
    quote_families = {"USDT": "USDT", "USD": "USD"}
    #: ``BTC`` -> ``BTC-USDT``, ``BTC-USD``; ``BTC-USDT`` -> (BTC, USDT).
    symbol_format = "{base}-{quote}"
    symbol_quotes = ("USDT", "USD")
    symbol_sep = "-"
    instruments = (MARGINS["linear"][1], MARGINS["inverse"][1])
    label = "linear"
    recordings = RecordingNames(tardis=("huobi-dm-swap", "huobi-dm-linear-swap"), hosts=("api.hbdm.vn", "api.btcgateway.pro"))

    def __init__(self, *args: Any, margins: Sequence[str] = tuple(MARGINS), **kw: Any) -> None:
        self.margins = tuple(margins)
        super().__init__(*args, **kw)

    # ------------------------------------------------------------ symbols and contracts
    @classmethod
    def contract_specs(cls, body: str | bytes) -> list[ContractSpec]:
        """``data[]`` of ``swap_contract_info``: ``-USDT`` contracts linear (coins), ``-USD``
        contracts inverse (USD)."""
        out = []
        for row in msgspec.json.decode(body).get("data") or []:
            code, size = row.get("contract_code"), parse_number(row.get("contract_size"))
            if not code or not size:
                continue
            inverse = code.upper().endswith("-USD")
            out.append(ContractSpec(cls.name, code.upper(), "inverse" if inverse else "linear", size, "USD" if inverse else "USDT"))
        return out

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """Contracts listing (``contract_status`` 1)."""
        rows = msgspec.json.decode(body).get("data") or []
        return [r["contract_code"] for r in rows if isinstance(r, dict) and r.get("contract_code")
                and r.get("contract_status", 1) == 1]  # fmt: skip

    @classmethod
    def contract_fallback(cls, symbol: str) -> ContractSpec:
        """Coin-M until the contract info loads: BTC-USD 100 USD, others 10 USD (coin-M
        contract_info, and the documented example checks with 100). USDT-M: UNKNOWN per
        contract (BTC 0.001, ETH 0.01 in the docs' examples): 1 coin assumed, but a USDT-M
        row carries ``amount`` (coins) and ``trade_turnover`` (USDT), which are used instead."""
        s = symbol.upper()
        if s.endswith("-USD"):
            return ContractSpec(cls.name, symbol, "inverse", 100.0 if s.startswith("BTC-") else 10.0, "USD", "fallback")
        return ContractSpec(cls.name, symbol, "linear", 1.0, "USDT", "fallback")

    @classmethod
    def connection_label(cls, url: str | None = None, message: Any = None) -> str:
        """``inverse`` for the coin-margined socket (``/swap-notification``) or a ``-USD``
        contract's notification, else ``linear``."""
        if url is not None:
            return "inverse" if urlsplit(url).path.rstrip("/").endswith("/swap-notification") else "linear"
        topic = message.get("topic") if isinstance(message, dict) else None
        return "inverse" if isinstance(topic, str) and "-USD." in topic else "linear"

    # ------------------------------------------------------------ declarative I/O
    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One notification socket per margin kind, ``public.*.liquidation_orders`` on each
        (every contract; server pings answered in-band)."""
        return [
            ConnectionSpec(
                label=m,
                url=f"{self.ws_url}{MARGINS[m][0]}",
                topics=(Topic(TOPIC, "liquidations"),),
                heartbeat=Heartbeat(None),  # server pings every 5 s, answered by auto_reply
                stale_after_s=30.0,  # pings every 5 s keep a healthy socket busy
            )
            for m in self.margins
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"op":"sub","cid":"<request id>","topic":...}`` (one topic a request)."""
        return msgspec.json.encode({"op": "sub", "cid": str(request_id), "topic": topics[0].key}).decode()

    def control(self, data: str) -> Control | None:
        """``op: sub`` answers (by ``cid``); ``err-code`` 2014 (repeated) is an ack."""
        if not data.startswith('{"op":"sub"'):
            return None
        msg = json_object(data)
        if msg is None:
            return None
        topic, cid, code = msg.get("topic"), msg.get("cid"), msg.get("err-code", 0)
        keys = (topic,) if isinstance(topic, str) and topic else ()
        if code in (0, 2014, "0", "2014"):
            return Control("ack", keys, str(cid) if cid is not None else None)
        return Control("reject", keys, str(cid) if cid is not None else None, f"{code}: {msg.get('err-msg')}")

    def frame_text(self, data: bytes) -> str:
        """Every HTX frame is gzip; plain text passes (recordings, tests).

        Raises:
            ValueError: bytes that are neither gzip of UTF-8 text nor UTF-8 text.
        """
        if data[:2] == b"\x1f\x8b":
            try:
                return gzip.decompress(data).decode("utf-8")
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"bad gzip frame: {exc}") from exc
        return data.decode("utf-8")

    def auto_reply(self, data: str) -> str | None:
        """``{"op":"pong","ts":<the ping's ts, as sent>}`` for ``{"op":"ping",...}``."""
        if not data.startswith('{"op":"ping"'):
            return None
        m = _PING_TS.search(data)
        return f'{{"op":"pong","ts":{m.group(1)}}}' if m else None

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """Open interest of every contract of each margin kind, every 60 s."""
        return [RestPoll(label=f"oi:{m}", url=f"{self.rest_url}{MARGINS[m][2]}", interval_s=60.0, limit_per_min=600)
                for m in self.margins]  # fmt: skip

    # ------------------------------------------------------------ parsing
    def _liq(self, r: _Row, received_at: int) -> Liquidation:
        code, direction, volume, price, ts = r.contract_code, r.direction, r.volume, r.price, r.created_at
        pside = position_side(price, volume, ts, direction, _POSITION, "price/volume", 1)
        _, base, quote, inverse, size = self._contract(code)
        amount, turnover = r.amount, r.trade_turnover
        if inverse:  # USD contracts
            value = volume * size
            qty = amount if amount and 0.0 < amount < INF else value / price
        elif amount and 0.0 < amount < INF:  # USDT-M: amount is coins, turnover USDT
            qty = amount
            value = turnover if turnover and 0.0 < turnover < INF else amount * price
        else:
            qty = volume * size
            value = qty * price
        return Liquidation(
            "htx", code, base, quote, pside, price, qty, value, ts, received_at,
            f"htx:{code}:{ts}:{direction}:{volume!r}:{price!r}", direction, None,
        )  # fmt: skip

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        if (b'"notify"' if isinstance(data, bytes) else '"notify"') in data[:20]:
            msg = typed(_notify_dec, data)
            if msg is not None:
                try:
                    return [self._liq(r, received_at) for r in msg.data]
                except FrameError:
                    pass  # a bad row: the generic path keeps the others
        return self._generic(decode_object(data), received_at)

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        op = msg.get("op")
        if op in ("ping", "pong", "sub", "unsub", "close"):
            code = msg.get("err-code", 0)
            if op in ("sub", "unsub") and code not in (0, 2014, "0", "2014"):
                raise FrameError(f"venue error {code}: {msg.get('err-msg')}")
            return []
        if op == "notify":
            return rows_or_partial(dict_rows(msg.get("data")), lambda r: self._liq(_Row(
                contract_code=text(r.get("contract_code"), "contract_code"), direction=str(r.get("direction")),
                volume=pos(r.get("volume"), "volume"), price=pos(r.get("price"), "price"),
                created_at=ms(r.get("created_at"), "created_at"), amount=opt(r.get("amount")),
                trade_turnover=opt(r.get("trade_turnover"))), received_at))  # fmt: skip
        if "status" in msg and isinstance(msg.get("data"), list):  # REST swap_open_interest
            if msg.get("status") != "ok":
                raise FrameError(f"venue error {msg.get('err_code')}: {msg.get('err_msg')}")
            return [e for r in msg["data"] if isinstance(r, dict) and (e := self._oi(r, msg, received_at))]
        raise FrameError(f"unknown HTX frame (op {op!r})")

    def _oi(self, r: dict, msg: dict, received_at: int) -> OpenInterest | None:
        code = text(r.get("contract_code"), "contract_code")
        amount = opt(r.get("amount"))
        if amount is None or amount < 0:
            return None
        base, quote = self.base_quote(code)
        ts = ms(msg.get("ts") or received_at, "ts")
        value = opt(r.get("value"))
        if value is None and code.upper().endswith("-USD"):
            value = num(r.get("volume"), "volume") * self._contract(code)[4]
        return OpenInterest("htx", code, base, quote, amount, value, ts, received_at)


VENUES = (HTX,)
