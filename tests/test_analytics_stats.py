"""liquidation_stats vs independent sums over real Binance + BitMEX events."""

from __future__ import annotations

import pytest

from _liq_loader import PAULIUS, load, load_bitmex_xbtusd
from liqmap.analytics.stats import liquidation_stats


def test_stats_binance_file():
    liqs = load(PAULIUS)
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
    bn = load(PAULIUS)
    bm = load_bitmex_xbtusd()
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
