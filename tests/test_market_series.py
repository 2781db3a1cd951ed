"""The market series serve stores (issue #10 items 1-2): trade bars, minute sampling, the
open-interest guard -- on real data.

* trades: the cryptofeed sample sessions (Binance USD-M aggTrade 2021-07-22, Bybit legacy
  trades 2021-04-17) through the real replay path and venue parsers;
* open interest: Binance USD-M BTCUSDT 5-minute open interest of December 2025 (archive
  ``metrics``, ``../shared/data/binance_usdm_5m_2025-12``) with the same month's klines for
  the price. Faults (a doubled value, NaN, a negative) are written into COPIES of that series,
  named as such in each test.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from conftest import FIX
from liqmap.analytics.market_series import MarketSeries, MinuteSampler
from liqmap.analytics.oi_guard import OIGuard
from liqmap.analytics.trade_bars import TradeBars
from liqmap.models import Gap, OpenInterest, Ticker, Trade
from liqmap.replay.runner import ReplayRunner
from rest_venues import real_klines, real_oi

CF = FIX / "cryptofeed_sample_data"


def trades_of(*names: str) -> list[Trade]:
    return [e for e in ReplayRunner([str(CF / n) for n in names]).iter_events() if isinstance(e, Trade)]


@pytest.mark.parametrize("session", ["BINANCE_FUTURES.ws.1.0.gz", "BYBIT.ws.25.0.gz", "BYBIT.ws.26.0.gz"])
def test_trade_bars_equal_the_minutes_recomputed_from_the_trades(session):
    trades = trades_of(session)
    assert len(trades) > 40
    builder = TradeBars()
    bars = builder.add(trades) + builder.flush()
    want = defaultdict(list)
    for t in trades:
        want[(t.exchange, t.symbol, t.timestamp // 60_000 * 60_000)].append(t)
    assert {(b.exchange, b.symbol, b.open_time) for b in bars} == set(want)
    for b in bars:
        ts = sorted(want[(b.exchange, b.symbol, b.open_time)], key=lambda t: t.timestamp)
        assert (b.high, b.low, b.trades) == (max(t.price for t in ts), min(t.price for t in ts), len(ts))
        assert b.open == ts[0].price and b.close == [t.price for t in ts if t.timestamp == ts[-1].timestamp][-1]
        assert b.buy_volume == pytest.approx(sum(t.quantity for t in ts if t.side == "buy"), rel=1e-12)
        assert b.sell_usd == pytest.approx(sum(t.value_usd for t in ts if t.side == "sell"), rel=1e-12)
    first = {}
    for b in bars:
        first.setdefault((b.exchange, b.symbol), b)
    assert all(b.partial for b in first.values())  # the builder saw no trade before them
    assert builder.late == 0


def test_a_gap_marks_the_bars_of_its_minutes_partial():
    trades = trades_of("BINANCE_FUTURES.ws.1.0.gz")
    ctk = [t for t in trades if t.symbol == "CTKUSDT"]
    second = min(t.timestamp for t in ctk if t.timestamp // 60_000 > ctk[0].timestamp // 60_000)
    builder = TradeBars()
    builder.add([t for t in ctk if t.timestamp < second])
    builder.gap(Gap("binance", "usdm-market", second - 5_000, second + 2_000, "closed"))
    finished = builder.add([t for t in ctk if t.timestamp >= second])
    assert finished and finished[0].partial  # the minute the gap started in
    other = TradeBars()
    other.add([t for t in ctk if t.timestamp < second])
    other.gap(Gap("bybit", "linear", second - 5_000, second + 2_000, "closed"))  # another venue's gap
    other._open[("binance", "CTKUSDT")].partial = False  # as if the first minute had been whole
    assert not other.add([t for t in ctk if t.timestamp >= second])[0].partial


def test_minute_sampler_keeps_the_last_value_of_each_minute_and_drops_late_ones():
    s: MinuteSampler[int] = MinuteSampler()
    assert s.offer("k", 60_000, 1) is None
    assert s.offer("k", 119_999, 2) is None
    assert s.offer("k", 120_000, 3) == 2  # a new minute finishes the old one with its LAST value
    assert s.offer("k", 119_000, 4) is None and s.late == 1
    assert s.expire(239_999) == [] and s.expire(240_000) == [3]  # the minute ended a minute ago: handed on
    assert s.flush() == []


def _oi_stream(rows=None):
    """Real 5-minute OI as OpenInterest events with the real kline close as the price."""
    closes = {int(k[6]) + 1: float(k[4]) for k in real_klines()}  # bar end -> close
    out = []
    for t, oi, usd in rows or real_oi():
        out.append((closes.get(t), OpenInterest("binance", "BTCUSDT", "BTC", "USDT", oi, usd, t, t)))
    return out


def _run(guard: OIGuard, stream) -> list[str | None]:
    res = []
    for price, oi in stream:
        guard.observe_price(oi.exchange, oi.symbol, price)
        res.append(guard.check(oi))
    return res


def test_guard_accepts_every_real_value_of_a_month():
    stream = _oi_stream()
    assert len(stream) == 8928
    assert _run(OIGuard(), stream) == [None] * len(stream)


def test_guard_rejects_non_finite_negative_and_a_lone_jump_and_counts_them_per_venue():
    stream = _oi_stream()[:400]
    bad = {100: 2.0, 200: math.nan, 300: -1.0}  # COPIES with faults written in: x2, NaN, negative
    faulty = [(p, OpenInterest(e.exchange, e.symbol, e.base, e.quote,
                               e.open_interest * bad[i] if i in bad else e.open_interest,
                               e.open_interest_usd, e.timestamp, e.received_at)) for i, (p, e) in enumerate(stream)]
    guard = OIGuard()
    res = _run(guard, faulty)
    assert {i: r for i, r in enumerate(res) if r} == {100: "jump", 200: "non_finite", 300: "negative"}
    assert guard.rejected_by_exchange() == {"binance": {"jump": 1, "negative": 1, "non_finite": 1}}
    assert guard.accepted["binance"] == 397


def test_a_jump_with_a_matching_price_move_passes_and_a_confirmed_new_level_is_accepted():
    stream = _oi_stream()[:50]
    guard = OIGuard()
    _run(guard, stream[:10])
    p, e = stream[10]
    halved = OpenInterest(e.exchange, e.symbol, e.base, e.quote, e.open_interest * 0.45, None, e.timestamp, e.received_at)
    guard.observe_price(e.exchange, e.symbol, p * 0.8)  # price fell 20 % with it: a deleveraging
    assert guard.check(halved) is None
    # a venue changing how it counts (Bybit halved its figure on 2026-06-11): from here on the
    # REAL values are halved (a COPY): two rejected, the third confirms the new level
    guard = OIGuard()
    _run(guard, stream[:10])
    changed = [(p, OpenInterest(e.exchange, e.symbol, e.base, e.quote, e.open_interest / 2, None, e.timestamp,
                                e.received_at)) for p, e in stream[10:20]]
    assert _run(guard, changed) == ["jump", "jump"] + [None] * 8


def test_market_series_samples_guarded_oi_to_one_value_a_minute():
    series = MarketSeries()
    t0 = 1_767_000_000_000 // 60_000 * 60_000
    real = [oi for _, oi, _ in real_oi()[:3]]
    events = [OpenInterest("binance", "BTCUSDT", "BTC", "USDT", real[0], None, t0 + 1_000, t0),
              OpenInterest("binance", "BTCUSDT", "BTC", "USDT", real[1], None, t0 + 40_000, t0),
              OpenInterest("binance", "BTCUSDT", "BTC", "USDT", real[0] * 3, None, t0 + 50_000, t0),  # rejected
              OpenInterest("binance", "BTCUSDT", "BTC", "USDT", real[2], None, t0 + 61_000, t0)]
    rows = series.add(events)
    assert [o.open_interest for o in rows.open_interest] == [real[1]]  # minute 0's last accepted value
    assert rows.latest[("oi", "binance", "BTCUSDT")].open_interest == real[2]
    assert series.stats()["oi_rejected"] == {"binance": {"jump": 1}}
    # the venue goes silent; other events move the stream's time on: its last value is stored
    later = series.add([Ticker("bybit", "BTCUSDT", t0 + 181_000, t0, mark_price=87_000.0)])
    assert [o.open_interest for o in later.open_interest] == [real[2]] and series.flush().open_interest == []
