"""Venue REST backfill (liqmap.history.backfill, `liqmap backfill`) against local venue servers.

The servers (tests/rest_venues.py) answer in Binance's, Bybit's and OKX's documented response
shapes with REAL Binance BTCUSDT 5-minute klines and open interest of December 2025 -- the
Bybit and OKX shapes carry those same Binance values, since no Bybit/OKX history is recorded.
"""

from __future__ import annotations

import asyncio

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import free_port
from liqmap.cli import app
from liqmap.history.backfill import backfill, backfill_many, native_symbol
from liqmap.history.rest import VenueError
from rest_venues import NOW, STEP, RestVenues, real_klines, real_oi

DAY = 86_400_000
START = NOW - 3 * DAY


def _window_oi(lo=START, hi=NOW):
    return [o for o in real_oi() if lo <= o[0] < hi]


def _closed_klines(lo=START, hi=NOW):
    return [k for k in real_klines() if lo <= int(k[0]) < hi and int(k[6]) < NOW]


async def _run(venue, con, srv, **kw):
    return await backfill(venue, "BTCUSDT", kw.pop("start", START), NOW, con, base_url=srv.url, now_ms=NOW,
                          min_retry_s=0.01, **kw)


def test_symbols_resolve_to_each_venue_perpetual():
    assert native_symbol("binance", "BTCUSDT") == ("BTCUSDT", "BTC", "USDT")
    assert native_symbol("bybit", "btcusdt") == ("BTCUSDT", "BTC", "USDT")
    assert native_symbol("okx", "BTCUSDT") == ("BTC-USDT-SWAP", "BTC", "USDT")
    with pytest.raises(ValueError, match="backfill supports"):
        native_symbol("kraken", "BTCUSDT")


async def test_binance_stores_the_real_rows_and_feeds_the_heatmap_tables():
    con = duckdb.connect()
    async with RestVenues() as srv:
        res = await _run("binance", con, srv)
    want_oi, want_k = _window_oi(), _closed_klines()
    assert (res.oi_rows, res.kline_rows) == (len(want_oi), len(want_k)) == (864, 863)  # 23:55 candle still open
    got = con.execute("SELECT timestamp, open_interest, open_interest_usd FROM open_interest "
                      "WHERE exchange = 'binance' AND symbol = 'BTCUSDT' ORDER BY 1").fetchall()
    assert got == [(t, pytest.approx(oi, rel=1e-12), pytest.approx(usd, rel=1e-12)) for t, oi, usd in want_oi]
    k = con.execute("SELECT open_time, close, taker_buy_volume, trades FROM klines WHERE exchange = 'binance' "
                    "ORDER BY 1").fetchall()
    assert k == [(int(r[0]), float(r[4]), float(r[9]), int(r[8])) for r in want_k]
    # two openInterestHist windows of <= 500 five-minute rows, each inside the 30-day window
    calls = srv.calls("/futures/data/openInterestHist")
    assert [c["limit"] for c in calls] == ["500", "500"] and int(calls[0]["startTime"]) == START
    # mirrored into the archive-shaped tables the model reads
    assert con.execute("SELECT count(*) FROM open_interest_history WHERE source = 'rest_openInterestHist'").fetchone() == (864,)
    assert con.execute("SELECT count(*), sum(close) FROM klines_5m_history").fetchone() == (
        863, pytest.approx(sum(float(r[4]) for r in want_k), rel=1e-12))


async def test_binance_open_interest_is_clamped_to_its_30_days():
    con = duckdb.connect()
    async with RestVenues() as srv:
        res = await _run("binance", con, srv, start=NOW - 40 * DAY)
    assert any("last 30 days" in n for n in res.notes)
    lo = con.execute("SELECT min(timestamp) FROM open_interest WHERE exchange = 'binance'").fetchone()[0]
    assert NOW - 30 * DAY < lo <= NOW - 30 * DAY + 2 * STEP
    assert all(int(c["startTime"]) > NOW - 30 * DAY for c in srv.calls("/futures/data/openInterestHist"))


