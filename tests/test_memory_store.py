"""L1 MemoryStore: window eviction and running-sum stats vs brute force on real data."""

from __future__ import annotations

import pytest

from _liq_loader import NEOPARTH_1, NEOPARTH_2, PAULIUS, load, load_bitmex_xbtusd
from liqmap.storage.memory import MemoryStore

WIN = 60_000


def brute(seen, key, clock, key_by="symbol"):
    sel = [x for x in seen if (x.symbol if key_by == "symbol" else x.base) == key and x.timestamp > clock - WIN]
    by_ex = {}
    for x in sel:
        a = by_ex.setdefault(x.exchange, [0, 0.0])
        a[0] += 1
        a[1] += x.value_usd
    return sel, by_ex


def check(store, seen, key, clock, key_by="symbol"):
    sel, by_ex = brute(seen, key, clock, key_by)
    st = store.window_stats(key)
    assert st.count == len(sel)
    assert st.value_usd == pytest.approx(sum(x.value_usd for x in sel), rel=1e-9, abs=1e-6)
    assert st.quantity == pytest.approx(sum(x.quantity for x in sel), rel=1e-9, abs=1e-9)
    assert st.long_count == sum(1 for x in sel if x.side == "long")
    assert st.short_count == sum(1 for x in sel if x.side == "short")
    assert st.long_usd == pytest.approx(sum(x.value_usd for x in sel if x.side == "long"), rel=1e-9, abs=1e-6)
    assert st.short_usd == pytest.approx(sum(x.value_usd for x in sel if x.side == "short"), rel=1e-9, abs=1e-6)
    assert {k: v.count for k, v in st.by_exchange.items()} == {k: v[0] for k, v in by_ex.items()}
    for k, v in st.by_exchange.items():
        assert v.value_usd == pytest.approx(by_ex[k][1], rel=1e-9, abs=1e-6)
    assert [x.id for x in store.recent(key, 5)] == [x.id for x in reversed(sel)][:5]


def test_window_stats_equal_brute_force_every_step():
    liqs = load(NEOPARTH_1, NEOPARTH_2)
    store = MemoryStore(WIN)
    seen = []
    keys = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BRUSDT"]
    for liq in liqs:
        store.add(liq)
        seen.append(liq)
        clock = store.watermark
        for k in keys + [liq.symbol]:
            check(store, seen, k, clock)
    # at the end every symbol matches
    for k in {x.symbol for x in liqs}:
        check(store, seen, k, store.watermark)


def test_key_by_base_two_real_venues():
    """Binance BTC and BitMEX XBTUSD rows share the BTC ring (times are years
    apart, so only the newest venue's events survive the window)."""
    liqs = sorted(load(PAULIUS) + load_bitmex_xbtusd(), key=lambda x: (x.timestamp, x.id))
    store = MemoryStore(WIN, key_by="base")
    seen = []
    for liq in liqs:
        store.add(liq)
        seen.append(liq)
        if liq.base == "BTC":
            check(store, seen, "BTC", store.watermark, key_by="base")


def test_eviction_to_empty_resets_sums_exactly():
    liqs = load(NEOPARTH_1)
    store = MemoryStore(WIN)
    for liq in liqs:
        store.add(liq)
    last = store.watermark
    sym = liqs[-1].symbol
    assert store.window_stats(sym, now_ms=last).count > 0
    st = store.window_stats(sym, now_ms=last + WIN)
    assert st.count == 0 and st.value_usd == 0.0 and st.long_usd == 0.0 and st.by_exchange == {}
    assert store.recent(sym, 10) == []
    n_before = len(store)
    assert n_before > 0
    assert store.evict(last + WIN) == n_before
    assert len(store) == 0 and store.keys() == []
    assert store.evicted == store.added - store.late_dropped


def test_now_ms_never_moves_clock_back_and_unknown_key():
    liqs = load(NEOPARTH_1)[:50]
    store = MemoryStore(WIN)
    for liq in liqs:
        store.add(liq)
    a = store.window_stats(liqs[-1].symbol)
    b = store.window_stats(liqs[-1].symbol, now_ms=0)
    assert a.count == b.count and b.as_of == store.watermark
    assert store.window_stats("NOPE").count == 0 and store.recent("NOPE") == [] and store.memory_bytes("NOPE") == 0


def test_recent_all_bounded_and_late_events():
    liqs = load(NEOPARTH_1)
    store = MemoryStore(WIN, recent_all_max=20)
    for liq in liqs:
        store.add(liq)
    assert [x.id for x in store.recent_all(100)] == [x.id for x in reversed(liqs[-20:])]
    assert store.recent_all(0) == [] and len(store.recent_all(3)) == 3
    old = liqs[0]  # far older than the window now
    store.add(old)
    assert store.late_dropped == 1 and store.recent_all(1)[0].id == old.id
    assert old.id not in [x.id for x in store.recent(old.symbol, 100)]


def test_max_events_cap():
    liqs = [x for x in load(PAULIUS) if x.symbol == "ETHUSDT"]
    store = MemoryStore(10**12, max_events=7)
    for liq in liqs:
        store.add(liq)
    st = store.window_stats("ETHUSDT")
    assert st.count == 7 and store.overflow_evicted == len(liqs) - 7
    assert st.value_usd == pytest.approx(sum(x.value_usd for x in liqs[-7:]))


def test_memory_bytes_grows_per_event():
    liqs = [x for x in load(NEOPARTH_1) if x.symbol == "BTCUSDT"]
    store = MemoryStore(10**12)
    sizes = []
    for liq in liqs[:30]:
        store.add(liq)
        sizes.append(store.memory_bytes("BTCUSDT"))
    assert sizes == sorted(sizes)
    per_event = (sizes[-1] - sizes[0]) / 29
    assert 200 < per_event < 2_000  # a Liquidation + its field objects


def test_bad_args():
    with pytest.raises(ValueError):
        MemoryStore(0)
    with pytest.raises(ValueError):
        MemoryStore(key_by="exchange")  # type: ignore[arg-type]
    m = MemoryStore()
    m.append(load(NEOPARTH_1)[0])  # alias used by the serve pipeline
    assert len(m) == 1


from hypothesis import given, settings, strategies as st  # noqa: E402

_REAL = load(NEOPARTH_1)[:300]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5_000), min_size=len(_REAL), max_size=len(_REAL)), st.integers(5_000, 90_000))
def test_out_of_order_running_sums_match_reference(jitter, window_ms):
    """Real events delivered up to 5 s out of order (hypothesis picks the
    jitter and window): running sums equal a recompute over a reference list
    that follows the documented arrival-order eviction rule."""
    order = [x for _, x in sorted(zip((x.timestamp + j for x, j in zip(_REAL, jitter)), _REAL), key=lambda t: t[0])]
    store = MemoryStore(window_ms)
    ref: dict[str, list] = {}
    wm = None
    for liq in order:
        store.add(liq)
        wm = liq.timestamp if wm is None else max(wm, liq.timestamp)
        r = ref.setdefault(liq.symbol, [])
        while r and r[0].timestamp <= wm - window_ms:
            r.pop(0)
        if liq.timestamp > wm - window_ms:
            r.append(liq)
        s = store.window_stats(liq.symbol)
        assert s.count == len(r)
        assert s.value_usd == pytest.approx(sum(x.value_usd for x in r), rel=1e-9, abs=1e-6)
        assert s.long_count == sum(1 for x in r if x.side == "long")
