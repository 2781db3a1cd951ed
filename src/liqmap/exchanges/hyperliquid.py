"""Hyperliquid websocket: trades, asset contexts, and the liquidator's fills.

Hyperliquid has NO public liquidation feed. What this adapter can and cannot see:

* CAN: every public trade (``trades`` per coin; ``side`` ``B`` = taker bought,
  ``A`` = taker sold; no liquidation flag), open interest and mark price
  (``activeAssetCtx``), and the fills of ONE account we subscribe with
  ``userFills``: the HLP liquidator ``0x2e3d94f0562703b25c83308a05046ddaf9a8dd14``.
  That address is a child of the HLP vault per the official ``vaultDetails``
  example; its identification as *the liquidator* is THIRD-PARTY (trackers,
  not official docs). Its fills that carry a ``liquidation`` object
  ``{liquidatedUser, markPx, method}`` are emitted as :class:`Liquidation`
  -- these are backstop liquidations and the liquidator's side of market
  liquidations it took part in.
* CANNOT: market (book) liquidations of other users filled by ordinary market
  participants. They look like ordinary trades in ``trades`` and are
  invisible here (confirming them needs each user's fills; the API allows
  only 10 users per IP). Totals from this venue are therefore a LOWER BOUND.
  https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
  https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations

Side rule for a liquidation fill (other modules rely on it):

* ``data.user`` (the subscribed account) == ``liquidation.liquidatedUser``:
  the fill is the liquidated account's own closing order -> position LONG if
  the fill side is ``A`` (sold), SHORT if ``B``.
* otherwise the fill is the counterparty / liquidator taking the position
  over -> LONG if the fill side is ``B`` (the liquidator bought the long),
  SHORT if ``A``.

Units: ``px`` in USDC (taken at par with USD), ``sz`` in base coin; value_usd =
px x sz; timestamp = ``time`` (ms). id = ``hyperliquid:{hash}:{tid}`` (fallback
``hyperliquid:{coin}:{time}:{px}:{sz}``). ``userFills`` snapshot frames
(``isSnapshot``, sent on every (re)subscribe) are parsed too: they recover fills
missed during a disconnect; repeats de-duplicate by id. ``userEvents``
(channel ``user``) fills are handled the same way (subscribed user = the
configured liquidator); its ``liquidation`` events carry no coin or price and
yield ``[]``. ``activeAssetCtx`` carries no time: its OpenInterest/Ticker
use timestamp = received_at. Heartbeat: ``{"method":"ping"}`` every 50 s (server closes after
60 s of silence). https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/timeouts-and-heartbeats
"""

from __future__ import annotations

from typing import Sequence

import msgspec

from liqmap.exchanges._common import INF, MAX_TS, check_pos, check_ts, decode, ms, num, opt
from liqmap.exchanges.base import ConnectionSpec, FrameError, Heartbeat, RecordingNames, Venue
from liqmap.exchanges.contracts import ContractSizes
from liqmap.models import Event, Liquidation, OpenInterest, Ticker, Trade

WS_URL = "wss://api.hyperliquid.xyz/ws"
REST_BASE = "https://api.hyperliquid.xyz"
#: HLP liquidator (third-party identification; child of HLP vault 0xdfc24b07...).
LIQUIDATOR = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"
DEFAULT_COINS: tuple[str, ...] = ("BTC", "ETH", "SOL", "HYPE", "XRP", "DOGE")


class _Trade(msgspec.Struct, gc=False):
    coin: str
    side: str
    px: float
    sz: float
    time: int
    tid: int = 0
    hash: str = ""


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
        liquidator: account whose fills are subscribed (default the HLP liquidator).
    """

    name = "hyperliquid"
    color = "#97fce4"
    capabilities = ("liquidations", "trades", "open_interest", "mark_price", "tickers")
    sampling = "lower_bound"  # backstop liquidations only (module docstring)
    rest_liquidations = False
    default_ws = WS_URL
    default_rest = REST_BASE
    #: Perpetuals are named by coin and margined in USDC, which serves the USDT family too.
    quote_families = {"USDT": "USDC", "USDC": "USDC"}
    label = "ws"
    recordings = RecordingNames(cryptofeed=("HYPERLIQUID",), tardis=("hyperliquid",))

    def __init__(
        self,
        contracts: ContractSizes | None = None,
        ws_url: str | None = None,
        rest_url: str | None = None,
        liquidator: str = LIQUIDATOR,
    ) -> None:
        super().__init__(contracts, ws_url, rest_url)
        self.liquidator = liquidator.lower()

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
        """One connection: ``userFills`` of the liquidator, ``trades`` and
        ``activeAssetCtx`` per coin (default majors); ping every 50 s."""
        coins = list(symbols) if symbols else list(DEFAULT_COINS)
        subs = [_sub({"type": "userFills", "user": self.liquidator})]
        for c in coins:
            subs.append(_sub({"type": "trades", "coin": c}))
            subs.append(_sub({"type": "activeAssetCtx", "coin": c}))
        return [
            ConnectionSpec(
                label=self.label,
                url=self.ws_url,
                subscribe=subs,
                heartbeat=Heartbeat(50.0, '{"method":"ping"}', is_pong=lambda t: '"pong"' in t),
                max_lifetime_s=None,
                stale_after_s=120.0,
            )
        ]

    # ------------------------------------------------------------ parsing
    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        probe = data[:30]
        is_bytes = isinstance(probe, bytes)
        if (b'"trades"' if is_bytes else '"trades"') in probe:
            try:
                msg = _trades_dec.decode(data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass
            else:
                if msg.channel == "trades":
                    return [self._trade(t, received_at) for t in msg.data]
        elif (b'"userFills"' if is_bytes else '"userFills"') in probe:
            try:
                uf = _fills_dec.decode(data)
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass
            else:
                if uf.channel == "userFills":
                    user = (uf.data.user or self.liquidator).lower()
                    return [self._fill(f, user, received_at) for f in uf.data.fills if f.liquidation is not None]
        return self._generic(decode(data), received_at)

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
                     f"hyperliquid:{t.coin}:{t.tid}")  # fmt: skip

    def _generic(self, msg: object, received_at: int) -> list[Event]:
        if not isinstance(msg, dict):
            raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
        ch = msg.get("channel")
        data = msg.get("data")
        if ch in ("subscriptionResponse", "pong"):
            return []
        if ch == "error":
            raise FrameError(f"venue error: {data!r}")
        if ch == "trades":
            if not isinstance(data, list):
                raise FrameError("trades data is not a list")
            out: list[Event] = []
            for d in data:
                if not isinstance(d, dict):
                    raise FrameError("trade is not an object")
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
            if fill.liquidation is not None:  # else: ordinary fill (e.g. the vault unwinding)
                out.append(self._fill(fill, user, received_at))
        return out

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
                   funding_rate=opt(ctx.get("funding")), open_interest=oi)
        )  # fmt: skip
        return out


def _sub(subscription: dict) -> str:
    return msgspec.json.encode({"method": "subscribe", "subscription": subscription}).decode()


VENUES = (Hyperliquid,)
