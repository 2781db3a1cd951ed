"""liquidation_stats vs independent sums over real Binance + BitMEX events."""

from __future__ import annotations

import pytest

from conftest import PAULIUS, bitmex_xbtusd, load_liquidations
from liqmap.analytics.stats import liquidation_stats


def test_stats_binance_file():
    liqs = load_liquidations(PAULIUS)
    st = liquidation_stats(liqs, top_n=5)
    total = 0.0
    longs = shorts = 0
    long_usd = 0.0
    for x in liqs:
        total += x.value_usd
        if x.side == "long":
            longs += 1
            long_usd += x.value_usd
        else:
            shorts += 1
    assert st.count == len(liqs) and st.long_count == longs and st.short_count == shorts
    assert st.value_usd == pytest.approx(total) and st.long_usd == pytest.approx(long_usd)
    assert st.short_usd == pytest.approx(total - long_usd)
    assert st.avg_value_usd == pytest.approx(total / len(liqs))
    assert st.exchange_share == {"binance": pytest.approx(1.0)}
    top = sorted(liqs, key=lambda x: -x.value_usd)[:5]
    assert [x.id for x in st.largest] == [x.id for x in top]
    assert st.first_ts == min(x.timestamp for x in liqs) and st.last_ts == max(x.timestamp for x in liqs)


def test_stats_two_real_venues():
    bn = load_liquidations(PAULIUS)
    bm = bitmex_xbtusd()
    st = liquidation_stats(bn + bm)
    assert set(st.by_exchange) == {"binance", "bitmex"}
    assert st.by_exchange["bitmex"].count == len(bm)
    assert st.by_exchange["bitmex"].value_usd == pytest.approx(sum(x.value_usd for x in bm))
    assert st.by_exchange["binance"].long_usd == pytest.approx(sum(x.value_usd for x in bn if x.side == "long"))
    assert sum(st.exchange_share.values()) == pytest.approx(1.0)
    assert st.exchange_share["bitmex"] == pytest.approx(
        sum(x.value_usd for x in bm) / (sum(x.value_usd for x in bm) + sum(x.value_usd for x in bn))
    )
    assert st.largest[0].exchange == "bitmex"  # multi-million USD XBTUSD orders


def test_empty_and_bad_args():
    st = liquidation_stats([])
    assert st.count == 0 and st.value_usd == 0.0 and st.largest == [] and st.first_ts is None
    with pytest.raises(ValueError):
        liquidation_stats([], top_n=-1)


def test_tiers_bases_timeline_and_venue_last_time():
    """The groups the stats endpoint needs, recomputed from the real events."""
    liqs = load_liquidations(PAULIUS) + bitmex_xbtusd()
    st = liquidation_stats(liqs, top_n=1, large_usd=10_000, institutional_usd=100_000, bucket_ms=3_600_000)
    for tier, lo, hi in (("retail", 0, 10_000), ("large", 10_000, 100_000), ("institutional", 100_000, float("inf"))):
        sel = [x.value_usd for x in liqs if lo <= x.value_usd < hi]
        assert st.tiers[tier].count == len(sel) > 0
        assert st.tiers[tier].value_usd == pytest.approx(sum(sel))
    assert {b: t.count for b, t in st.by_base.items()} == {b: sum(x.base == b for x in liqs) for b in {x.base for x in liqs}}
    hours = {}
    for x in liqs:
        h = hours.setdefault(x.timestamp // 3_600_000 * 3_600_000, [0, 0.0, 0.0])
        h[0] += 1
        h[1 if x.side == "long" else 2] += x.value_usd
    assert [b.t for b in st.timeline] == sorted(hours)
    for b in st.timeline:
        assert (b.count, b.long_usd, b.short_usd) == (hours[b.t][0], pytest.approx(hours[b.t][1]),
                                                      pytest.approx(hours[b.t][2]))
    assert st.by_exchange["bitmex"].last_ts == max(x.timestamp for x in liqs if x.exchange == "bitmex")
    with pytest.raises(ValueError):
        liquidation_stats(liqs, bucket_ms=0)
