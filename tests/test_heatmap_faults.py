"""Bad open interest and a venue that stops answering, through the serve wiring (issue #10
acceptance: rejected and counted per venue, never fed to the model; the aggregate flagged
partial, not silently lower).

The serve state (aggregator, pipeline, tiered store, heatmap service) runs in this process
against ``tests/market_venues.py`` (REAL Binance BTCUSDT 5-minute klines and open interest of
December 2025 in Binance's, Bybit's and OKX's documented shapes, times shifted to now). Faults
are written into what the local venues send, named here: OKX sends its REAL value doubled at
step 3 (a lone jump, the price unchanged); Bybit stops sending open interest after step 5.
"""

from __future__ import annotations

import asyncio

import duckdb
import httpx
import pytest

from liqmap.api.app import create_app
from liqmap.serve.server import build_live_state
from liqmap.units import now_ms
from localvenue import wait_until
from market_venues import LiveMarket

STEP = 300_000


async def test_bad_oi_is_rejected_and_counted_and_a_silent_venue_leaves_the_aggregate_partial(tmp_path, fast_polls):
    async with LiveMarket(now_ms(), history_steps=36, live_steps=14) as m:
        m.corrupt[("okx", 3)] = 2.0
        ws = f"ws://127.0.0.1:{m.port}"
        names = ["binance", "bybit", "okx"]
        state = build_live_state(names, None, str(tmp_path / "f.duckdb"), ws_urls={v: ws for v in names},
                                 rest_urls={v: m.url for v in names}, heatmap_symbols=["BTC"])
        app = create_app(state)
        await state.start()
        try:
            await wait_until(lambda: state.heatmap.warmed and m.connected(), 30, "warm-up and sockets")
            for k in range(1, 15):
                if k == 6:
                    m.silent.add("bybit")
                await m.advance(wait_poll_s=10.0)
            heat = state.heatmap.tracked["BTC"]
            # Bybit silent: the steps wait two steps past the price for it, then go without it
            await wait_until(lambda: heat.heat is not None and heat.heat.next_end == m.t, 30, "steps after the silence")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                agg = (await c.get("/open-interest/aggregated", params={"symbol": "BTCUSDT", "time_window": "2h"})).json()
                hm = (await c.get("/liquidations/heatmap-timeseries", params={"symbol": "BTC", "interval": "5m"})).json()
                metrics = (await c.get("/metrics")).text
                health = {h["exchange"]: h for h in (await c.get("/exchanges/health")).json()["exchanges"]}
        finally:
            await state.stop()
    t = {k: m.now_ms + k * STEP for k in range(15)}
    # the doubled OKX value: rejected, counted for OKX, never stored
    assert 'liqmap_oi_rejected_total{exchange="okx",reason="jump"} 1.0' in metrics
    assert health["okx"]["open_interest"]["rejected"] == {"jump": 1} and health["bybit"]["open_interest"]["rejected"] == {}
    con = duckdb.connect(str(tmp_path / "f.duckdb"), read_only=True)
    try:
        okx = dict(con.execute("SELECT timestamp, open_interest FROM open_interest WHERE exchange = 'okx'").fetchall())
        steps = {r[0]: r[1:] for r in con.execute(
            "SELECT t_end, oi, oi_total, oi_partial, oi_missing FROM heatmap_steps ORDER BY t_end").fetchall()}
    finally:
        con.close()
    assert t[3] not in okx and okx[t[2]] == pytest.approx(m.oi_at(t[2])[0]) and okx[t[4]] == pytest.approx(m.oi_at(t[4])[0])
    assert steps[t[3]][2:] == (True, ["okx:BTC-USDT-SWAP"])  # that step went without OKX: partial, never doubled
    # Bybit silent after step 5: its last value is stored, the steps after it are partial ...
    assert not steps[t[5]][2] and all(steps[t[k]][2:] == (True, ["bybit:BTCUSDT"]) for k in range(6, 13))
    real = {k: m.oi_at(t[k])[0] for k in range(15)}
    # ... the summed total falls by Bybit's share, the value fed to the model does not
    assert steps[t[6]][1] == pytest.approx(2 * real[6], rel=1e-9)
    assert steps[t[6]][0] == pytest.approx(steps[t[5]][0] * real[6] / real[5], rel=1e-9)
    assert steps[t[12]][0] == pytest.approx(3 * real[12], rel=1e-6)  # three venues' worth, chained on two
    # the API says so: aggregate flagged partial with the missing venue, the heatmap's meta too
    partial = {d["timestamp"]: d["missing"] for d in agg["data"] if d["partial"]}
    assert set(partial) == {t[3], *(t[k] for k in range(6, 14))} and partial[t[7]] == ["bybit:BTCUSDT"]
    assert agg["meta"]["venues"] == ["binance:BTCUSDT", "bybit:BTCUSDT", "okx:BTC-USDT-SWAP"]
    last = hm["meta"]["open_interest"]["last"]
    assert hm["meta"]["source"] == "live" and last["partial"] and last["missing"] == ["bybit:BTCUSDT"]


