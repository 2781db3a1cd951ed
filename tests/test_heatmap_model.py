"""One model: the served heatmap (heatmap/model.py, read from DuckDB) is the pipeline that
``liqmap validate`` scores, on the same real input (Binance BTCUSDT 5-minute klines and OI of
December 2025, shipped in heatmap/reference/, PROVENANCE.md there); its columns never change
when later data arrives; its meta names the parameters and their validation score."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pytest

from liqmap.heatmap.brackets import ladder_factor
from liqmap.heatmap.model import (
    UnknownSymbol, _bins, calculate_time_evolving_heatmap, get_heatmap_timeseries, get_heatmap_timeseries_json,
)
from liqmap.heatmap.params import load_params
from liqmap.heatmap.pipeline import hourly, run
from liqmap.heatmap.reference import KLINES_5M, KLINES_15M, OI_5M, load_klines, load_oi
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.heatmap.validate import hourly_prediction, load_protocol, prepare
from liqmap.units import DAY_MS, HOUR_MS

DEC1 = 1_764_547_200_000  # 2025-12-01 00:00 UTC
DEC3, DEC5, DEC6 = DEC1 + 2 * DAY_MS, DEC1 + 4 * DAY_MS, DEC1 + 5 * DAY_MS
K5, K15, OI = load_klines(KLINES_5M, "5m"), load_klines(KLINES_15M, "15m"), load_oi(OI_5M)


def _add(con, lo: int, hi: int, kl=K5, table: str = "klines_5m_history") -> None:
    """Insert the real klines ``kl`` ending in (lo, hi] and the OI stamped in (lo, hi]."""
    iv = kl.interval_ms
    k = (kl.open_time + iv > lo) & (kl.open_time + iv <= hi)
    con.executemany(f"INSERT INTO {table} VALUES ('BTCUSDT', ?, ?, ?, ?, ?, 0, ?, ?, 0, 0, ?)",
                    [(int(t), o, h, lo_, c, int(t) + iv - 1, qv, tb) for t, o, h, lo_, c, qv, tb in zip(
                        kl.open_time[k], kl.open[k], kl.high[k], kl.low[k], kl.close[k], kl.quote_volume[k],
                        kl.taker_buy_quote[k])])
    m = (OI.t > lo) & (OI.t <= hi)
    con.executemany("INSERT INTO open_interest_history VALUES ('BTCUSDT', ?, ?, ?, NULL, NULL, NULL, NULL, 'test')",
                    [(int(t), q, v) for t, q, v in zip(OI.t[m], OI.contracts[m], OI.value_usd[m])])


@pytest.fixture(scope="module")
def db():
    con = duckdb.connect()
    apply_migrations(con)
    _add(con, DEC1 - 1, DEC6)
    return con


def test_api_output_equals_validate_model_output(db):
    served = load_params()
    series, res, cols, used = calculate_time_evolving_heatmap("BTCUSDT", DEC3, DEC6, "1h", served, 2 * DAY_MS, con=db)
    assert used == ["klines_5m_history", "open_interest_history"]
    ds = prepare(load_protocol(served.protocol))
    n = len(series)
    assert ds.series.t_end[0] == series.t_end[0] == DEC1 + 300_000  # both start at the first data row
    for f in ("t_end", "open", "high", "low", "close", "oi", "taker_buy"):
        np.testing.assert_array_equal(getattr(series, f), getattr(ds.series, f)[:n])
    vres = run(served.params, ds.series, stop=n, snapshot_steps=cols)
    np.testing.assert_array_equal(res.consumed, vres.consumed)
    np.testing.assert_array_equal(res.book_qty, vres.book_qty)
    for i in cols:
        assert res.snapshots[i][0] == vres.snapshots[i][0]
        np.testing.assert_array_equal(res.snapshots[i][1], vres.snapshots[i][1])
    # validate's hourly predictions are the hourly sums of these very steps, joined by hour END
    hours, per = hourly(series.t_end, res.consumed)
    scored = np.flatnonzero(ds.t <= DEC6)
    pred = hourly_prediction(served.params, ds, len(scored))
    np.testing.assert_array_equal(pred, per[np.searchsorted(hours, ds.t[scored])])
    # and the API's JSON levels are those snapshots, binned
    body = json.loads(get_heatmap_timeseries_json("BTCUSDT", DEC3, DEC6, "1h", warmup_ms=2 * DAY_MS, con=db))
    assert body["meta"]["params_version"] == served.version and len(body["data"]) == len(cols) == 72
    # coverage = contracts in the book / real OI (one side per contract: not halved)
    assert np.isfinite(series.oi[-1]) and body["meta"]["coverage"] == round(float(vres.book_qty[-1] / series.oi[-1]), 4)
    assert 0 < body["meta"]["coverage"] <= 1
    i, col = cols[-1], body["data"][-1]
    prices, lo, sh = _bins(served.params, series.close[i], *vres.snapshots[i], body["meta"]["bin_size"], 10.0)
    assert col["timestamp"] == DEC6
    assert [lv["price"] for lv in col["levels"]] == prices.tolist()
    assert [lv["long"] for lv in col["levels"]] == lo.tolist() and [lv["short"] for lv in col["levels"]] == sh.tolist()


def test_columns_do_not_change_when_later_data_arrives():
    con = duckdb.connect()
    apply_migrations(con)
    _add(con, DEC1 - 1, DEC5)
    before = get_heatmap_timeseries("BTCUSDT", DEC3, DEC5, "15m", bin_size=100, warmup_ms=2 * DAY_MS, con=con)
    _add(con, DEC5, DEC6)  # a day of new klines and OI arrives
    after = get_heatmap_timeseries("BTCUSDT", DEC3, DEC6, "15m", bin_size=100, warmup_ms=2 * DAY_MS, con=con)
    n = len(before["data"])
    assert n == 192 and len(after["data"]) == n + 96
    assert after["data"][:n] == before["data"]
    assert sum(len(c["levels"]) for c in before["data"]) > 1_000


def test_default_bins_of_earlier_columns_do_not_change_when_later_data_arrives():
    """Real 15-minute klines of 2026-01-29 … 02-05, when BTC fell through 80,000 USD: a bin size
    taken from the whole window (its median close) would re-bin the first days once the later
    ones arrive (250 → 200 USD); the default comes from the window's first price, so it does not."""
    jan29 = DEC1 + 59 * DAY_MS
    con = duckdb.connect()
    apply_migrations(con)
    _add(con, jan29 - 1, jan29 + 3 * DAY_MS, K15, "klines_15m_history")
    before = get_heatmap_timeseries("BTCUSDT", jan29 + DAY_MS, jan29 + 3 * DAY_MS, "1h", con=con)
    _add(con, jan29 + 3 * DAY_MS, jan29 + 7 * DAY_MS, K15, "klines_15m_history")
    after = get_heatmap_timeseries("BTCUSDT", jan29 + DAY_MS, jan29 + 7 * DAY_MS, "1h", con=con)
    closes = K15.close[(K15.open_time >= jan29) & (K15.open_time < jan29 + 7 * DAY_MS)]
    assert np.median(closes[:288]) > 80_000 > np.median(closes)  # the window's median does cross the bin edge
    assert before["meta"]["bin_size"] == after["meta"]["bin_size"] == 250
    n = len(before["data"])
    assert n == 48 and after["data"][:n] == before["data"]


