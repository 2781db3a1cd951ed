"""``serve --heatmap-step 1m|5m|15m|1h`` (issue #10 item 3: one step per interval).

The serve state (aggregator, pipeline, store, heatmap service) runs in this process against
``tests/market_venues.py``: REAL Binance BTCUSDT 5-minute klines and open interest of December
2025 in Binance's, Bybit's and OKX's documented REST and websocket shapes, times shifted to
now. The warm-up's 5-minute history and the 5-minute klines the local Binance pushes feed the
model at the chosen step; the API serves columns at multiples of it and says which step ran and
which one the parameters were validated at.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from liqmap.api.app import create_app
from liqmap.serve.server import ServeError, build_live_state
from liqmap.units import INTERVAL_MS, now_ms
from localvenue import wait_until
from market_venues import LiveMarket

NAMES = ["binance", "bybit", "okx"]


@pytest.mark.parametrize("step, column", [("1m", "1m"), ("1h", "1h")])
async def test_serve_steps_the_live_map_at_the_chosen_interval(tmp_path, fast_polls, step, column):
    st = INTERVAL_MS[step]
    # The market starts 40 minutes before the current hour, so after 13 five-minute advances its
    # clock stands at hh:25, never on an hour boundary: a step ending exactly at the clock would
    # wait for the next open-interest observation (the minute sampler hands a minute's value on
    # when a later one arrives, analytics/market_series.py), which this test never sends. Started
    # at "now" instead, the 1h case failed whenever the suite ran between hh:55 and hh:00.
    start = now_ms() // INTERVAL_MS["1h"] * INTERVAL_MS["1h"] - 40 * INTERVAL_MS["1m"]
    async with LiveMarket(start, history_steps=288, live_steps=13) as m:
        ws = f"ws://127.0.0.1:{m.port}"
        state = build_live_state(NAMES, None, str(tmp_path / "s.duckdb"), ws_urls={v: ws for v in NAMES},
                                 rest_urls={v: m.url for v in NAMES}, heatmap_symbols=["BTC"], heatmap_step=step)
        app = create_app(state)
        await state.start()
        try:
            await wait_until(lambda: state.heatmap.warmed and m.connected(), 30, "warm-up and sockets")
            heat = state.heatmap.tracked["BTC"]
            await wait_until(lambda: heat.heat is not None and heat.heat.next_end > m.t - 2 * st, 30, "warm-up steps")
            before = heat.heat.next_end
            for _ in range(13):  # 65 market minutes: 65 one-minute steps, one more hour
                await m.advance(wait_poll_s=10.0)
            await wait_until(lambda: heat.heat is not None and heat.heat.next_end == m.t // st * st + st, 30,
                             "steps after the market moved")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                for _ in range(100):  # the advance is committed right after the model ran it
                    body = (await c.get("/liquidations/heatmap-timeseries",
                                        params={"symbol": "BTC", "interval": column, "time_window": "1d"})).json()
                    if body["data"][-1]["timestamp"] == m.t // st * st:
                        break
                    await asyncio.sleep(0.05)
                finer = await c.get("/liquidations/heatmap-timeseries", params={"symbol": "BTC", "interval": "30m"})
                health = (await c.get("/health")).json()["heatmap"]["BTC"]
        finally:
            await state.stop()
    meta = body["meta"]
    assert meta["source"] == "live" and meta["model_step"] == step and meta["validated_step"] == "5m"
    assert "--heatmap-step" in meta["step_note"] and health["model_step"] == step
    stamps = [c["timestamp"] for c in body["data"]]
    assert stamps == list(range(stamps[0], stamps[-1] + 1, st)) and stamps[-1] == m.t // st * st
    assert sum(1 for c in body["data"] if c["levels"]) > 0.9 * len(stamps)  # a map in (almost) every column
    assert stamps[-1] >= before  # the steps the market's advance completed are in the map
    assert len(stamps) >= (24 if step == "1h" else 1000)
    if step == "1h":  # columns finer than the run's step do not exist: a clear 422
        assert finer.status_code == 422 and "not a whole number of model steps (1h)" in finer.text
    else:
        assert finer.status_code == 200 and finer.json()["meta"]["model_step"] == "1m"


def test_an_unknown_step_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(ServeError, match="--heatmap-step must be one of 1m, 5m, 15m, 1h"):
        build_live_state(NAMES, None, str(tmp_path / "x.duckdb"), heatmap_symbols=["BTC"], heatmap_step="2m")
