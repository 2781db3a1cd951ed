"""L1 earns its place: the in-memory tier answers the short-window reads exactly as DuckDB does.

Real replayed data (Binance USD-M forceOrder capture of the 2025-01-27 sell-off, with each
line written twice by two listeners; BitMEX 2019 inserts; Binance 2025-10-02 frames) goes
through the real replay path into both tiers the way ``serve`` feeds them: every event to
:class:`MemoryStore` and to :class:`TieredStore` (DuckDB + the cascade detector, whose rows
reach L1 through ``on_cascades``). Then for thousands of windows, filters and limits the L1
answer of :class:`TieredReads` is compared with the DuckDB answer of the same reads: rows and
orders exactly, sums to 1e-9 relative (DuckDB adds in scan order, Python in time order).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, PAULIUS, replay_client, replay_liquidations
from liqmap.storage.memory import MemoryStore
from liqmap.storage.reads import TieredReads
from liqmap.storage.tiered import TieredStore
from liqmap.units import DAY_MS, HOUR_MS, MINUTE_MS

LARGE, INST = 10_000.0, 100_000.0


def same(a, b, path="") -> None:
    """Structural equality; floats to 1e-9 relative (summation order), everything else exact."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (path, a, b)
        assert type(a) is type(b), (path, a, b)
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, list(a), b)
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, len(a), len(b) if isinstance(b, list) else b)
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b and type(a) is type(b), (path, a, b)


@pytest.fixture(scope="module")
def events():
    evs = replay_liquidations([PAULIUS, BITMEX_INSERTS, BINANCE_FRAMES], dedupe=False)
    assert len(evs) == 3669 and len({e.id for e in evs}) == 1996  # the sell-off file holds each line twice
    return evs


def _fill(tmp_path, events, memory: MemoryStore) -> TieredStore:
    store = TieredStore(str(tmp_path / "reads.duckdb"), batch_size=500, flush_interval_s=60,
                        on_cascades=memory.upsert_cascades)

    async def go():
        for i in range(0, len(events), 250):
            batch = events[i:i + 250]
            for e in batch:
                memory.add(e)
            await store.write(batch)
        await store.close()  # ends open cascades, commits everything

    asyncio.run(go())
    return store


@pytest.fixture(scope="module")
def tiers(tmp_path_factory, events):
    """(L1-first reads, DuckDB-only reads) over the same stored data; L1 keeps everything."""
    mem = MemoryStore(retention_ms=3000 * DAY_MS)
    store = _fill(tmp_path_factory.mktemp("reads"), events, mem)
    import duckdb

    con = duckdb.connect(store.duckdb.path, read_only=True)
    yield TieredReads(con.cursor, mem), TieredReads(con.cursor, None), mem
    con.close()


def test_l1_holds_each_stored_event_once(tiers, events):
    l1, _db, mem = tiers
    assert len(mem) == 1996 and mem.duplicates == 3669 - 1996 and mem.floor_ms is None
    with l1.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM liquidations").fetchone()[0] == 1996


