"""The live heatmap's feeder (issue #10 item 3), in process: live == offline, resume == no stop,
the open-interest aggregate across venues.

Data: REAL Binance USD-M BTCUSDT 5-minute klines and open interest of December 2025, fetched by
the real venue REST backfill from the local servers of ``rest_venues`` (Bybit's and OKX's
documented shapes carry the same Binance values: no Bybit/OKX history is recorded).
"""

from __future__ import annotations

import math
import random

import duckdb
import numpy as np
import pytest

from liqmap.analytics.oi_aggregate import OIChain
from liqmap.heatmap.live import LiveHeatmap, offline_steps
from liqmap.heatmap.live_view import live_timeseries
from liqmap.heatmap.model import calculate_time_evolving_heatmap
from liqmap.heatmap.params import load_params
from liqmap.history.backfill import backfill_many
from liqmap.storage import heatmap_store as hs
from liqmap.storage import market_reads as mr
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.units import INTERVAL_MS
from rest_venues import NOW, RestVenues, real_klines, real_oi

DAY = 86_400_000
SERVED = load_params()
STEP = SERVED.step_ms
FIRST = (NOW - 3 * DAY) // STEP * STEP + STEP
LAST = NOW // STEP * STEP


async def _backfilled(venues) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_migrations(con)
    async with RestVenues() as srv:
        res = await backfill_many(list(venues), ["BTCUSDT"], NOW - 3 * DAY, NOW, con,
                                  base_urls={v: srv.url for v in venues}, now_ms=NOW, min_retry_s=0.01)
    assert all(r.error is None and r.rows for r in res), res
    return con


def _inputs(con, venues=("binance", "bybit", "okx")):
    kl = mr.reference_bars(con, "binance", "BTCUSDT", FIRST - STEP, LAST, STEP)
    oi = {k.key: v for k, v in mr.oi_per_step(con, "BTC", FIRST, LAST, STEP, ("USDT",), venues).items()}
    return kl, oi


def _same(a, b) -> bool:
    return a.t_end == b[0] and (a.levels is None and b[2] is None
                                or (a.origin == b[1] and np.array_equal(a.levels, b[2])))


async def test_live_steps_equal_the_offline_runner_and_a_resumed_run_equals_one_without_stops():
    con = await _backfilled(("binance", "bybit", "okx"))
    kl, oi = _inputs(con)
    assert set(oi) == {"binance:BTCUSDT", "bybit:BTCUSDT", "okx:BTC-USDT-SWAP"}
    offline = offline_steps("BTC", SERVED, FIRST, kl, oi, LAST)
    assert len(offline) == (LAST - FIRST) // STEP + 1 == 864
    # live: advanced in irregular chunks, state dumped and loaded (a restart) after each
    rng = random.Random(7)
    heat, live, end = LiveHeatmap("BTC", SERVED, FIRST), [], FIRST - STEP
    while end < LAST:
        end = min(LAST, end + STEP * rng.randint(1, 60))
        live += heat.advance(kl, oi, end)
        heat = LiveHeatmap.load(heat.dump(), SERVED)
    assert len(live) == len(offline) and all(_same(a, b) for a, b in zip(live, offline))
    assert live[-1].levels.sum() > 1e9 and not live[-1].aggregate.partial  # a real book, every venue in


async def test_live_feeder_equals_the_api_model_on_the_same_binance_input():
    """Binance alone: the aggregate is Binance's OI, and the live feeder reading the venue tables
    gives the levels of the offline API path reading the archive tables (same rows, mirrored)."""
    con = await _backfilled(("binance",))
    kl, oi = _inputs(con, ("binance",))
    live = {s.t_end: s for s in LiveHeatmap("BTC", SERVED, FIRST).advance(kl, oi, LAST)}
    start = FIRST + 12 * STEP
    series, res, cols, used = calculate_time_evolving_heatmap("BTCUSDT", start, LAST, "5m", SERVED,
                                                              warmup_ms=start - FIRST + 1, con=con)
    assert series.t_end[0] == FIRST and used == ["klines_5m_history", "open_interest_history"]
    assert len(cols) > 800
    for i in cols:
        origin, levels = res.snapshots[int(i)]
        s = live[int(series.t_end[i])]
        assert s.origin == origin and np.array_equal(s.levels, levels)