def test_levels_sit_beyond_the_price_path_and_meta_is_honest(db):
    out = get_heatmap_timeseries("BTCUSDT", DEC5, DEC6, "5m", warmup_ms=4 * DAY_MS, con=db)
    meta, size = out["meta"], out["meta"]["bin_size"]
    served = load_params()
    assert meta["estimate"] is True and meta["params_version"] == served.version
    assert meta["params"] == served.params.to_dict() and meta["validation"] == served.meta()
    assert meta["model_step"] == "5m" and 0 < meta["coverage"] <= 1
    bars = {int(t) + 300_000: (h, lo) for t, h, lo in zip(K5.open_time, K5.high, K5.low)}
    p = served.params
    # levels opened before a step and crossed by its range are gone; only the step's own new entries
    # (anywhere in [low, high]) may leave levels inside it, no closer to their entry than the nearest tier
    near = [min(abs(math.log(ladder_factor(L, s, p.mmr))) for L, _ in p.ladder) * (1 - p.level_spread) for s in (0, 1)]
    cell = p.cell_bps / 1e4  # the cell holding the extreme is only partly crossed
    n = inside = 0
    for col in out["data"]:
        high, low = bars[col["timestamp"]]
        for lv in col["levels"]:
            n += 1
            if lv["long"] > 0 and lv["price"] > low * (1 + cell):
                inside += 1
                assert lv["price"] < high * math.exp(-near[0]) * (1 + cell)
            if lv["short"] > 0 and lv["price"] + size < high * (1 - cell):
                inside += 1
                assert lv["price"] + size > low * math.exp(near[1]) * (1 - cell)
    assert inside < n / 20
    assert n > 10_000


def test_renderers_agree_and_unknown_symbol(db):
    a = get_heatmap_timeseries("BTCUSDT", DEC5, DEC6, "1h", warmup_ms=DAY_MS, con=db)
    b = json.loads(get_heatmap_timeseries_json("BTCUSDT", "2025-12-05T00:00:00Z", DEC6, "1h", warmup_ms=DAY_MS, con=db))
    assert a == b and a["data"][0]["timestamp"] == DEC5 + HOUR_MS
    with pytest.raises(UnknownSymbol) as ei:
        get_heatmap_timeseries("XRPUSDT", DEC5, DEC6, con=db)
    assert ei.value.known == ["BTCUSDT"]
    with pytest.raises(ValueError, match="whole number of model steps"):
        get_heatmap_timeseries("BTCUSDT", DEC5, DEC6, "1m", con=db)
