"""Price level rule and level clusters on real liquidation prices."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from conftest import ALEJANDRO, NEOPARTH_1, NEOPARTH_2, PAULIUS, RIFTFERN, load_liquidations
from liqmap.analytics.levels import base_of, clusters, level_size, levels_in_window, price_level


def test_seed_examples():
    assert level_size("BTC", 98_912) == 100 and price_level("BTC", 98_912) == 98_900
    assert level_size("ETH", 3_535) == 10 and price_level("ETH", 3_535) == 3_530
    assert price_level("BTCUSDT", 98_912) == 98_900
    assert price_level("XBTUSD", 8_540.5) == 8_500  # BitMEX XBT is BTC
    assert price_level("ETH-USDT-SWAP", 3_539.99) == 3_530


@pytest.mark.parametrize("sym", ["BTCUSDT", "BTC-USDT-SWAP", "XBTUSD", "BTC-PERPETUAL", "btc", "BTCUSDC"])
def test_base_of_btc(sym):
    assert base_of(sym) == "BTC"


def test_base_of_lot_symbol():
    assert base_of("1000PEPEUSDT") == "1000PEPE"


def _is_125(step: float) -> bool:
    e = math.floor(math.log10(step) + 1e-12)
    m = step / 10**e
    return any(abs(m - c) < 1e-6 for c in (1, 2, 5))


def _next_125(step: float) -> float:
    e = math.floor(math.log10(step) + 1e-12)
    m = round(step / 10**e)
    return {1: 2, 2: 5, 5: 10}[m] * 10**e


def test_generic_rule_on_every_real_price():
    """For every non-seeded price in the fixtures: step is the largest 1-2-5
    value <= price/500, giving 100..250 levels per +-10 % window, and flooring
    is exact (level <= price < level + step, level a multiple of step)."""
    liqs = load_liquidations(PAULIUS, NEOPARTH_1, NEOPARTH_2, RIFTFERN, ALEJANDRO)
    prices = {(x.base, x.price) for x in liqs if base_of(x.base) not in ("BTC", "ETH")}
    assert len(prices) > 1000
    for base, p in prices:
        s = level_size(base, p)
        assert _is_125(s), (base, p, s)
        assert s <= p / 500 * (1 + 1e-9) < _next_125(s), (base, p, s)
        assert 100 <= levels_in_window(base, p) <= 250
        lvl = price_level(base, p)
        assert lvl <= p * (1 + 1e-12) and p < lvl + s * (1 + 1e-9), (base, p, lvl, s)
        assert abs(lvl / s - round(lvl / s)) < 1e-6


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_price_raises(bad):
    with pytest.raises(ValueError):
        price_level("SOL", bad)
    with pytest.raises(ValueError):
        level_size("SOL", bad)


def test_clusters_btc_equal_plain_grouping():
    liqs = load_liquidations(PAULIUS)
    btc = [x for x in liqs if x.base == "BTC"]
    exp = defaultdict(lambda: [0, 0.0, 0.0, None, None])
    for x in btc:  # independent: integer floor to $100
        a = exp[(int(x.price // 100) * 100, x.side)]
        a[0] += 1
        a[1] += x.value_usd
        a[2] += x.quantity
        a[3] = x.timestamp if a[3] is None else min(a[3], x.timestamp)
        a[4] = x.timestamp if a[4] is None else max(a[4], x.timestamp)
    got = [c for c in clusters(liqs) if c.base == "BTC"]
    assert len(got) == len(exp)
    for c in got:
        a = exp[(int(c.level), c.side)]
        assert c.level_size == 100 and c.exchanges == ("binance",)
        assert (c.count, c.first_ts, c.last_ts) == (a[0], a[3], a[4])
        assert c.value_usd == pytest.approx(a[1]) and c.quantity == pytest.approx(a[2])
    assert sum(c.count for c in clusters(liqs)) == len(liqs)
    assert [(c.base, c.level, c.side) for c in got] == sorted((c.base, c.level, c.side) for c in got)


def test_clusters_fixed_sizes_and_min_value():
    liqs = load_liquidations(NEOPARTH_1)
    eth = [c for c in clusters(liqs, sizes={"ETH": 50.0}) if c.base == "ETH"]
    assert eth and all(c.level % 50 == 0 for c in eth)
    big = clusters(liqs, min_value_usd=50_000)
    assert big and all(c.value_usd >= 50_000 for c in big)


def test_size_follows_price_across_bands_for_one_symbol():
    # the per-symbol memo must not pin a symbol to its first band
    assert level_size("SOLUSDT", 250.0) == 0.5
    assert level_size("SOLUSDT", 1_000.0) == 2.0
    assert level_size("SOLUSDT", 249.99) == 0.2
    assert level_size("SOLUSDT", 250.0) == 0.5
    assert price_level("SOLUSDT", 251.37) == 251.0


def test_fast_grid_path_equals_explicit_size_path():
    """The memoized integer-ratio path gives exactly the float of the decimal
    level (same as round()), for every real price."""
    liqs = load_liquidations(PAULIUS, NEOPARTH_1, NEOPARTH_2, RIFTFERN, ALEJANDRO)
    for x in liqs:
        s = level_size(x.base, x.price)
        lvl = price_level(x.base, x.price)
        assert lvl == price_level(x.base, x.price, size=s)
        assert float(repr(lvl)) == lvl and len(repr(lvl)) <= 16, lvl  # prints as a clean decimal
