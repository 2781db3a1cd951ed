"""Hyperliquid websocket: trades, asset contexts, and the liquidator vaults' fills.

Hyperliquid has NO public liquidation feed. What this adapter can and cannot see:

* CAN: every public trade (``trades`` per coin; ``side`` ``B`` = taker bought,
  ``A`` = taker sold; no liquidation flag), open interest and mark price
  (``activeAssetCtx``), and the fills of the liquidator vaults we subscribe
  with ``userFills`` (:data:`LIQUIDATORS`, configurable). Their fills that carry a
  ``liquidation`` object ``{liquidatedUser, markPx, method}`` are emitted as
  :class:`Liquidation` -- backstop liquidations and the liquidator's side of
  market liquidations it took part in.
* CANNOT: market (book) liquidations of other users filled by ordinary market
  participants. They look like ordinary trades in ``trades`` and are
  invisible here. Totals from this venue are therefore a LOWER BOUND.
  https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
  https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations

Liquidator vaults (:data:`LIQUIDATORS`): HLP Liquidator ``0x2e3d…dd14``, HLP
Liquidator 2/3/4 and the standalone Liquidator vault ``0x63c6…3a00``. Only
``0x2e3d…dd14`` appears in the official docs (as a child of the HLP vault in the
``vaultDetails`` example); the others and all the names are THIRD-PARTY
(tradingstrategy-ai web3-ethereum-defi ``eth_defi/hyperliquid/constants.py``,
"Source: Hyperliquid vaultDetails API", checked 2026-12). Check at any time with
``POST /info {"type":"vaultDetails","vaultAddress":"0xdfc24b077bc1425ad1dea75bcb6f8158e10df303"}``
(``childAddresses``); replace the list with ``LIQMAP_HYPERLIQUID_LIQUIDATORS`` (comma-separated
addresses) when it changes. User-specific subscriptions are limited to 10 distinct users
per IP (``Limits.users``): a longer list is refused at construction.
A public note reports the liquidator vaults without liquidation fills for months
(issue #12): with no liquidation for 24 h (:attr:`Hyperliquid.liquidation_silence_s`) health
warns that the addresses may be stale and how to check them.

Auto-deleveraging is not a liquidation. ADL fills carry ``"dir":"Auto-Deleveraging"``
and, for a liquidator vault being deleveraged, ``liquidation.liquidatedUser`` = the
liquidator itself (method ``backstop``; public S3 fills of 2025-10-10, notes in
exchanges.md §14). Such fills are DROPPED (counted in ``Hyperliquid.adl_fills``):
a liquidation is a fill with a ``liquidation`` object whose ``dir`` is not ADL and,
when the subscribed account is a liquidator vault, whose ``liquidatedUser`` is not a
liquidator vault.

Side rule for a liquidation fill (other modules rely on it):

* ``data.user`` (the subscribed account) == ``liquidation.liquidatedUser`` (an
  account other than a liquidator): the fill is the liquidated account's own
  closing order -> position LONG if the fill side is ``A`` (sold), SHORT if ``B``.
* otherwise the fill is the counterparty / liquidator taking the position
  over -> LONG if the fill side is ``B`` (the liquidator bought the long),
  SHORT if ``A``.

Units: ``px`` in USDC (taken at par with USD), ``sz`` in base coin; value_usd =
px x sz; timestamp = ``time`` (ms). Liquidation id = ``hyperliquid:{hash}:{tid}``
(fallback ``hyperliquid:{coin}:{time}:{px}:{sz}``). Trade id =
``hyperliquid:{coin}:{time}:{tid}``: ``tid`` is "a 50-bit hash of (buyer_oid,
seller_oid). For a globally unique trade id, use (block_time, coin, tid)" (the
``WsTrade`` definition of the official docs, as quoted by the SDKs), and ``time``
is the block time. ``userFills`` snapshot frames
(``isSnapshot``, sent on every (re)subscribe) are parsed too: they recover fills
missed during a disconnect; repeats de-duplicate by id. ``userEvents``
(channel ``user``) fills are handled the same way; its ``liquidation`` events carry
no coin or price and yield ``[]``. ``activeAssetCtx`` (``dayBaseVlm`` 24 h volume in coins,
``dayNtlVlm`` in USDC, ``funding`` the hourly rate; funding is paid every hour on the hour, so the
next funding time is the next full hour, https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding )
carries no time: its OpenInterest/Ticker use timestamp = received_at.

Protocol: one subscription per message; answer ``{"channel":"subscriptionResponse",
"data":{"method":"subscribe","subscription":{...}}}``; refusals come on channel
``error`` as text naming the subscription (e.g. ``Already subscribed: {...}``, which
counts as subscribed). Limits: 1000 subscriptions, 10 users, 2000 client messages a
minute per connection, 10 connections and 30 new ones a minute per IP. Heartbeat:
``{"method":"ping"}`` every 50 s (server closes after 60 s of silence).
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/timeouts-and-heartbeats
Listing: ``POST /info {"type":"meta"}`` -> ``universe[].name`` (``isDelisted`` skipped):
all-market mode follows every listed coin, refreshed hourly.
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import msgspec

from liqmap.exchanges._common import INF, MAX_TS, check_pos, check_ts, control_object, decode_object, ms, num, object_rows, opt, typed
from liqmap.exchanges.base import ConnectionSpec, Control, FrameError, Heartbeat, Limits, RecordingNames, Topic, Venue
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade
from liqmap.units import HOUR_MS

WS_URL = "wss://api.hyperliquid.xyz/ws"
REST_BASE = "https://api.hyperliquid.xyz"
#: HLP liquidator: the one address the official docs show (child of HLP vault 0xdfc24b07...).
LIQUIDATOR = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"
#: Liquidator vaults followed by default (module docstring: all but the first are
#: THIRD-PARTY identifications).
LIQUIDATORS: tuple[str, ...] = (
    LIQUIDATOR,  # HLP Liquidator
    "0xb0a55f13d22f66e6d495ac98113841b2326e9540",  # HLP Liquidator 2 [3P]
    "0x5e177e5e39c0f4e421f5865a6d8beed8d921cb70",  # HLP Liquidator 3 [3P]
    "0x2ed5c4484ea3ff8b57d5f2fb152a40d9f2b68308",  # HLP Liquidator 4 [3P]
    "0x63c621a33714ec48660e32f2374895c8026a3a00",  # Liquidator (standalone vault) [3P]
)
ADL_DIR = "Auto-Deleveraging"
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")


def configured_liquidators() -> tuple[str, ...]:
    """The liquidator accounts to follow: ``LIQMAP_HYPERLIQUID_LIQUIDATORS`` (comma-separated
    addresses; at most the venue's 10 user subscriptions) when set, else :data:`LIQUIDATORS`."""
    from liqmap.settings import get_settings

    text = get_settings().hyperliquid_liquidators
    if not text or not text.strip():
        return LIQUIDATORS
    return tuple(a.strip() for a in text.split(",") if a.strip())
DEFAULT_COINS: tuple[str, ...] = ("BTC", "ETH", "SOL", "HYPE", "XRP", "DOGE")


class _Trade(msgspec.Struct, gc=False):
    coin: str
    side: str
    px: float
    sz: float
    time: int
    tid: int = 0


class _Trades(msgspec.Struct, gc=False):
    channel: str
    data: list[_Trade]


_trades_dec = msgspec.json.Decoder(_Trades, strict=False)


class _LiqInfo(msgspec.Struct, gc=False):
    liquidatedUser: str | None = None
    method: str | None = None


class _Fill(msgspec.Struct, gc=False):
    coin: str
    px: float
    sz: float
    side: str
    time: int
    hash: str | None = None
    tid: int | None = None
    liquidation: _LiqInfo | None = None
    dir: str | None = None


class _FillsData(msgspec.Struct, gc=False):
    fills: list[_Fill]
    user: str | None = None


class _UserFills(msgspec.Struct, gc=False):
    channel: str
    data: _FillsData


_fills_dec = msgspec.json.Decoder(_UserFills, strict=False)


class Hyperliquid(Venue):
    """Hyperliquid (see module docstring for what is and is not visible).

    Args:
        contracts: unused (sizes are coins), accepted for uniformity.
        ws_url: full websocket URL, default ``wss://api.hyperliquid.xyz/ws``.
        rest_url: REST base (``/info``), default ``https://api.hyperliquid.xyz``.
        liquidators: accounts whose fills are subscribed (default :func:`configured_liquidators`:
            ``LIQMAP_HYPERLIQUID_LIQUIDATORS``, else :data:`LIQUIDATORS`).
        liquidator: one account instead of the list (kept for callers of one address).

    Raises:
        ValueError: no account, more than the venue's user-subscription limit (10), or a
            malformed address.
    """

    name = "hyperliquid"
    color = "#97fce4"
    #: Event times before this are implausible (the gate): Hyperliquid's perpetuals opened in late 2022 (alpha) / 2023; the first day of
    #: that year, 2022-01-01 UTC, to stay clear of the exact date.
    launched_ms = 1640995200000
    #: taker fee, base tier: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees (perps, tier 0: 0.045 %)
    taker_fee_bps = 4.5
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "lower_bound"  # backstop liquidations only (module docstring)
    rest_liquidations = False
    default_ws = WS_URL
    default_rest = REST_BASE
    #: Perpetuals are named by coin and margined in USDC, which serves the USDT family too.
    quote_families = {"USDT": "USDC", "USDC": "USDC"}
    #: One subscription a message; 1000 subscriptions and 10 users per connection/IP;
    #: 2000 messages a minute (20/s kept); 30 new connections a minute.
    limits = Limits(args_per_subscribe=1, topics_per_connection=1000, subscribes_per_s=20.0,
                    connections_per_s=0.5, users=10)  # fmt: skip
    instruments = (("/info", {"type": "meta"}),)
    label = "ws"
    recordings = RecordingNames(cryptofeed=("HYPERLIQUID",), tardis=("hyperliquid",))

    #: a day without any liquidation fill of the followed accounts: health warns (module doc)
    liquidation_silence_s = 24 * 3600.0

    def __init__(self, *args: Any, liquidators: Sequence[str] | None = None, liquidator: str | None = None,
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(*args, **kw)
        accounts = [liquidator] if liquidator else list(liquidators if liquidators is not None else configured_liquidators())
        self.liquidators = tuple(dict.fromkeys(a.strip().lower() for a in accounts))
        if not self.liquidators or len(self.liquidators) > (self.limits.users or 10):
            raise ValueError(f"hyperliquid: 1 to {self.limits.users} liquidator accounts, got {len(self.liquidators)}")
        bad = [a for a in self.liquidators if not _ADDRESS.fullmatch(a)]
        if bad:
            raise ValueError(f"hyperliquid: not an account address (0x + 40 hex digits): {bad[:3]}")
        self.liquidator = self.liquidators[0]
        self._liquidator_set = frozenset(self.liquidators)
        #: Auto-deleveraging fills seen and dropped (module docstring).
        self.adl_fills = 0

    def silence_hint(self) -> str:
        """How to check the followed liquidator addresses (module doc)."""
        return (f"the liquidator addresses ({len(self.liquidators)}) may be stale; check POST {self.rest_url}/info "
                '{"type":"vaultDetails","vaultAddress":"0xdfc24b077bc1425ad1dea75bcb6f8158e10df303"} '
                "(childAddresses) and set LIQMAP_HYPERLIQUID_LIQUIDATORS")

    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """``BTC`` -> ``["BTC"]`` (perpetuals are named by coin, quoted in USDC)."""
        return [base.upper()]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``BTC`` -> (BTC, USDC): a perpetual is named by its coin."""
        if not symbol:
            raise FrameError("empty Hyperliquid coin")
        return symbol, "USDC"

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """One connection (the feed opens more past 1000 subscriptions): ``userFills``
        of each liquidator vault, ``trades`` and ``activeAssetCtx`` per coin (the given
        ones, else every listed coin; the majors while no listing is loaded); ping every 50 s."""
        if symbols:
            coins = list(dict.fromkeys(symbols))
        else:
            coins = sorted(self.listing) if self.listing else list(DEFAULT_COINS)
        topics = [_topic({"type": "userFills", "user": u}, "liquidations") for u in self.liquidators]
        for c in coins:
            topics.append(_topic({"type": "trades", "coin": c}, "trades"))
            topics.append(_topic({"type": "activeAssetCtx", "coin": c}, "open_interest"))
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                topics=topics,
                heartbeat=Heartbeat(50.0, '{"method":"ping"}', is_pong=lambda t: '"pong"' in t),
                max_lifetime_s=None,
                stale_after_s=120.0,
            )
        ]

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """``{"method":"subscribe","subscription":{...}}`` (one subscription a message)."""
        (topic,) = topics
        return msgspec.json.encode({"method": "subscribe", "subscription": topic.request_arg}).decode()

    def control(self, data: str) -> Control | None:
        """``subscriptionResponse`` (ack) or an ``error`` naming the subscription."""
        msg = control_object(data, 40, '"subscriptionResponse"', '"error"')
        if msg is None:
            return None
        body = msg.get("data")
        if msg.get("channel") == "subscriptionResponse" and isinstance(body, dict):
            if body.get("method") != "subscribe":
                return None
            return Control("ack", (_key(body.get("subscription")),))
        if msg.get("channel") == "error":
            text_ = str(body)
            sub = None
            if "{" in text_:
                try:
                    sub = msgspec.json.decode(text_[text_.index("{"):])
                except msgspec.DecodeError:
                    sub = None
            keys = (_key(sub),) if isinstance(sub, dict) else ()
            if "already subscribed" in text_.lower():
                return Control("ack", keys)
            return Control("reject", keys, None, text_)
        return None

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """``universe[].name`` of a ``meta`` response, delisted coins left out."""
        meta = msgspec.json.decode(body)
        rows = meta.get("universe") if isinstance(meta, dict) else None
        return [r["name"] for r in rows or () if isinstance(r, dict) and r.get("name") and not r.get("isDelisted")]

    # ------------------------------------------------------------ parsing
    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        probe = data[:30]
        is_str = type(probe) is str
        if ('"trades"' if is_str else b'"trades"') in probe:
            msg = typed(_trades_dec, data)
            if msg is not None and msg.channel == "trades":
                return [self._trade(t, received_at) for t in msg.data]
        elif ('"userFills"' if is_str else b'"userFills"') in probe:
            uf = typed(_fills_dec, data)
            if uf is not None and uf.channel == "userFills":
                user = (uf.data.user or self.liquidator).lower()
                return [self._fill(f, user, received_at) for f in uf.data.fills if self._is_liquidation(f, user)]
        return self._generic(decode_object(data), received_at)

    def _trade(self, t: _Trade, received_at: int) -> Trade:
        px = check_pos(t.px, "px")
        sz = check_pos(t.sz, "sz")
        if t.side == "B":
            side = "buy"
        elif t.side == "A":
            side = "sell"
        else:
            raise FrameError(f"unknown trade side {t.side!r}")
        if not t.coin:
            raise FrameError("trade without coin")
        return Trade("hyperliquid", t.coin, t.coin, "USDC", side, px, sz, px * sz, check_ts(t.time), received_at,
                     f"hyperliquid:{t.coin}:{t.time}:{t.tid}")  # fmt: skip  # (block time, coin, tid): unique

    def _generic(self, msg: dict, received_at: int) -> list[Event]:
        ch = msg.get("channel")
        data = msg.get("data")
        if ch in ("subscriptionResponse", "pong"):
            return []
        if ch == "error":
            raise FrameError(f"venue error: {data!r}")
        if ch == "trades":
            out: list[Event] = []
            for d in object_rows(data, "trades data", "trade"):
                t = _Trade(coin=str(d.get("coin") or ""), side=str(d.get("side")), px=num(d.get("px"), "px"),
                           sz=num(d.get("sz"), "sz"), time=ms(d.get("time"), "time"), tid=int(d.get("tid") or 0))  # fmt: skip
                out.append(self._trade(t, received_at))
            return out
        if ch == "userFills":
            if not isinstance(data, dict):
                raise FrameError("userFills data is not an object")
            user = data.get("user")
            return self._fills(data.get("fills"), user if isinstance(user, str) else self.liquidator, received_at)
        if ch == "user":  # userEvents
            if not isinstance(data, dict):
                raise FrameError("user event data is not an object")
            if "fills" in data:
                return self._fills(data["fills"], self.liquidator, received_at)
            return []  # funding / liquidation summary (no coin, no price) / nonUserCancel
        if ch == "activeAssetCtx":
            return self._ctx(data, received_at)
        if ch in ("l2Book", "bbo", "allMids", "candle", "notification", "webData2", "orderUpdates"):
            return []
        raise FrameError(f"unsupported channel {ch!r}")

    def _fill(self, f: _Fill, user: str, received_at: int) -> Liquidation:
        """One liquidation fill (typed fast path); side rule in the module docstring."""
        px, sz, side, ts = f.px, f.sz, f.side, f.time
        if not (0.0 < px < INF and 0.0 < sz < INF):
            raise FrameError(f"invalid px/sz {px!r}/{sz!r}")
        if side != "A" and side != "B":
            raise FrameError(f"unknown fill side {side!r}")
        if not f.coin:
            raise FrameError("fill without coin")
        if not 0 <= ts < MAX_TS:
            raise FrameError(f"timestamp out of range: {ts!r}")
        liq = f.liquidation
        liquidated = liq.liquidatedUser if liq is not None else None
        if liquidated is not None and liquidated.lower() == user:
            pside = "long" if side == "A" else "short"  # the liquidated account's own closing order
        else:
            pside = "long" if side == "B" else "short"  # counterparty / liquidator takes the position over
        if f.hash and f.tid is not None:
            fid = f"hyperliquid:{f.hash}:{f.tid}"
        else:
            fid = f"hyperliquid:{f.coin}:{ts}:{px!r}:{sz!r}"
        return Liquidation("hyperliquid", f.coin, f.coin, "USDC", pside, px, sz, px * sz, ts, received_at, fid,
                           side, liq.method if liq is not None and liq.method else None)  # fmt: skip

    def _fills(self, fills: object, user: str, received_at: int) -> list[Event]:
        """Generic path (userEvents, unusual layouts): same rules as :meth:`_fill`."""
        if not isinstance(fills, list):
            raise FrameError("fills is not a list")
        user = user.lower()
        out: list[Event] = []
        for f in fills:
            fill = msgspec.convert(f, _Fill, strict=False)
            if self._is_liquidation(fill, user):  # else: ordinary fill (the vault unwinding) or ADL
                out.append(self._fill(fill, user, received_at))
        return out

    def _is_liquidation(self, f: _Fill, user: str) -> bool:
        """A fill with a ``liquidation`` object that is not auto-deleveraging (module docstring)."""
        liq = f.liquidation
        if liq is None:
            return False
        liquidated = (liq.liquidatedUser or "").lower()
        if f.dir == ADL_DIR or (user in self._liquidator_set and liquidated in self._liquidator_set):
            self.adl_fills += 1
            return False
        return True

    def _ctx(self, data: object, received_at: int) -> list[Event]:
        if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
            raise FrameError("activeAssetCtx without ctx")
        coin = data.get("coin")
        if not isinstance(coin, str) or not coin:
            raise FrameError("activeAssetCtx without coin")
        ctx = data["ctx"]
        mark = opt(ctx.get("markPx"))
        oi = opt(ctx.get("openInterest"))
        out: list[Event] = []
        if oi is not None:
            out.append(OpenInterest("hyperliquid", coin, coin, "USDC", oi, oi * mark if mark else None, received_at, received_at))
        out.append(
            Ticker("hyperliquid", coin, received_at, received_at, mark_price=mark, index_price=opt(ctx.get("oraclePx")),
                   funding_rate=opt(ctx.get("funding")), open_interest=oi, volume_24h=opt(ctx.get("dayBaseVlm")),
                   volume_24h_usd=opt(ctx.get("dayNtlVlm")), next_funding_time=received_at // HOUR_MS * HOUR_MS + HOUR_MS,
                   open_interest_usd=out[0].open_interest_usd if out else None)
        )  # fmt: skip
        return out


def _key(sub: object) -> str:
    """Topic key of a subscription object: ``type:coin`` or ``type:user`` (lower case)."""
    if not isinstance(sub, dict):
        return ""
    user = sub.get("user")
    return f"{sub.get('type')}:{user.lower() if isinstance(user, str) else sub.get('coin') or ''}"


def _topic(sub: dict, kind: str) -> Topic:
    return Topic(_key(sub), kind, sub)


VENUES = (Hyperliquid,)