@pytest.mark.parametrize("single", [True, False])
async def test_bybit_stores_one_side_in_base_and_usd(single):
    con = duckdb.connect()
    async with RestVenues(bybit_single=single) as srv:
        res = await _run("bybit", con, srv)
    assert res.oi_rows == 864 and res.kline_rows == 863
    assert (any("openInterest / 2" in n for n in res.notes)) is (not single)
    close_at = {int(r[6]) + 1: float(r[4]) for r in real_klines()}  # candle ending at t -> its close
    got = con.execute("SELECT timestamp, open_interest, open_interest_usd FROM open_interest "
                      "WHERE exchange = 'bybit' ORDER BY 1").fetchall()
    want = _window_oi()
    assert [g[0] for g in got] == [t for t, _, _ in want]
    for (t, oi, usd), (_, real, _) in zip(got, want):
        assert oi == pytest.approx(real, rel=1e-12)  # one side, not the doubled both-sides figure
        assert usd == pytest.approx(real * close_at[t], rel=1e-12)  # base x the close of the candle ending at t
    pages = srv.calls("/v5/market/open-interest")
    assert len(pages) == 5 and [p.get("cursor") for p in pages] == [None, "200", "400", "600", "800"]


async def test_okx_stores_oiccy_and_oiusd_and_respects_its_1440_entries():
    con = duckdb.connect()
    async with RestVenues() as srv:
        res = await _run("okx", con, srv, start=NOW - 10 * DAY)
    assert any("1440" in n for n in res.notes)
    got = con.execute("SELECT min(timestamp), count(*), sum(open_interest), sum(open_interest_usd) FROM open_interest "
                      "WHERE exchange = 'okx' AND symbol = 'BTC-USDT-SWAP'").fetchone()
    want = [o for o in real_oi() if o[0] <= NOW][-1440:]
    want = [o for o in want if o[0] >= NOW - 1440 * STEP]
    assert got[0] >= NOW - 1440 * STEP and got[1] == len(want)
    assert got[2] == pytest.approx(sum(o[1] for o in want), rel=1e-12)
    assert got[3] == pytest.approx(sum(o[2] for o in want), rel=1e-12)
    n_k = con.execute("SELECT count(*) FROM klines WHERE exchange = 'okx'").fetchone()[0]
    assert n_k == len(_closed_klines(NOW - 10 * DAY)) == res.kline_rows


async def test_rerun_stores_nothing_twice():
    con = duckdb.connect()
    async with RestVenues() as srv:
        urls = {v: srv.url for v in ("binance", "bybit", "okx")}
        kw = dict(base_urls=urls, now_ms=NOW, min_retry_s=0.01)
        first = await backfill_many(["binance", "bybit", "okx"], ["BTCUSDT"], START, NOW, con, **kw)
        snap = con.execute("SELECT exchange, count(*), sum(open_interest) FROM open_interest GROUP BY 1 ORDER BY 1").fetchall()
        again = await backfill_many(["binance", "bybit", "okx"], ["BTCUSDT"], START, NOW, con, **kw)
    assert [r.error for r in first + again] == [None] * 6
    assert [r.rows for r in first] == [r.rows for r in again]
    now = con.execute("SELECT exchange, count(*), sum(open_interest) FROM open_interest GROUP BY 1 ORDER BY 1").fetchall()
    assert [r[:2] for r in now] == [r[:2] for r in snap] == [("binance", 864), ("bybit", 864), ("okx", 864)]
    assert [r[2] for r in now] == pytest.approx([r[2] for r in snap], rel=1e-12)  # float sum order varies
    assert con.execute("SELECT count(*) FROM open_interest_history").fetchone() == (864,)
    assert con.execute("SELECT count(*) FROM klines_5m_history").fetchone() == (863,)


