"""L1 MemoryStore on real events: order, repeats, eviction by age and by cap, the floor
(what L1 may answer for), late events, out-of-order arrival, cascades, concurrent reads.

Every expectation is recomputed here from the events with plain Python (a reference list
following the documented rules), never read back from the store under test.
"""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BITMEX_INSERTS, DATASTREAMS, PAULIUS, replay_liquidations
from liqmap.storage.memory import MemoryStore
from liqmap.units import MINUTE_MS

NEOPARTH = [DATASTREAMS / "NeoParth_binance_liquidations_2025-06-23_2059-2122.csv",
            DATASTREAMS / "NeoParth_binance_liquidations_2025-06-23_2122-2156.csv"]
_SQUEEZE = replay_liquidations(NEOPARTH)  # 2025-06-23 short squeeze, ~1 h of Binance events
_KEY = lambda e: (e.timestamp, e.id)  # noqa: E731


def held(store: MemoryStore):
    return store.window(None, None) if store.floor_ms is None else store.window(store.floor_ms, None)


def test_holds_real_events_in_time_order_once():
    evs = replay_liquidations([PAULIUS], dedupe=False)  # the capture holds each line twice
    store = MemoryStore(retention_ms=30 * 24 * 60 * MINUTE_MS)
    kept = [store.add(e) for e in evs]
    uniq = {}
    for e in evs:
        uniq.setdefault(e.id, e)
    assert sum(kept) == len(uniq) == len(store) and store.duplicates == len(evs) - len(uniq)
    assert [_KEY(e) for e in held(store)] == sorted(_KEY(e) for e in uniq.values())
    assert store.floor_ms is None and store.covers(None)


def test_age_eviction_raises_the_floor_and_keeps_the_newest():
    window = 10 * MINUTE_MS
    store = MemoryStore(retention_ms=window, min_keep=20)
    for e in _SQUEEZE:
        store.add(e)
    wm = max(e.timestamp for e in _SQUEEZE)
    ordered = sorted(_SQUEEZE, key=_KEY)
    young = [e for e in ordered if e.timestamp > wm - window]
    assert len(young) > 20
    assert [e.id for e in held(store)] == [e.id for e in young]
    gone = ordered[: len(ordered) - len(young)]
    assert store.floor_ms == max(e.timestamp for e in gone) and store.evicted == len(gone)
    assert store.covers(wm - window) and not store.covers(store.floor_ms - 1)
    assert store.window(store.floor_ms - 1, None) is None  # L1 cannot answer below its floor
    late = next(e for e in gone)
    fresh = type(late)(**{**{f: getattr(late, f) for f in late.__struct_fields__}, "id": "late-copy"})
    assert not store.add(fresh) and store.late_dropped == 1  # at/below the floor: DuckDB's


def test_min_keep_holds_the_newest_of_a_quiet_market():
    store = MemoryStore(retention_ms=MINUTE_MS, min_keep=50)
    for e in _SQUEEZE:
        store.add(e)
    ordered = sorted(_SQUEEZE, key=_KEY)
    wm = ordered[-1].timestamp
    in_retention = [e for e in ordered if e.timestamp > wm - MINUTE_MS]
    assert len(in_retention) < 50 <= len(store)
    assert [e.id for e in store.newest(50)] == [e.id for e in reversed(ordered)][:50]


def test_cap_evicts_the_oldest():
    store = MemoryStore(retention_ms=10**12, max_events=100, min_keep=10)
    for e in _SQUEEZE:
        store.add(e)
    ordered = sorted(_SQUEEZE, key=_KEY)
    assert [e.id for e in held(store)] == [e.id for e in ordered[-100:]]
    assert store.floor_ms == ordered[-101].timestamp


def test_newest_filters_and_proves_completeness():
    store = MemoryStore(retention_ms=10 * MINUTE_MS, min_keep=0)
    for e in _SQUEEZE:
        store.add(e)
    ordered = sorted(_SQUEEZE, key=_KEY, reverse=True)
    btc = [e for e in ordered if e.base == "BTC"]
    young_btc = [e for e in btc if e.timestamp > store.floor_ms]
    assert 0 < len(young_btc) < len(btc)
    got = store.newest(len(young_btc), lambda e: e.base == "BTC")
    assert [e.id for e in got] == [e.id for e in young_btc]
    assert store.newest(len(young_btc) + 1, lambda e: e.base == "BTC") is None  # more would be below the floor
    end = ordered[len(ordered) // 10].timestamp
    assert [e.id for e in store.newest(5, end_ms=end)] == [e.id for e in ordered if e.timestamp <= end][:5]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 20_000), min_size=len(_SQUEEZE), max_size=len(_SQUEEZE)), st.integers(1, 30))
def test_out_of_order_arrival_matches_a_reference(jitter, minutes):
    """Real events delivered up to 20 s out of order (hypothesis picks the jitter and the
    retention): L1 holds exactly the reference's events, in (timestamp, id) order."""
    retention = minutes * MINUTE_MS
    order = [x for _, x in sorted(zip((x.timestamp + j for x, j in zip(_SQUEEZE, jitter)), _SQUEEZE),
                                  key=lambda t: t[0])]
    store = MemoryStore(retention_ms=retention, min_keep=0)
    ref: list = []
    floor = wm = None
    for e in order:
        if floor is not None and e.timestamp <= floor:
            continue
        ref.append(e)
        if wm is None or e.timestamp > wm:
            wm = e.timestamp
            ref.sort(key=_KEY)
            gone = [x for x in ref if x.timestamp <= wm - retention]
            if gone:
                floor = max([floor or gone[-1].timestamp, gone[-1].timestamp])
                ref = ref[len(gone):]
        store.add(e)
    assert store.floor_ms == floor
    assert [x.id for x in held(store)] == [x.id for x in sorted(ref, key=_KEY)]


def test_cascade_rows_latest_state_and_floor():
    store = MemoryStore(retention_ms=MINUTE_MS, min_keep=0)
    bm = replay_liquidations([BITMEX_INSERTS])
    row = {"id": "BTC-1", "symbol": "BTC", "start_ts": 100, "end_ts": 200, "status": "active"}
    store.upsert_cascades([row, {**row, "end_ts": 300}])
    assert store.cascades(None, 10**15) == [{**row, "end_ts": 300}]
    store.upsert_cascades([{**row, "end_ts": 300, "status": "ended"}])
    for e in bm:  # two days of events: the floor passes the cascade's end
        store.add(e)
    assert store.floor_ms > 300 and store.cascades(store.floor_ms, 10**15) == []


def test_reads_while_the_feed_adds():
    """The API reads from threads while the pipeline adds: every read sees a consistent order."""
    store = MemoryStore(retention_ms=5 * MINUTE_MS, min_keep=0)
    evs = list(_SQUEEZE)
    random.Random(7).shuffle(evs)
    errors: list[str] = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            got = store.newest(200)
            if got is not None and [_KEY(e) for e in got] != sorted((_KEY(e) for e in got), reverse=True):
                errors.append("unordered")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for e in evs:
        store.add(e)
    done.set()
    for t in threads:
        t.join()
    assert not errors


def test_bad_args():
    for kw in ({"retention_ms": 0}, {"max_events": 0}, {"max_events": 10, "min_keep": 11}, {"min_keep": -1}):
        with pytest.raises(ValueError):
            MemoryStore(**kw)
    store = MemoryStore()
    store.add(_SQUEEZE[0])
    with pytest.raises(ValueError):
        store.warm([], None)
