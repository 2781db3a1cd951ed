"""Risk score: formulas on a real window, band edges, monotonic properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from conftest import NEOPARTH_1, load_liquidations
from liqmap.analytics.risk import (
    MAX_SCORE,
    WEIGHTS,
    RiskInputs,
    risk_inputs,
    risk_score,
    severity_of,
)


@pytest.mark.parametrize(
    "score,band",
    [(0.0, "low"), (1.0799999, "low"), (1.08, "medium"), (1.1499999, "medium"), (1.15, "high"),
     (1.2199999, "high"), (1.22, "critical"), (2.2, "critical")],
)
def test_band_edges(score, band):
    assert severity_of(score) == band


def test_empty_window_is_zero_low():
    rs = risk_score([])
    assert rs.score == 0.0 and rs.severity == "low" and set(rs.factors) == set(WEIGHTS)


def test_formulas_on_real_btc_window():
    """BTC rows of 2025-06-23 21:15:00-21:16:00 UTC, factors recomputed by hand
    from the docstring formulas."""
    liqs = [x for x in load_liquidations(NEOPARTH_1) if x.base == "BTC" and 1750713300000 <= x.timestamp < 1750713360000]
    assert len(liqs) >= 10
    V = sum(x.value_usd for x in liqs)
    n = len(liqs)
    span = max(x.timestamp for x in liqs) - min(x.timestamp for x in liqs)
    lo, hi = min(x.price for x in liqs), max(x.price for x in liqs)
    lng = sum(x.value_usd for x in liqs if x.side == "long")
    inst = sum(x.value_usd for x in liqs if x.value_usd >= 100_000)
    clip = lambda v: min(1.0, max(0.0, v))  # noqa: E731
    expect = {
        "volume_concentration": clip(math.log10(V / 10_000) / 3),
        "time_compression": clip((n - 1) * 60_000 / max(span, 5_000) / 60),
        "price_clustering": 1 - clip((hi - lo) / lo * 10_000 / 200),
        "side_imbalance": abs(lng - (V - lng)) / V,
        "institutional_ratio": inst / V,
        "cross_exchange": 0.0,
    }
    rs = risk_score(liqs)
    for k, v in expect.items():
        assert rs.factors[k] == pytest.approx(v, abs=1e-12), k
    assert rs.score == pytest.approx(sum(WEIGHTS[k] * v for k, v in expect.items()), abs=1e-9)
    assert rs.severity == severity_of(rs.score)
    # order independence (deterministic on the multiset)
    assert risk_score(list(reversed(liqs))) == rs


inputs = st.builds(
    RiskInputs,
    count=st.integers(1, 500),
    value_usd=st.floats(1.0, 1e9),
    long_usd=st.just(0.0),
    short_usd=st.just(0.0),
    institutional_usd=st.just(0.0),
    first_ts=st.just(0),
    last_ts=st.integers(0, 600_000),
    price_low=st.floats(0.0001, 1e5),
    price_high=st.just(0.0),
    venues=st.integers(1, 8),
)


def _complete(r: RiskInputs, long_share: float, inst_share: float, spread: float) -> RiskInputs:
    r.long_usd = r.value_usd * long_share
    r.short_usd = r.value_usd - r.long_usd
    r.institutional_usd = r.value_usd * inst_share
    r.price_high = r.price_low * (1 + spread)
    return r


def _copy(r: RiskInputs, **kw) -> RiskInputs:
    d = {f: getattr(r, f) for f in r.__struct_fields__}
    d.update(kw)
    return RiskInputs(**d)


@settings(max_examples=150, deadline=None)
@given(inputs, st.floats(0, 1), st.floats(0, 1), st.floats(0, 0.05), st.floats(1.0, 10.0))
def test_monotonic_properties(r, long_share, inst_share, spread, k):
    r = _complete(r, long_share, inst_share, spread)
    base = risk_score(r)
    assert 0.0 <= base.score <= MAX_SCORE + 1e-9
    assert all(0.0 <= v <= 1.0 for v in base.factors.values())
    # more USD (same shares) -> volume factor and score do not fall
    bigger = _complete(_copy(r, value_usd=r.value_usd * k), long_share, inst_share, spread)
    rb = risk_score(bigger)
    assert rb.factors["volume_concentration"] >= base.factors["volume_concentration"]
    assert rb.score >= base.score - 1e-9
    # more events in the same span -> time compression does not fall
    assert risk_score(_copy(r, count=r.count + 5)).factors["time_compression"] >= base.factors["time_compression"]
    # more venues -> cross-exchange does not fall
    assert risk_score(_copy(r, venues=r.venues + 1)).factors["cross_exchange"] >= base.factors["cross_exchange"]
    # wider price range -> clustering does not rise
    wider = _copy(r, price_high=r.price_high * 1.01)
    assert risk_score(wider).factors["price_clustering"] <= base.factors["price_clustering"]
    # more institutional share -> factor and score do not fall
    more_inst = _copy(r, institutional_usd=min(r.value_usd, r.institutional_usd + 0.1 * r.value_usd))
    assert risk_score(more_inst).score >= base.score - 1e-9
    # more one-sided -> imbalance does not fall
    ls = 1.0 if long_share >= 0.5 else 0.0
    one_sided = _copy(r, long_usd=r.value_usd * ls, short_usd=r.value_usd * (1 - ls))
    assert risk_score(one_sided).factors["side_imbalance"] >= base.factors["side_imbalance"] - 1e-12


def test_saturation_and_single_event():
    one = RiskInputs(count=1, value_usd=50_000, long_usd=50_000, first_ts=0, last_ts=0,
                     price_low=100, price_high=100, venues=1)
    f = risk_score(one).factors
    assert f["time_compression"] == 0.0 and f["price_clustering"] == 0.0 and f["side_imbalance"] == 1.0
    top = RiskInputs(count=1000, value_usd=1e8, long_usd=1e8, institutional_usd=1e8, first_ts=0,
                     last_ts=60_000, price_low=100, price_high=100, venues=6)
    rs = risk_score(top)
    assert rs.score == pytest.approx(MAX_SCORE) and rs.severity == "critical"
    assert risk_inputs([]).count == 0