async def test_429_and_418_wait_retry_after_with_a_floor():
    con = duckdb.connect()
    waits: list[float] = []

    async def sleep(s):
        waits.append(s)

    async with RestVenues() as srv:
        srv.scripted["/fapi/v1/klines"] = [(429, {"Retry-After": "4"}, {"code": -1003, "msg": "Too many requests"}),
                                           (418, {"Retry-After": "0"}, {"code": -1003, "msg": "banned"})]
        srv.scripted["/v5/market/kline"] = [(200, {}, {"retCode": 10006, "retMsg": "Too many visits!", "result": {}})]
        res_b = await backfill("binance", "BTCUSDT", START, NOW, con, base_url=srv.url, now_ms=NOW,
                               min_retry_s=1.5, sleep=sleep)
        assert waits == [4.0, 1.5]  # the server's delay, then the floor for "Retry-After: 0"
        waits.clear()
        res_y = await backfill("bybit", "BTCUSDT", START, NOW, con, base_url=srv.url, now_ms=NOW,
                               min_retry_s=1.5, sleep=sleep)
        assert waits == [1.5]  # rate-limited body without a header: the floor
    assert res_b.kline_rows == 863 and res_y.kline_rows == 863


async def test_a_long_ban_stops_that_venue_only():
    con = duckdb.connect()
    async with RestVenues() as srv:
        srv.scripted["/api/v5/market/history-candles"] = [(429, {"Retry-After": "7200"}, {"code": "50011", "msg": "x"})]
        with pytest.raises(VenueError, match="asks to wait 7200 s"):
            await _run("okx", con, srv)
        srv.scripted["/api/v5/market/history-candles"] = [(429, {"Retry-After": "7200"}, {"code": "50011", "msg": "x"})]
        res = await backfill_many(["okx", "bybit"], ["BTCUSDT"], START, NOW, con,
                                  base_urls={"okx": srv.url, "bybit": srv.url}, now_ms=NOW, min_retry_s=0.01)
    assert res[0].venue == "okx" and "7200" in res[0].error and res[0].rows == 0
    assert res[1].error is None and res[1].oi_rows == 864


async def test_backfill_alone_gives_the_heatmap_a_map():
    from liqmap.heatmap.model import get_heatmap_timeseries

    con = duckdb.connect()
    async with RestVenues() as srv:
        await _run("binance", con, srv)
    hm = get_heatmap_timeseries("BTCUSDT", NOW - DAY, NOW - STEP, interval="5m", con=con, warmup_ms=2 * DAY)
    assert len(hm["data"]) > 200 and sum(len(s["levels"]) for s in hm["data"]) > 0


async def test_cli_backfill_reports_each_venue_and_fails_loudly_on_an_unreachable_one(tmp_path):
    dead = free_port()
    db = tmp_path / "b.duckdb"
    async with RestVenues(now_ms=NOW + 60_000) as srv:  # every December candle closed
        r = await asyncio.to_thread(CliRunner().invoke, app, [
            "backfill", "-e", "bybit,okx", "-s", "BTCUSDT", "--start-date", "2025-12-29", "--end-date", "2025-12-31",
            "--db", str(db), "--base-url", f"bybit={srv.url}", "--base-url", f"okx=http://127.0.0.1:{dead}",
            "--retries", "0"])
    assert r.exit_code == 1, r.output
    assert f"cannot reach 127.0.0.1:{dead}" in r.output and "Traceback" not in r.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM klines WHERE exchange = 'bybit'").fetchone()[0] == 864
    assert con.execute("SELECT count(*) FROM open_interest WHERE exchange = 'bybit'").fetchone()[0] == 864
    bad = CliRunner().invoke(app, ["backfill", "-e", "kraken", "--db", str(db)])
    assert bad.exit_code == 2 and "unknown: kraken" in bad.output


async def test_a_body_without_the_documented_shape_is_a_venue_error():
    con = duckdb.connect()
    async with RestVenues() as srv:
        srv.scripted["/v5/market/kline"] = [(200, {}, {"retCode": 0, "retMsg": "OK", "result": {"rows": []}})]
        with pytest.raises(VenueError, match="bybit: unexpected response shape"):
            await _run("bybit", con, srv)
        with pytest.raises(ValueError, match="bybit backfill interval must be one of"):
            await _run("bybit", con, srv, interval="2h")  # Bybit has no 2h open-interest interval
