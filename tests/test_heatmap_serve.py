"""``liqmap serve -e binance,bybit,okx`` keeps the BTC heatmap current (issue #10 acceptance).

Two fresh ``serve`` processes run at once against local Binance/Bybit/OKX servers
(``tests/market_venues.py``: REAL Binance BTCUSDT 5-minute klines and open interest of December
2025 in each venue's documented REST and websocket shapes, times shifted so the recording's
2025-12-20 00:00 is "now"). Each serve warms up from the venues' REST history, then follows the
websocket pushes and its Binance open-interest polls; the markets advance one real 5-minute step
at a time (event time runs faster than the wall clock: the model steps on its data).

* A runs uninterrupted: a live predicted BTC map on ``/liquidations/heatmap-timeseries`` within
  60 s of start, a new step per market step (``/ws/heatmap`` pushes a ``levels`` message each),
  every open-interest value accepted, the aggregate complete;
* B is SIGKILLed halfway (after its model caught up) and restarted on the same database: its
  stored steps and levels equal A's exactly;
* A's stored levels equal the offline runner over the data A stored (live == offline).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import httpx
import numpy as np
import websockets

from conftest import ROOT, free_port
from liqmap.heatmap.live import offline_steps
from liqmap.heatmap.params import load_params
from liqmap.storage import market_reads as mr
from liqmap.units import now_ms
from localvenue import wait_until
from market_venues import LiveMarket

LIVE_STEPS = 10
HALF = 5


class Serve:
    """One ``liqmap serve`` subprocess pointed at ``market`` (every venue's websocket and REST)."""

    def __init__(self, market: LiveMarket, db) -> None:
        self.market, self.db, self.port = market, str(db), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        ws, rest = f"ws://127.0.0.1:{self.market.port}", self.market.url
        cmd = [sys.executable, "-m", "liqmap", "serve", "-e", "binance,bybit,okx", "--port", str(self.port),
               "--db", self.db, "--heatmap-symbols", "BTC"]
        for v in ("binance", "bybit", "okx"):
            cmd += ["--ws-url", f"{v}={ws}", "--rest-url", f"{v}={rest}"]
        env = dict(os.environ, BINANCE_POLL_INTERVAL="0.1", LIQMAP_HEATMAP_BACKFILL_DAYS="3")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def get(self, client: httpx.AsyncClient, path: str, **params):
        try:
            return await client.get(self.url + path, params=params, timeout=10)
        except httpx.HTTPError:
            assert self.proc.poll() is None, self.proc.stderr.read()
            return None

    async def live_map(self, client) -> dict | None:
        r = await self.get(client, "/liquidations/heatmap-timeseries", symbol="BTCUSDT", interval="5m", time_window="2d")
        if r is None or r.status_code != 200:
            return None
        body = r.json()
        return body if body["meta"].get("source") == "live" and body["data"] else None

    async def next_end(self, client) -> int | None:
        r = await self.get(client, "/health")
        return None if r is None else (r.json().get("heatmap") or {}).get("BTC", {}).get("next_end")


async def _poll(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        got = await pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _caught_up(serve: Serve, client, market: LiveMarket, timeout_s: float = 30.0) -> None:
    """The model ran every step the market's data completes (all but the step at its clock)."""
    async def done():
        return (await serve.next_end(client)) == market.t
    await _poll(done, timeout_s, f"{serve.db}: model at {market.t}")


async def _advance(markets, n: int) -> None:
    for _ in range(n):
        for m in markets:
            await m.advance(wait_poll_s=10.0)
        await asyncio.sleep(0.05)


def _stored(db: str):
    con = duckdb.connect(db, read_only=True)
    try:
        steps = con.execute("SELECT t_end, close, oi, oi_partial, oi_present, consumed_long, consumed_short "
                            "FROM heatmap_steps ORDER BY t_end").fetchall()
        levels = con.execute("SELECT t_end, cell, long_usd, short_usd FROM heatmap_levels ORDER BY t_end, cell").fetchall()
        first = con.execute("SELECT first_end FROM heatmap_state").fetchone()[0]
    finally:
        con.close()
    return steps, levels, first


async def test_fresh_serve_keeps_the_btc_map_current_and_a_sigkilled_one_resumes_to_the_same_levels(tmp_path):
    now = now_ms()
    async with LiveMarket(now, live_steps=LIVE_STEPS) as ma, LiveMarket(now, live_steps=LIVE_STEPS) as mb:
        a, b = Serve(ma, tmp_path / "a.duckdb"), Serve(mb, tmp_path / "b.duckdb")
        t0 = time.monotonic()
        a.start()
        b.start()
        try:
            async with httpx.AsyncClient() as client:
                first = await _poll(lambda: a.live_map(client), 60, "a live BTC map from a fresh serve")
                assert time.monotonic() - t0 < 60
                await _poll(lambda: b.live_map(client), 60, "the second serve's map")
                assert first["meta"]["open_interest"]["venues"] == ["binance:BTCUSDT", "bybit:BTCUSDT", "okx:BTC-USDT-SWAP"]
                assert len(first["data"]) >= 280 and sum(len(c["levels"]) for c in first["data"][-12:]) > 100
                await wait_until(lambda: ma.connected() and mb.connected(), 20, "every venue socket")
                async with websockets.connect(f"ws://127.0.0.1:{a.port}/ws/heatmap?symbol=BTC") as ws:
                    hello = json.loads(await ws.recv())
                    assert hello["type"] == "hello" and hello["symbols"] == ["BTC"]
                    await _advance((ma, mb), HALF)
                    await _caught_up(a, client, ma)
                    await _caught_up(b, client, mb)
                    # a step is complete once every venue's next value arrived: one step behind the market
                    pushed = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(HALF - 1)]
                # one levels message per step, in order, each with a book
                ends = [m["timestamp"] for m in pushed]
                assert ends == [ma.now_ms + k * 300_000 for k in range(1, HALF)]
                assert all(m["type"] == "levels" and m["levels"] and not m["meta"]["open_interest"]["partial"] for m in pushed)
                mid = await a.live_map(client)
                assert mid["meta"]["end"] == ends[-1] > first["meta"]["end"]
                # B: SIGKILL once its data is stored, restart on the same file
                await asyncio.sleep(1.0)
                b.stop(signal.SIGKILL)
                assert b.proc.returncode == -signal.SIGKILL
                before = dict(mb.subscribes)
                b.start()
                await wait_until(lambda: all(mb.subscribes[v] > before[v] for v in ("binance", "bybit", "okx")), 30,
                                 "the restarted serve's subscriptions")
                await _poll(lambda: b.live_map(client), 60, "the restarted serve's map")
                await _advance((ma, mb), LIVE_STEPS - HALF)
                await _caught_up(a, client, ma)
                await _caught_up(b, client, mb)
                health = (await a.get(client, "/exchanges/health")).json()
                resumed = (await b.get(client, "/health")).json()["heatmap"]["BTC"]["steps"]
        finally:
            a.stop()
            b.stop()
    oi = {h["exchange"]: h["open_interest"] for h in health["exchanges"] if h["enabled"]}
    assert all(v["accepted"] > 0 and v["rejected"] == {} for v in oi.values()), oi
    steps_a, levels_a, first_a = _stored(a.db)
    steps_b, levels_b, first_b = _stored(b.db)
    assert len(steps_a) == 288 + LIVE_STEPS - 1 and not any(s[3] for s in steps_a)  # never partial
    assert first_a == first_b and steps_a == steps_b and levels_a == levels_b  # killed + restarted == uninterrupted
    assert resumed == LIVE_STEPS - HALF  # the restart resumed from the stored state, it did not recompute
    _assert_live_equals_offline(a.db, first_a, steps_a[-1][0], levels_a)


def _assert_live_equals_offline(db: str, first: int, last: int, levels) -> None:
    served = load_params()
    step = served.step_ms
    con = duckdb.connect(db, read_only=True)
    try:
        kl = mr.reference_bars(con, "binance", "BTCUSDT", first - step, last, step)
        oi = {k.key: v for k, v in mr.oi_per_step(con, "BTC", first, last, step, ("USDT",),
                                                 ("binance", "bybit", "okx")).items()}
    finally:
        con.close()
    offline = offline_steps("BTC", served, first, kl, oi, last)
    by_step: dict[int, list] = {}
    for t, cell, lo, sh in levels:
        by_step.setdefault(t, []).append((cell, lo, sh))
    assert len(offline) == len(by_step)
    for t, origin, lv in offline:
        keep = np.flatnonzero((lv[0] >= 0.5) | (lv[1] >= 0.5))
        assert by_step[t] == list(zip((origin + keep).tolist(), lv[0, keep].tolist(), lv[1, keep].tolist())), t