async def test_stored_steps_serve_the_levels_the_model_computed():
    con = await _backfilled(("binance", "bybit", "okx"))
    kl, oi = _inputs(con)
    heat = LiveHeatmap("BTC", SERVED, FIRST)
    steps = heat.advance(kl, oi, LAST)
    hs.save_steps(con, "BTC", SERVED.version, STEP, FIRST, steps, heat.dump(), NOW)
    assert LiveHeatmap.load(hs.load_state(con, "BTC", SERVED.version, STEP), SERVED).next_end == LAST + STEP
    got = hs.read_columns(con, "BTC", SERVED.version, [LAST])[LAST]
    cells, lo, sh = hs.sparse_cells(steps[-1].origin, steps[-1].levels)
    assert np.array_equal(got[0], cells) and np.array_equal(got[1], lo) and np.array_equal(got[2], sh)
    body = live_timeseries(con, SERVED, "BTC", "binance:BTCUSDT", LAST - DAY, LAST, "15m", None, 10.0)
    assert body["meta"]["source"] == "live" and body["meta"]["open_interest"]["venues"] == sorted(oi)
    assert len(body["data"]) == 96 and all(col["timestamp"] % 900_000 == 0 for col in body["data"])
    last = body["data"][-1]["levels"]
    near = [lv for lv in last if abs(lv["price"] / steps[-1].close - 1) < 0.1]
    assert len(near) == len(last) > 20
    total = sum(lv["long"] + lv["short"] for lv in last)
    in_band = steps[-1].levels.sum()  # the whole book; the band keeps most of it
    assert 0.5 * in_band < total <= in_band + len(last)


def _vals(i: int, drop: set[str] = frozenset()) -> dict[str, tuple[float, float | None]]:
    """Step ``i`` of three instruments carrying the REAL Binance OI (x1, x0.6, x0.3)."""
    t, oi, usd = real_oi()[i]
    out = {"binance:BTCUSDT": (oi, usd), "bybit:BTCUSDT": (0.6 * oi, 0.6 * usd), "okx:BTC-USDT-SWAP": (0.3 * oi, 0.3 * usd)}
    return {k: v for k, v in out.items() if k not in drop}


def test_a_silent_venue_leaves_the_aggregate_partial_and_not_lower():
    chain = OIChain(hold_ms=3_600_000)
    rows = real_oi()
    for i in range(10):
        a = chain.step(rows[i][0], _vals(i))
        assert not a.partial and a.value == a.total
    full = a.total
    a = chain.step(rows[10][0], _vals(10, {"bybit:BTCUSDT"}))  # bybit stops answering
    assert a.partial and a.missing == ("bybit:BTCUSDT",) and a.present == ("binance:BTCUSDT", "okx:BTC-USDT-SWAP")
    assert a.total < 0.7 * full  # the raw sum would fall by bybit's share ...
    want = full * (rows[10][1] * 1.3) / (rows[9][1] * 1.3)  # ... the chain moves with the others only
    assert a.value == pytest.approx(want, rel=1e-12)
    a = chain.step(rows[11][0], _vals(11))  # bybit back within six hours: complete, re-anchored
    assert not a.partial and a.value == a.total
    # silent for more than six hours: no longer expected; its return is a join -> unknown for an hour
    t = rows[11][0]
    for i in range(12, 12 + 73):
        a = chain.step(rows[i][0], _vals(i, {"bybit:BTCUSDT"}))
    assert not a.partial and a.missing == () and a.value == a.total
    a = chain.step(rows[85][0], _vals(85))
    assert math.isnan(a.value) and not a.partial
    for i in range(86, 86 + 12):
        assert math.isnan(chain.step(rows[i][0], _vals(i)).value)
    a = chain.step(rows[98][0], _vals(98))
    assert a.value == a.total and rows[98][0] - t > 6 * 3_600_000
    assert OIChain.load(chain.dump()) == chain


