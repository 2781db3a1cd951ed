"""Binance, Bybit and OKX on ONE local server (127.0.0.1): their REST history AND their live
websockets, for end-to-end tests of ``serve``'s live heatmap (issue #10). Nothing touches the
internet.

VALUES ARE REAL, SHAPES ARE THE VENUES', TIMES ARE SHIFTED. Every number is real Binance USD-M
BTCUSDT data of December 2025 (``../shared/data/binance_usdm_5m_2025-12``: the archive's
5-minute klines and 5-minute open interest), written into each venue's documented message
shape. There is no recorded Bybit or OKX history, so those venues carry the same Binance values
(as ``rest_venues.RestVenues`` does). All times are moved forward by ``shift`` (a whole number of
5-minute steps) so that the recording's ``2025-12-20 00:00`` becomes "now" for the ``serve``
under test, whose warm-up asks the venues for the last days before its wall clock.

* **history** (``RestVenues`` routes, shifted): the ``history_steps`` 5-minute rows before
  "now" -- Binance ``openInterestHist`` / ``klines``, Bybit ``open-interest`` / ``kline``, OKX
  ``open-interest-history`` / ``history-candles``;
* **live** -- a market clock at step ``k`` (its time ``t_k`` = "now" + k steps). Each
  :meth:`advance` (the test calls it, or :meth:`run` paces it) moves to the next real row and
  pushes to the connected clients: Binance a closed ``kline_5m`` combined-stream frame of the
  bar ending at ``t_k``; Bybit a ``tickers.BTCUSDT`` snapshot (``singleOpenInterest`` = OI,
  ``openInterest`` = 2 x OI: both sides, as Bybit documents); OKX an ``open-interest`` push
  (``oiCcy`` = OI, ``oi`` in 0.01 BTC contracts). Binance ``GET /fapi/v1/openInterest`` answers
  the OI at ``t_k`` (``time`` = ``t_k``); other symbols get Binance's invalid-symbol error.
  A new Bybit/OKX subscription gets the current value at once (their channels push a snapshot
  on subscribe), so a restarted client sees the last value again.
* faults for tests: ``corrupt[(venue, k)] = factor`` multiplies the OI that venue sends at step
  ``k``; ``silent`` venues stop sending OI (their REST ``openInterest`` answers 503).

Subscriptions are acknowledged as each venue does (Bybit ``req_id``, OKX per arg, Binance
``LIST_SUBSCRIPTIONS``).
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from rest_venues import OKX_CT_VAL, STEP, RestVenues, real_klines, real_oi
from venue_answers import BybitAnswers, OkxAnswers, compact

#: 2025-12-20 00:00 UTC: the recording's "now" (the end of the history, the start of the live part)
DATA_NOW = 1766188800000


class LiveMarket(RestVenues):
    """The three venues (module docstring). ``now_ms``: the wall time that becomes "now"
    (floored to 5 minutes); ``history_steps``: 5-minute rows of history before it; ``live_steps``:
    rows that can be pushed after it."""

    def __init__(self, now_ms: int, history_steps: int = 288, live_steps: int = 24) -> None:
        now = now_ms - now_ms % STEP
        self.shift = now - DATA_NOW
        super().__init__(now_ms=now)
        kl = [k for k in real_klines() if DATA_NOW - history_steps * STEP <= int(k[0]) < DATA_NOW + live_steps * STEP]
        self.klines = [[str(int(k[0]) + self.shift), *k[1:6], str(int(k[6]) + self.shift), *k[7:]] for k in kl]
        self.oi = [(t + self.shift, oi, usd) for t, oi, usd in real_oi()
                   if DATA_NOW - history_steps * STEP < t <= DATA_NOW + live_steps * STEP]
        self.history_klines, self.history_oi = self.klines, self.oi
        self.k = 0  # market clock: at "now" + k steps
        self.live_steps = live_steps
        self.clients: dict[str, set[web.WebSocketResponse]] = {"binance": set(), "bybit": set(), "okx": set(),
                                                                "bybit-inverse": set()}
        self.bybit, self.okx = BybitAnswers(), OkxAnswers()
        self.corrupt: dict[tuple[str, int], float] = {}
        self.silent: set[str] = set()
        self.pushed = 0
        self.polled_k = -1  # the market step Binance's open interest was last asked at
        #: subscribe requests (Bybit, OKX) / connections (Binance) received per venue
        self.subscribes: dict[str, int] = {"binance": 0, "bybit": 0, "okx": 0, "bybit-inverse": 0}
        # history served: rows up to "now" only (the live rows are reached by advancing)
        self.klines = [k for k in self.history_klines if int(k[6]) < now]
        self.oi = [o for o in self.history_oi if o[0] <= now]

    @property
    def t(self) -> int:
        """The market clock's time (ms UTC, shifted)."""
        return self.now_ms + self.k * STEP

    def oi_at(self, t: int) -> tuple[float, float]:
        """(OI base units, USD) of the real row at ``t``."""
        return next((oi, usd) for tt, oi, usd in self.history_oi if tt == t)

    def bar_ending(self, t: int) -> list[str]:
        return next(k for k in self.history_klines if int(k[6]) + 1 == t)

    # ---------------------------------------------------------------- frames
    def binance_frame(self, k: list[str]) -> str:
        o = int(k[0])
        data = {"e": "kline", "E": int(k[6]) + 1, "s": "BTCUSDT", "k": {
            "t": o, "T": int(k[6]), "s": "BTCUSDT", "i": "5m", "f": 0, "L": int(k[8]), "o": k[1], "c": k[4], "h": k[2],
            "l": k[3], "v": k[5], "n": int(k[8]), "x": True, "q": k[7], "V": k[9], "Q": k[10], "B": "0"}}
        return compact({"stream": "btcusdt@kline_5m", "data": data})

    def _oi_sent(self, venue: str, t: int) -> tuple[float, float]:
        oi, usd = self.oi_at(t)
        f = self.corrupt.get((venue, (t - self.now_ms) // STEP), 1.0)
        return oi * f, usd * f

    def bybit_frame(self, t: int) -> str:
        oi, usd = self._oi_sent("bybit", t)
        close = self.bar_ending(t)[4]
        return compact({"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": t, "cs": 1, "data": {
            "symbol": "BTCUSDT", "lastPrice": close, "markPrice": close, "indexPrice": close,
            "openInterest": f"{2 * oi:.8f}", "openInterestValue": f"{2 * usd:.2f}",
            "singleOpenInterest": f"{oi:.8f}", "singleOpenInterestValue": f"{usd:.2f}"}})

    def okx_frame(self, t: int) -> str:
        oi, usd = self._oi_sent("okx", t)
        return compact({"arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}, "data": [{
            "instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": f"{oi / OKX_CT_VAL:.2f}", "oiCcy": f"{oi:.8f}",
            "oiUsd": f"{usd:.2f}", "ts": str(t)}]})

    # ---------------------------------------------------------------- clock
    async def advance(self, wait_poll_s: float = 0.0) -> bool:
        """Move to the next real row and push it; False at the end of the data. With
        ``wait_poll_s``, first wait (at most that long) until Binance's open interest was asked
        at the current step, so every step's value reaches the client whatever its timing."""
        if self.k >= self.live_steps:
            return False
        deadline = asyncio.get_running_loop().time() + wait_poll_s
        while wait_poll_s and self.polled_k < self.k and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        self.k += 1
        t = self.t
        await self._send("binance", self.binance_frame(self.bar_ending(t)))
        if "bybit" not in self.silent:
            await self._send("bybit", self.bybit_frame(t))
        if "okx" not in self.silent:
            await self._send("okx", self.okx_frame(t))
        self.pushed += 1
        return True

    async def run(self, steps: int, every_s: float) -> None:
        """``advance`` ``steps`` times, ``every_s`` apart."""
        for _ in range(steps):
            await asyncio.sleep(every_s)
            if not await self.advance():
                return

    async def _send(self, venue: str, frame: str) -> None:
        for ws in list(self.clients[venue]):
            try:
                await ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                self.clients[venue].discard(ws)

    def connected(self) -> bool:
        """Every venue has a websocket client."""
        return all(self.clients[v] for v in ("binance", "bybit", "okx"))

    # ---------------------------------------------------------------- server
    async def _websocket(self, request: web.Request, venue: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.clients[venue].add(ws)
        if venue == "binance":
            self.subscribes[venue] += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                for reply in self._answer(venue, msg.data):
                    await ws.send_str(reply)
                if venue != "binance" and '"subscribe"' in msg.data:
                    self.subscribes[venue] += 1
                if venue in ("bybit", "okx") and '"subscribe"' in msg.data and self.k and venue not in self.silent:
                    await ws.send_str(self.bybit_frame(self.t) if venue == "bybit" else self.okx_frame(self.t))
        finally:
            self.clients[venue].discard(ws)
        return ws

    def _answer(self, venue: str, text: str) -> list[str]:
        if venue.startswith("bybit"):
            return self.bybit(0, text)
        if venue == "okx":
            return self.okx(0, text)
        if "LIST_SUBSCRIPTIONS" in text:  # Binance: the streams named in the URL
            return [compact({"result": ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "btcusdt@kline_1m",
                                        "!forceOrder@arr"], "id": json.loads(text)["id"]})]
        return []

    def binance_live_oi(self, r: web.Request) -> web.Response:
        if r.query.get("symbol") != "BTCUSDT":
            return self._json({"code": -1121, "msg": "Invalid symbol."}, 400)
        if "binance" in self.silent:
            return self._json({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
        oi, _ = self._oi_sent("binance", self.t)
        self.polled_k = self.k
        return self._json({"openInterest": f"{oi:.3f}", "symbol": "BTCUSDT", "time": self.t})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/market/stream"):
            return await self._websocket(request, "binance")
        if path.startswith("/v5/public/linear"):
            return await self._websocket(request, "bybit")
        if path.startswith("/ws/v5/public"):
            return await self._websocket(request, "okx")
        if path == "/fapi/v1/openInterest":
            self.requests.append((path, dict(request.query)))
            return self.binance_live_oi(request)
        if path.startswith("/v5/public/inverse"):  # Bybit's inverse socket: acknowledged, no data
            return await self._websocket(request, "bybit-inverse")
        return await super()._handle(request)
