"""The one feeder (heatmap/series.py) and the time convention on REAL Binance BTCUSDT data
shipped in the package (heatmap/reference/, PROVENANCE.md there): steps and hours are named by
their END, at every input, and predictions join to realized liquidations by that END."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from liqmap.heatmap.pipeline import hourly
from liqmap.heatmap.reference import KLINES_5M, KLINES_15M, OI_5M, REALIZED_1H, load_klines, load_oi, load_realized
from liqmap.heatmap.series import OpenInterest, build_series
from liqmap.units import HOUR_MS

M5 = 300_000
K5, K15, OI = load_klines(KLINES_5M, "5m"), load_klines(KLINES_15M, "15m"), load_oi(OI_5M)


def test_a_kline_belongs_to_the_step_ending_at_its_close_time():
    s = build_series(M5, [K5], OI)
    i = 100
    k = int(np.searchsorted(s.t_end, K5.open_time[i] + M5))
    assert s.t_end[k] == K5.open_time[i] + M5
    assert (s.open[k], s.high[k], s.low[k], s.close[k]) == (K5.open[i], K5.high[i], K5.low[i], K5.close[i])
    assert s.taker_buy[k] == pytest.approx(K5.taker_buy_quote[i] / K5.quote_volume[i])
    # Binance metrics create_time is the END of its bar: the OI stamped t is the step ending t
    j = int(np.searchsorted(OI.t, s.t_end[k]))
    assert OI.t[j] == s.t_end[k] and s.oi[k] == OI.contracts[j]


def test_late_oi_stamps_are_floored_onto_the_grid():
    late = OpenInterest(np.array([1_764_547_500_000 + 2_000, 1_764_547_800_000]), np.array([1.0, 2.0]),
                        np.array([90_000.0, 180_000.0]))  # a row stamped 2 s late, as Binance writes some
    s = build_series(M5, [K5], late, first_end=1_764_547_500_000, last_end=1_764_548_100_000)
    assert s.oi.tolist()[:2] == [1.0, 2.0] and np.isnan(s.oi[2])


def test_coarse_bars_price_their_last_step_and_mark_closes_before_it():
    s = build_series(M5, [K15], OI)  # 15-minute bars only
    i = 2_000
    t0 = int(K15.open_time[i])
    a, b, c = (int(np.searchsorted(s.t_end, t0 + j * M5)) for j in (1, 2, 3))
    assert (s.high[c], s.low[c], s.close[c]) == (K15.high[i], K15.low[i], K15.close[i])
    assert s.taker_buy[c] == pytest.approx(K15.taker_buy_quote[i] / K15.quote_volume[i])
    mark = {int(t): v / q for t, q, v in zip(OI.t, OI.contracts, OI.value_usd)}
    assert s.close[a] == pytest.approx(mark[t0 + M5]) and s.close[b] == pytest.approx(mark[t0 + 2 * M5])
    assert s.open[a] == K15.open[i] and s.low[b] == min(s.close[a], s.close[b])
    assert np.isnan(s.taker_buy[a]) and np.isnan(s.taker_buy[b])  # the bar's flow is not known before its end
    assert s.counts()["coarse_bar_mark"] == 2 * s.counts()["coarse_bar_end"]


def test_rows_of_past_steps_do_not_change_when_later_data_arrives():
    cut = int(K15.open_time[3_000])
    k15 = [type(K15)(K15.interval_ms, *(getattr(K15, f)[K15.open_time < cut] for f in
                                        ("open_time", "open", "high", "low", "close", "quote_volume", "taker_buy_quote")))]
    oi = OpenInterest(OI.t[OI.t <= cut], OI.contracts[OI.t <= cut], OI.value_usd[OI.t <= cut])
    short = build_series(M5, [K5] + k15, oi)
    full = build_series(M5, [K5, K15], OI)
    n = int(np.searchsorted(short.t_end, cut, side="right"))
    for f in ("t_end", "open", "high", "low", "close", "oi", "taker_buy", "price_source"):
        np.testing.assert_array_equal(getattr(short, f)[:n], getattr(full, f)[:n])


def test_predictions_join_realized_liquidations_by_hour_end():
    """CoinGlass rows are stamped at the hour START; joined by the hour END the Binance hour's prices
    match theirs, joined by the raw stamp they do not. The model's hourly sums use the same END."""
    real = load_realized()
    s = build_series(M5, [K5, K15], OI)
    with gzip.open(REALIZED_1H, "rt") as fh:
        cg = {int(r["timestamp"]): float(r["price_close"]) for r in csv.DictReader(fh)}
    close_at_end = {int(t): c for t, c in zip(s.t_end, s.close) if t % HOUR_MS == 0 and c == c}
    by_end = [abs(cg[t - HOUR_MS] / close_at_end[t] - 1) for t in real.t_end if t in close_at_end]
    by_stamp = [abs(cg[t - HOUR_MS] / close_at_end[t - HOUR_MS] - 1) for t in real.t_end
                if t - HOUR_MS in close_at_end]
    assert len(by_end) > 4_000
    assert np.median(by_end) < 0.001 < np.median(by_stamp)  # the CoinGlass close is the close at the hour END
    assert (real.t_end % HOUR_MS == 0).all() and real.t_end[0] == 1_764_828_000_000 + HOUR_MS
    # a step (t − 5m, t] is summed into the hour ending ceil(t / 1 h): 00:05 … 01:00 → 01:00
    t = np.array([HOUR_MS + M5, 2 * HOUR_MS, 2 * HOUR_MS + M5])
    h, v = hourly(t, np.array([1.0, 2.0, 4.0]))
    assert h.tolist() == [2 * HOUR_MS, 3 * HOUR_MS] and v.tolist() == [3.0, 4.0]


def test_the_realized_file_s_open_interest_is_binance_btcusdt_alone():
    """PROVENANCE's label, checked on the shipped files: the CoinGlass export's OI close (USD, at the
    hour END) equals Binance BTCUSDT's 5-minute OI value alone, although its meta file names
    Binance+Bybit+OKX (three venues would be ~1.5-2x Binance's)."""
    with gzip.open(REALIZED_1H, "rt") as fh:
        cg = {int(r["timestamp"]) + HOUR_MS: float(r["oi_close"]) for r in csv.DictReader(fh)}
    binance = {int(t) - int(t) % 300_000: v for t, v in zip(OI.t, OI.value_usd)}
    ratio = np.array([cg[t] / binance[t] for t in cg if t in binance])
    assert len(ratio) > 4_000
    lo, hi = np.percentile(ratio, [1, 99])
    assert 0.999 < lo and hi < 1.001