def _windows(events):
    """Every 5/15/60-minute window ending on each of the busiest 10-minute marks, plus the last hour."""
    ts = sorted({e.timestamp for e in events})
    ends = sorted({t // (10 * MINUTE_MS) * (10 * MINUTE_MS) + 10 * MINUTE_MS for t in ts})
    for end in ends[::8] + [ts[-1]]:
        for width in (5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS):
            yield end - width, end


@pytest.mark.parametrize("base,exchanges", [(None, None), ("BTC", None), ("ETH", ["binance"]), (None, ["bitmex"])])
def test_stats_from_l1_equal_duckdb(tiers, events, base, exchanges):
    l1, db, _mem = tiers
    n = 0
    for start, end in _windows(events):
        for bucket in (MINUTE_MS, 10 * MINUTE_MS):
            got = l1.stats(base, start, end, exchanges, LARGE, INST, bucket)
            want = db.stats(base, start, end, exchanges, LARGE, INST, bucket)
            same(got, want, f"stats {base} {exchanges} ({start},{end}] {bucket}")
            n += bool(want["count"])
    assert n >= (20 if base is None and exchanges is None else 3), "windows with events were compared"
    assert l1.served["stats", "memory"] > 0 and l1.served["stats", "duckdb"] == 0
    assert db.served["stats", "memory"] == 0


def test_stats_values_recomputed_from_the_events(tiers, events):
    """The sell-off hour, figures recomputed here with plain Python from the parsed events."""
    l1, _db, _mem = tiers
    first = {}
    for e in events:
        first.setdefault(e.id, e)
    uniq = list(first.values())
    hours = Counter(e.timestamp // HOUR_MS for e in uniq)
    end = (hours.most_common(1)[0][0] + 1) * HOUR_MS  # end of the busiest UTC hour
    sel = [e for e in uniq if end - HOUR_MS < e.timestamp <= end]
    got = l1.stats(None, end - HOUR_MS, end, None, LARGE, INST, 10 * MINUTE_MS)
    assert got["count"] == len(sel) > 50
    assert got["total_usd"] == pytest.approx(sum(e.value_usd for e in sel), rel=1e-12)
    assert got["long_count"] == sum(e.side == "long" for e in sel)
    big = max(sel, key=lambda e: (e.value_usd, -e.timestamp))
    assert got["largest"]["id"] == big.id
    assert got["tiers"]["institutional"]["count"] == sum(e.value_usd >= INST for e in sel)
    assert got["tiers"]["retail"]["count"] == sum(e.value_usd < LARGE for e in sel)


def test_recent_from_l1_equal_duckdb(tiers, events):
    l1, db, _mem = tiers
    ends = [None] + sorted({e.timestamp for e in events})[::250]
    for end in ends:
        for base, exchanges, floor_usd in ((None, None, 0.0), ("BTC", None, 0.0), (None, ["binance"], 10_000.0),
                                           ("XRP", None, 0.0), (None, ["bitmex"], 0.0)):
            for limit in (1, 60, 1000):
                got = l1.recent(base, exchanges, floor_usd, limit, end)
                want = db.recent(base, exchanges, floor_usd, limit, end)
                same(got, want, f"recent {base} {exchanges} {floor_usd} {limit} {end}")
    assert l1.served["recent", "duckdb"] == 0


def test_detected_cascades_from_l1_equal_duckdb(tiers, events):
    l1, db, _mem = tiers
    with l1.cursor() as cur:
        n = cur.execute("SELECT count(*) FROM cascades").fetchone()[0]
    assert n >= 3, "the sell-off produces detector cascades"
    compared = 0
    for start, end in _windows(events):
        for base in (None, "BTC", "ETH"):
            got = l1.detected_cascades(base, start, end)
            same(got, db.detected_cascades(base, start, end), f"cascades {base} ({start},{end}]")
            compared += bool(got)
    assert compared >= 3
    assert l1.served["cascades", "duckdb"] == 0


def test_a_capped_l1_falls_back_to_duckdb_below_its_floor(tmp_path, events):
    mem = MemoryStore(retention_ms=3000 * DAY_MS, max_events=300, min_keep=100)
    store = _fill(tmp_path, events, mem)
    import duckdb

    con = duckdb.connect(store.duckdb.path, read_only=True)
    l1, db = TieredReads(con.cursor, mem), TieredReads(con.cursor, None)
    assert len(mem) <= 300 and mem.floor_ms is not None
    for start, end in _windows(events):
        same(l1.stats(None, start, end, None, LARGE, INST, MINUTE_MS), db.stats(None, start, end, None, LARGE, INST,
                                                                                 MINUTE_MS))
    for limit in (10, 299, 1000):
        same(l1.recent(None, None, 0.0, limit), db.recent(None, None, 0.0, limit))
    assert l1.served["stats", "memory"] > 0 and l1.served["stats", "duckdb"] > 0  # both tiers answered
    assert l1.served["recent", "memory"] == 2 and l1.served["recent", "duckdb"] == 1  # 1000 > what L1 holds
    con.close()


def test_warm_up_after_restart_serves_the_last_hour_from_memory(tmp_path, events):
    store = _fill(tmp_path, events, MemoryStore())
    import duckdb

    con = duckdb.connect(store.duckdb.path, read_only=True)
    mem = MemoryStore()
    l1, db = TieredReads(con.cursor, mem), TieredReads(con.cursor, None)
    last = max(e.timestamp for e in events)
    n = l1.warm()
    # the last 70 minutes hold fewer than min_keep (1,000) events: the newest 1,000 are loaded,
    # complete above the oldest of them
    uniq = sorted({(e.timestamp, e.id) for e in events}, reverse=True)
    assert len([k for k in uniq if k[0] > last - mem.retention_ms]) < mem.min_keep
    floor = uniq[mem.min_keep - 1][0]
    assert mem.floor_ms == floor and n == len([k for k in uniq if k[0] > floor]) > 900
    same(l1.stats(None, last - HOUR_MS, last, None, LARGE, INST, MINUTE_MS),
         db.stats(None, last - HOUR_MS, last, None, LARGE, INST, MINUTE_MS))
    same(l1.recent(None, None, 0.0, 5, last), db.recent(None, None, 0.0, 5, last))
    assert l1.served["stats", "memory"] == 1 and l1.served["recent", "memory"] == 1
    # a 4 h window is not L1's: DuckDB answers
    l1.stats(None, last - 4 * HOUR_MS, last, None, LARGE, INST, MINUTE_MS)
    assert l1.served["stats", "duckdb"] == 1
    con.close()


def test_api_serves_recent_and_the_last_hour_from_memory(tmp_path):
    """Through ``serve --replay``: the API's answers come from L1 and equal DuckDB's."""
    from liqmap.storage import duckdb_reads

    with replay_client([BITMEX_INSERTS, PAULIUS], tmp_path / "api.duckdb") as c:
        state = c.app.state.liqmap
        recent = c.get("/liquidations/recent", params={"limit": 30}).json()
        stats = c.get("/liquidations/stats", params={"timeframe": "1h"}).json()
        casc = c.get("/liquidations/cascades", params={"timeframe": "1h"}).json()
        assert state.reads.served["recent", "memory"] == 1 and state.reads.served["stats", "memory"] == 1
        assert state.reads.served["cascades", "memory"] == 1
        m = stats["meta"]
        with state.cursor() as cur:
            same(recent["liquidations"], duckdb_reads.recent(cur, None, None, 0.0, 30, m["now_ms"]))
            want = duckdb_reads.stats(cur, None, m["start_ms"], m["end_ms"], None, LARGE, INST, 10 * MINUTE_MS)
            same({k: v for k, v in stats.items() if k != "meta"}, want)
            same(casc["detected"], duckdb_reads.stored_cascades(cur, None, m["start_ms"], m["end_ms"]))
        assert stats["count"] > 0 and len(recent["liquidations"]) == 30


def test_stats_over_many_events_go_to_duckdb(tiers, events, monkeypatch):
    """A window holding more events than L1 folds cheaply is summed by DuckDB, same answer."""
    import liqmap.storage.reads as reads

    l1, db, _mem = tiers
    start, end = max(_windows(events), key=lambda w: sum(w[0] < e.timestamp <= w[1] for e in events))
    monkeypatch.setattr(reads, "L1_MAX_STATS_EVENTS", 10)
    before = l1.served["stats", "duckdb"]
    got = l1.stats(None, start, end, None, LARGE, INST, MINUTE_MS)
    assert got["count"] > 10 and l1.served["stats", "duckdb"] == before + 1
    same(got, db.stats(None, start, end, None, LARGE, INST, MINUTE_MS))
