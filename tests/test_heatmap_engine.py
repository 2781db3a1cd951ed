"""The causal stepper (heatmap/engine.py): units, consumption, coverage, persistence, time rules.

Small HAND-BUILT inputs (named as such: toy prices, not market data) pin the arithmetic; the
real Binance BTCUSDT reference data shipped in the package (heatmap/reference/, PROVENANCE.md
there) checks the invariants on real market paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.heatmap.brackets import BRACKETS, check_ladder, inverse_liquidation_price, ladder_factor, liquidation_price
from liqmap.heatmap.engine import Params, StepInput, cell_prices, dump_state, load_state, new_state, step
from liqmap.heatmap.pipeline import run
from liqmap.heatmap.reference import OI_5M, load_oi, reference_klines
from liqmap.heatmap.series import build_series

M5 = 300_000
P10 = Params(ladder=((10, 1.0),), mmr=0.0)  # one tier: long level = 0.9 × entry, short 1.1 × entry


def toy(t: int, low: float, high: float, oi: float, beta: float = 0.5, close: float | None = None) -> StepInput:
    """HAND-BUILT step (toy prices)."""
    c = (low + high) / 2 if close is None else close
    return StepInput(t * M5, c, high, low, c, oi, beta)


def cell_of(p: Params, st, price: float) -> int:
    return int(math.floor(math.log(price) / p.g)) - st.origin


def test_opening_places_every_new_contract_once_and_coverage_is_exact():
    st = new_state(P10, M5)
    st, out = step(st, toy(1, 100, 100, 1_000))  # first OI value: reference only
    assert out.book_qty == 0
    st, out = step(st, toy(2, 100, 100, 1_100, beta=0.7))  # +100 contracts: 70 long, 30 short
    assert out.book_qty == pytest.approx(100.0)  # one side per contract, no /2
    assert st.book[0].sum() == pytest.approx(70.0) and st.book[1].sum() == pytest.approx(30.0)
    lp = cell_prices(P10, st.origin, st.book.shape[1])
    (i,) = np.flatnonzero(st.book[0])
    (j,) = np.flatnonzero(st.book[1])
    assert lp[i] == pytest.approx(90.0, rel=P10.cell_bps / 1e4) and lp[j] == pytest.approx(110.0, rel=P10.cell_bps / 1e4)
    # levels are USD notional at the level price
    assert out.levels[0].sum() == pytest.approx(70 * lp[i]) and out.levels[1].sum() == pytest.approx(30 * lp[j])


def test_consumption_stops_at_the_traded_extreme():
    st = new_state(P10, M5)
    st, _ = step(st, toy(1, 100, 100, 1_000))
    st, _ = step(st, toy(2, 100, 100, 1_100, beta=1.0))  # 100 longs, level cell around 90
    i = int(np.flatnonzero(st.book[0])[0])
    lo_edge, hi_edge = (math.exp((st.origin + i + f) * P10.g) for f in (0, 1))
    # the low stays above the level's cell: nothing liquidated
    st, out = step(st, toy(3, hi_edge * 1.0001, 101, 1_100, beta=1.0))
    assert out.consumed[0] == 0 and st.book[0].sum() == pytest.approx(100.0)
    # the low falls to the middle of the cell (in log terms): half the cell's levels are crossed
    mid = math.exp((st.origin + i + 0.5) * P10.g)
    st, out = step(st, toy(4, mid, 101, 1_050, beta=1.0))
    assert st.book[0].sum() == pytest.approx(50.0, rel=1e-9)
    assert out.consumed[0] == pytest.approx(50.0 * mid, rel=1e-6)
    # below the cell's lower edge: the rest goes, nothing below the low is touched (there is none)
    st, out = step(st, toy(5, lo_edge * 0.9999, 101, 1_000, beta=1.0))
    assert st.book[0].sum() == pytest.approx(0.0, abs=1e-9)


def test_liquidated_contracts_are_not_removed_twice_by_the_oi_drop():
    st = new_state(P10, M5)
    st, _ = step(st, toy(1, 100, 100, 1_000))
    st, _ = step(st, toy(2, 100, 100, 1_100, beta=0.5))  # 50 long (level 90), 50 short (level 110)
    # the price falls through the long levels and OI drops by exactly the 50 liquidated contracts
    st, out = step(st, toy(3, 89, 100, 1_050, beta=0.5))
    assert out.consumed[0] > 0 and st.book[0].sum() == pytest.approx(0.0, abs=1e-9)
    assert st.book[1].sum() == pytest.approx(50.0)  # the shorts are not closed by the same drop
    # a further voluntary drop of 105 contracts (10 % of the 1,050 open), taker-buy share 1: shorts close
    st, out = step(st, toy(4, 95, 100, 945, beta=1.0))
    assert st.book[1].sum() == pytest.approx(50.0 * (1 - 105 / 1_050))  # of the 1,050 open before the closes


def test_book_never_exceeds_real_oi_on_real_data():
    series = build_series(M5, reference_klines()[:1], load_oi(OI_5M))  # December 2025, 5-minute
    res = run(Params(base_rate=0.3, level_spread=0.5), series)
    known = np.isfinite(res.oi)
    assert known.sum() > 8_000
    assert (res.book_qty[known] <= res.oi[known] * (1 + 1e-12)).all()
    assert (res.book_qty[-100:] / res.oi[-100:]).min() > 0.5  # and it is not empty


def test_time_convention_is_enforced():
    st = new_state(P10, M5)
    with pytest.raises(ValueError, match="step END"):
        step(st, StepInput(M5 + 1, 100, 100, 100, 100, 1.0, 0.5))
    st, _ = step(st, toy(2, 100, 100, 1.0))
    with pytest.raises(ValueError, match="does not follow"):
        step(st, toy(2, 100, 100, 1.0))
    with pytest.raises(ValueError, match="high"):
        step(st, StepInput(3 * M5, 100, 99, 101, 100, 1.0, 0.5))
    with pytest.raises(ValueError, match="oi"):
        step(st, StepInput(3 * M5, 100, 101, 99, 100, -5.0, 0.5))


def test_step_is_pure_and_state_round_trips_bit_identically():
    series = build_series(M5, reference_klines()[:1], load_oi(OI_5M))
    p = Params(base_rate=0.03, level_spread=0.5, half_life_ms=2 * 3_600_000)
    full = run(p, series, stop=600, snapshot_steps=range(590, 600))
    half = run(p, series, stop=300)
    before = half.state.book.copy()
    resumed = run(p, series, state=load_state(dump_state(half.state)), start=300, stop=600,
                  snapshot_steps=range(590, 600))
    assert np.array_equal(half.state.book, before)  # run() copied the state it was given
    assert np.array_equal(resumed.consumed, full.consumed[300:])
    for i in range(590, 600):
        assert resumed.snapshots[i][0] == full.snapshots[i][0]
        assert np.array_equal(resumed.snapshots[i][1], full.snapshots[i][1])
    st = half.state
    x = next(series.inputs(300, 301))
    st2, _ = step(st, x)
    assert np.array_equal(st.book, before) and st2.book is not st.book and st.t_end != st2.t_end
    assert len(dump_state(full.state)) < 20 * 2**20


def test_a_step_without_price_keeps_the_oi_reference():
    st = new_state(P10, M5)
    st, _ = step(st, toy(1, 100, 100, 1_000))
    st, _ = step(st, StepInput(2 * M5, math.nan, math.nan, math.nan, math.nan, 1_050.0, math.nan))
    st, out = step(st, toy(3, 100, 100, 1_100, beta=1.0))  # ΔQ spans both steps: +100
    assert out.book_qty == pytest.approx(100.0)


# ---------------------------------------------------------------- liquidation-price maths


def test_linear_formula_and_bracket_leverage_check():
    # exchanges.md §12.1 worked example: 1 BTC at 60,000 with 6,000 margin lands in tier 2
    assert liquidation_price("long", 1.0, 60_000, 6_000, BRACKETS["BTCUSDT"]) == pytest.approx(54_221.11, abs=0.01)
    assert liquidation_price("short", 1.0, 60_000, 6_000, BRACKETS["BTCUSDT"]) == pytest.approx(65_721.39, abs=0.01)
    # a 75x long of $1.14B notional does not exist (that bracket allows 2x)
    with pytest.raises(ValueError, match="exceeds"):
        liquidation_price("long", 12_000, 95_000, 12_000 * 95_000 / 75, BRACKETS["BTCUSDT"])
    with pytest.raises(ValueError):
        check_ladder(((150, 1.0),), 0.004)  # above the first bracket's 125x
    with pytest.raises(ValueError):
        check_ladder(((10, 0.7), (20, 0.6)), 0.004)  # weights split the contracts: sum <= 1


def test_inverse_formula_solves_the_equity_equation():
    # exchanges.md §12.2 worked example: BTCUSD_PERP 100 contracts x 100 USD, EP 60,000, WB 0.02 BTC, MMR 0.4 %
    lp = inverse_liquidation_price("long", 100, 100, 60_000, 0.02, 0.004)
    sp = inverse_liquidation_price("short", 100, 100, 60_000, 0.02, 0.004)
    assert lp == pytest.approx(53_785.71, abs=0.01) and sp == pytest.approx(67_909.09, abs=0.01)
    n = 100 * 100
    for s, p in ((1, lp), (-1, sp)):  # equity (coin) == maintenance margin (coin) at the level
        assert 0.02 + s * n * (1 / 60_000 - 1 / p) == pytest.approx(n * 0.004 / p, rel=1e-12)
    # the ladder form is the same formula with WB = Q·CS/(EP·L), cum = 0; it differs from the linear one
    for L in (5, 10, 25, 100):
        wb = n / (60_000 * L)
        assert ladder_factor(L, 0, 0.004, "inverse") * 60_000 == pytest.approx(
            inverse_liquidation_price("long", 100, 100, 60_000, wb, 0.004), rel=1e-12)
        assert ladder_factor(L, 1, 0.004, "inverse") * 60_000 == pytest.approx(
            inverse_liquidation_price("short", 100, 100, 60_000, wb, 0.004), rel=1e-12)
    assert abs(ladder_factor(10, 0, 0.004, "inverse") - ladder_factor(10, 0, 0.004)) > 0.009  # ~1 point at 10x


def test_inverse_book_counts_usd_contracts():
    p = Params(ladder=((10, 1.0),), mmr=0.0, contract="inverse", contract_size=100.0)
    st = new_state(p, M5)
    st, _ = step(st, toy(1, 60_000, 60_000, 1_000))
    st, out = step(st, toy(2, 60_000, 60_000, 1_100, beta=1.0))  # +100 contracts of 100 USD, all long
    assert out.book_qty == pytest.approx(100.0) and out.levels[0].sum() == pytest.approx(100 * 100.0)
    lp = cell_prices(p, st.origin, st.book.shape[1])[np.flatnonzero(st.book[0])[0]]
    assert lp == pytest.approx(60_000 / 1.1, rel=1e-3)  # inverse 10x long: EP·(1 + m)/(1 + 1/L)


def test_background_opens_scale_with_the_oi_and_the_no_oi_book_counts_units():
    p = Params(ladder=((10, 1.0),), mmr=0.0, base_rate=0.12)  # 12 % of OI per hour = 1 % per 5 minutes
    st = new_state(p, M5)
    st, out = step(st, toy(1, 100, 100, 1_000))
    assert out.book_qty == pytest.approx(10.0)  # 0.12 x 1,000 x 5/60, split evenly
    assert st.book[0].sum() == pytest.approx(5.0) and st.book[1].sum() == pytest.approx(5.0)
    st, out = step(st, StepInput(2 * M5, 100, 100, 100, 100, math.nan, 0.5))  # OI unknown: the last one
    assert out.book_qty == pytest.approx(20.0)
    q = Params(ladder=((10, 1.0),), mmr=0.0, base_rate=0.12, oi_weight=0.0, use_oi_closes=False)
    st, out = step(new_state(q, M5), StepInput(M5, 100, 100, 100, 100, math.nan, 0.5))
    assert out.book_qty == pytest.approx(0.01)  # the no-OI book: 0.12 units per hour