async def test_a_market_connection_drop_and_failing_oi_polls_are_stored_as_gaps(tmp_path, fast_polls):
    """Gaps in the market series are recorded like liquidation gaps: the local Binance closes the
    market-data websocket (klines, mark price, trades of BTCUSDT) and answers its open-interest
    poll with 503 for a while; both holes are stored in ``gaps`` under the connection / poll label
    and shown in ``/exchanges/health``, and the series go on after them."""
    async with LiveMarket(now_ms(), history_steps=36, live_steps=8) as m:
        ws = f"ws://127.0.0.1:{m.port}"
        names = ["binance", "bybit", "okx"]
        db = str(tmp_path / "g.duckdb")
        state = build_live_state(names, None, db, ws_urls={v: ws for v in names},
                                 rest_urls={v: m.url for v in names}, heatmap_symbols=["BTC"])
        app = create_app(state)
        await state.start()
        try:
            await wait_until(lambda: state.heatmap.warmed and m.connected(), 30, "warm-up and sockets")
            await m.advance(wait_poll_s=10.0)
            for client in list(m.clients["binance"]):  # the venue drops the market socket
                await client.close()
            m.silent.add("binance")  # and its open-interest endpoint fails (503) for a second
            await asyncio.sleep(1.0)
            m.silent.discard("binance")
            await wait_until(lambda: m.clients["binance"] and m.polled_k == m.k, 30, "Binance back")
            for _ in range(3):
                await m.advance(wait_poll_s=10.0)
            heat = state.heatmap.tracked["BTC"]
            await wait_until(lambda: heat.heat is not None and heat.heat.next_end == m.t, 30, "steps after the gap")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                for _ in range(100):  # committed by the store within its flush interval
                    health = {h["exchange"]: h for h in (await c.get("/exchanges/health")).json()["exchanges"]}
                    if {g["connection"] for g in health["binance"]["gaps"]} >= {"usdm-market", "oi:BTCUSDT"}:
                        break
                    await asyncio.sleep(0.1)
        finally:
            await state.stop()
    con = duckdb.connect(db, read_only=True)
    try:
        gaps = con.execute('SELECT connection, reason, start, "end" FROM gaps WHERE exchange = ?', ['binance']).fetchall()
        live_oi = con.execute("SELECT max(timestamp) FROM open_interest WHERE exchange = 'binance' AND source = 'live'").fetchone()[0]
    finally:
        con.close()
    by_label = {g[0]: g for g in gaps}
    assert "usdm-market" in by_label and by_label["usdm-market"][1] != "rest"
    assert by_label["oi:BTCUSDT"][1] == "rest" and by_label["oi:BTCUSDT"][3] - by_label["oi:BTCUSDT"][2] >= 200
    assert {g["connection"] for g in health["binance"]["gaps"]} >= {"usdm-market", "oi:BTCUSDT"}
    assert live_oi == m.t  # the series went on after the gaps