def test_a_venue_without_a_usd_value_is_valued_at_the_others_price_not_dropped():
    """Binance's polled ``/fapi/v1/openInterest`` carries no USD value until a price of the symbol
    was seen: the aggregate's USD must still count Binance's share (the real rows' price)."""
    chain = OIChain()
    for i in range(3):
        vals = _vals(i)
        vals["binance:BTCUSDT"] = (vals["binance:BTCUSDT"][0], None)
        a = chain.step(real_oi()[i][0], vals)
        _, oi, usd = real_oi()[i]
        assert a.total_usd == pytest.approx(1.9 * usd, rel=1e-12)  # 1 + 0.6 + 0.3 of the real value
    a = chain.step(real_oi()[3][0], {k: (b, None) for k, (b, _) in _vals(3).items()})
    assert math.isnan(a.total_usd) and a.total == pytest.approx(1.9 * real_oi()[3][1])


async def test_live_columns_are_the_offline_binner_over_the_stored_cells():
    """The API's vectorized binning of many stored columns equals the offline binner
    (``model._bins``) run column by column over the same stored cells, whatever the window,
    interval, bin size and band."""
    from liqmap.heatmap.model import _bins

    con = await _backfilled(("binance", "bybit", "okx"))
    kl, oi = _inputs(con)
    heat = LiveHeatmap("BTC", SERVED, FIRST)
    steps = heat.advance(kl, oi, LAST)
    hs.save_steps(con, "BTC", SERVED.version, STEP, FIRST, steps, heat.dump(), NOW)
    by_end = {s.t_end: s for s in steps}
    for window, interval, bin_size, band in ((DAY, "15m", None, 10.0), (2 * DAY, "1h", 50.0, 3.0), (DAY // 2, "5m", None, 25.0)):
        body = live_timeseries(con, SERVED, "BTC", "binance:BTCUSDT", LAST - window - 7, LAST - 7, interval, bin_size, band)
        size = body["meta"]["bin_size"]
        assert body["data"] and all(c["timestamp"] % INTERVAL_MS[interval] == 0 for c in body["data"])
        for col in body["data"]:
            s = by_end[col["timestamp"]]
            cells, lo, sh = hs.sparse_cells(s.origin, s.levels)
            dense = np.zeros((2, int(cells[-1]) - int(cells[0]) + 1))
            dense[0, cells - cells[0]], dense[1, cells - cells[0]] = lo, sh
            want = _bins(SERVED.params, s.close, int(cells[0]), dense, size, band)
            assert col["levels"] == [{"price": p, "long": a, "short": b} for p, a, b in zip(*(x.tolist() for x in want))]


@pytest.mark.parametrize("step", ["1m", "15m", "1h"])
async def test_other_steps_run_the_same_model_live_as_offline_and_resume(step):
    """``serve --heatmap-step``: the warm-up's REAL 5-minute klines feed 15-minute and 1-hour
    steps (aggregated) and 1-minute steps (each bar's range on its last minute); live in
    irregular chunks with a restart after each equals the offline runner at that step."""
    st = INTERVAL_MS[step]
    con = await _backfilled(("binance", "bybit", "okx"))
    first, last = (NOW - 3 * DAY) // st * st + st, NOW // st * st
    kl = mr.reference_bars(con, "binance", "BTCUSDT", first - st, last, st)
    assert [k.interval_ms for k in kl] == [300_000]  # only the backfill's 5-minute klines are stored
    oi = {k.key: v for k, v in mr.oi_per_step(con, "BTC", first, last, st, ("USDT",)).items()}
    offline = offline_steps("BTC", SERVED, first, kl, oi, last, step_ms=st)
    assert len(offline) == (last - first) // st + 1
    rng = random.Random(3)
    heat, live, end = LiveHeatmap("BTC", SERVED, first, st), [], first - st
    while end < last:
        end = min(last, end + st * rng.randint(1, 40))
        live += heat.advance(kl, oi, end)
        heat = LiveHeatmap.load(heat.dump(), SERVED, st)
    assert len(live) == len(offline) and all(_same(a, b) for a, b in zip(live, offline))
    assert live[-1].levels.sum() > 1e9
    with pytest.raises(ValueError, match="state steps"):
        LiveHeatmap.load(heat.dump(), SERVED)  # a 5-minute run never resumes another step's state


def test_reference_bars_take_each_step_from_its_fullest_source_once():
    """Per step one source, the fullest first: the step's own kline, else 1-minute bars, else a
    finer kline, else a coarser one (REAL Binance 5-minute klines in the venue table, with a
    15-minute and a 1-minute bar added where the 5-minute ones stand)."""
    con = duckdb.connect()
    apply_migrations(con)
    rows = [r for r in real_klines() if NOW - DAY <= int(r[0]) < NOW - DAY + 3_600_000]  # one hour: 12 bars
    assert len(rows) == 12
    for r in rows:
        con.execute("INSERT INTO klines VALUES ('binance', 'BTCUSDT', '5m', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'test')",
                    [int(r[0]), int(r[6]), *map(float, r[1:6]), float(r[7]), float(r[9]), float(r[10]), int(r[8])])
    t0 = int(rows[0][0])
    con.execute("INSERT INTO klines SELECT exchange, symbol, '15m', open_time, open_time + 899999, open, high, low, "
                "close, volume, quote_volume, taker_buy_volume, taker_buy_quote_volume, trades, 'test' FROM klines "
                "WHERE open_time = ?", [t0])  # a 15-minute bar at the hour's first quarter (values of its first 5m bar)
    con.execute("INSERT INTO klines SELECT exchange, symbol, '1m', open_time, open_time + 59999, open, high, low, "
                "close, volume, quote_volume, taker_buy_volume, taker_buy_quote_volume, trades, 'test' FROM klines "
                "WHERE open_time = ? AND interval = '5m'", [t0 + 1_800_000])  # a 1-minute bar in the third quarter
    got = {k.interval_ms: k.open_time.tolist() for k in mr.reference_bars(con, "binance", "BTCUSDT", t0, t0 + 3_600_000, 900_000)}
    assert got == {900_000: [t0], 60_000: [t0 + 1_800_000],
                   300_000: [t0 + 900_000 + i * 300_000 for i in range(3)] + [t0 + 2_700_000 + i * 300_000 for i in range(3)]}
    # 1-hour steps: no hourly kline; the 1-minute bar's step (the hour) takes the 1-minute bars only
    got = {k.interval_ms: k.open_time.tolist() for k in mr.reference_bars(con, "binance", "BTCUSDT", t0, t0 + 3_600_000, 3_600_000)}
    assert got == {60_000: [t0 + 1_800_000]}
    # 1-minute steps: the 1-minute bar; the other minutes from the finest coarser kline (5m), never the 15m
    got = {k.interval_ms: k.open_time.tolist() for k in mr.reference_bars(con, "binance", "BTCUSDT", t0, t0 + 3_600_000, 60_000)}
    assert got[60_000] == [t0 + 1_800_000] and 900_000 not in got
    assert got[300_000] == [int(r[0]) for r in rows if int(r[0]) != t0 + 1_800_000]


async def test_a_failed_save_reloads_the_stored_state_instead_of_running_ahead(monkeypatch):
    """serve's tick: when storing an advance fails, the in-memory model (already advanced) is
    dropped and the next round resumes from the stored state, so the stored steps stay
    contiguous and equal an uninterrupted run."""
    from liqmap.serve.heatmap import HeatmapService

    con = await _backfilled(("binance", "bybit", "okx"))
    svc = HeatmapService(cursor=con.cursor, bases=["BTC"], exchanges=["binance", "bybit", "okx"],
                         now_ms=lambda: NOW, live=False)
    t = svc.tracked["BTC"]
    real_save, calls = hs.save_steps, []

    def flaky_save(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return real_save(*a, **k)

    monkeypatch.setattr(hs, "save_steps", flaky_save)
    with pytest.raises(RuntimeError):
        svc.tick(t)
    assert t.heat is None and hs.latest_step(con, "BTC", SERVED.version) is None
    steps = svc.tick(t)
    stored = [r[0] for r in con.execute("SELECT t_end FROM heatmap_steps ORDER BY t_end").fetchall()]
    assert stored == [s.t_end for s in steps] and stored == list(range(stored[0], stored[-1] + 1, STEP))
    kl, oi = _inputs(con)
    offline = {t_end: (o, lv) for t_end, o, lv in offline_steps("BTC", SERVED, stored[0], kl, oi, stored[-1])}
    assert all(s.levels is None or np.array_equal(s.levels, offline[s.t_end][1]) for s in steps)
