"""DuckDB tier on real Binance forceOrder captures: idempotence, totals, batching, crash bound."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from liqmap.models import Gap
from liqmap.storage.base import StorageError
from liqmap.storage.duckdb_store import DuckDBStore

from test_storage_loader import ALL_FILES, SELLOFF, SQUEEZE, load_liquidations

TESTS_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def all_events():
    out = []
    for f in ALL_FILES:
        out.extend(load_liquidations(f))
    return out


async def _wait_until(cond, timeout_s: float = 30.0) -> None:
    """Poll cond() until true or timeout; a loaded 2-core box may delay the commit thread."""
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def python_dedupe(events):
    """Independent reference: first event per id."""
    seen = {}
    for e in events:
        seen.setdefault(e.id, e)
    return seen


async def store_all(path, events, batch_size=500, chunk=333):
    store = DuckDBStore(path, batch_size=batch_size, flush_interval_s=60)
    for i in range(0, len(events), chunk):
        await store.write(events[i : i + chunk])
    await store.close()
    return store


async def test_every_event_stored_once_and_totals_match(tmp_path, all_events):
    db = tmp_path / "sub" / "liq.duckdb"  # parent dir does not exist yet
    store = await store_all(db, all_events)
    ref = python_dedupe(all_events)
    assert len(all_events) > len(ref) > 2000  # the sell-off file really has duplicate lines
    s = store.stats()
    assert s["stored"] == len(ref)
    assert s["duplicates_skipped"] == len(all_events) - len(ref)
    assert s["pending"] == 0

    con = duckdb.connect(str(db), read_only=True)
    try:
        n, n_ids = con.execute("SELECT count(*), count(DISTINCT id) FROM liquidations").fetchone()
        assert n == n_ids == len(ref)
        by_side = dict(con.execute("SELECT side, sum(value_usd) FROM liquidations GROUP BY side").fetchall())
        ref_side = defaultdict(float)
        for e in ref.values():
            ref_side[e.side] += e.value_usd
        assert by_side.keys() == ref_side.keys() == {"long", "short"}
        for k in by_side:
            assert by_side[k] == pytest.approx(ref_side[k], rel=1e-12)
        # one real row round-trips field for field; then the key column, then the receipt-time flag
        # id_key = 128-bit MD5 of the id, little-endian (pins DuckDB's md5_number: a DuckDB
        # upgrade that changed it would break idempotence against existing files)
        e = next(iter(ref.values()))
        row = con.execute("SELECT * FROM liquidations WHERE id = ?", [e.id]).fetchone()
        key = int.from_bytes(hashlib.md5(e.id.encode()).digest(), "little")
        assert row == (e.exchange, e.symbol, e.base, e.quote, e.side, e.price, e.quantity, e.value_usd,
                       e.timestamp, e.received_at, e.id, e.order_side, e.status, key, e.receipt_time)
        idx = con.execute(
            "SELECT expressions FROM duckdb_indexes() WHERE table_name = 'liquidations'"
        ).fetchall()
        assert any("exchange" in str(x) and "timestamp" in str(x) for x in idx)
    finally:
        con.close()


async def test_replaying_twice_leaves_row_count_unchanged(tmp_path, all_events):
    db = tmp_path / "liq.duckdb"
    first = await store_all(db, all_events)
    second = await store_all(db, all_events, batch_size=5_000, chunk=1000)
    assert second.stats()["stored"] == 0
    assert second.stats()["duplicates_skipped"] == len(all_events)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM liquidations").fetchone()[0] == first.stats()["stored"]
    con.close()


async def test_size_trigger_commits_full_batches(tmp_path):
    events = load_liquidations(SQUEEZE[1])
    store = DuckDBStore(tmp_path / "l.duckdb", batch_size=100, flush_interval_s=3600)
    await store.write(events[:250])
    # 250 >= 100 buffered -> everything buffered goes to one background commit; until it
    # returns those events are pending (not acknowledged), never both or neither
    s = store.stats()
    assert s["stored"] + s["pending"] == 250
    await _wait_until(lambda: store.stats()["stored"] == 250)
    assert store.stats()["batches"] == 1 and store.count() == 250 and store.pending == 0
    await store.write(events[250:300])
    assert store.pending == 50 and store.count() == 250  # below the size trigger: not yet acknowledged
    await store.flush()
    assert store.pending == 0 and store.count() == 300
    await store.close()


async def test_group_commit_bounds_unacknowledged_events(tmp_path, all_events):
    """While a commit runs the buffer may grow to max_buffer, never beyond (plus one write)."""
    store = DuckDBStore(tmp_path / "l.duckdb", batch_size=100, max_buffer=300, flush_interval_s=3600)
    worst = 0
    for i in range(0, len(all_events), 50):
        await store.write(all_events[i : i + 50])
        worst = max(worst, store.stats()["pending"])
    assert worst <= 2 * 300 + 50
    await store.flush()
    assert store.count() == len(python_dedupe(all_events)) and store.pending == 0
    await store.close()


async def test_time_trigger_commits_idle_buffer(tmp_path):
    events = load_liquidations(SQUEEZE[0])[:10]
    store = DuckDBStore(tmp_path / "l.duckdb", batch_size=10_000, flush_interval_s=0.05)
    await store.write(events)
    assert store.count() == 0 and store.pending == 10
    await _wait_until(lambda: store.pending == 0)
    assert store.count() == 10 and store.stats()["stored"] == 10
    await store.close()


async def test_gaps_idempotent(tmp_path):
    h = 1737997200000  # 2025-01-27 17:00 UTC
    gaps = [
        Gap("binance", "usdm", h + 10_000, h + 70_000, "closed"),
        Gap("binance", "usdm", h + 60_000, h + 100_000, "stale"),  # overlaps the first
        Gap("binance", "usdm", h - 5_000, h + 1_000, "rotation"),  # starts in the previous hour
        Gap("bybit", "linear", h + 0, h + 3_600_000, "error"),
    ]
    store = DuckDBStore(tmp_path / "l.duckdb")
    await store.write(gaps)
    await store.write(gaps)  # replayed: stored once
    await store.flush()
    assert store.stats()["gaps_stored"] == 4
    cur = store.reader()
    rows = cur.execute('SELECT exchange, connection, start, "end", reason FROM gaps ORDER BY exchange, start').fetchall()
    cur.close()
    assert rows == sorted((g.exchange, g.connection, g.start, g.end, g.reason) for g in gaps)
    await store.close()


async def test_cascade_upsert_last_state_wins(tmp_path):
    store = DuckDBStore(tmp_path / "l.duckdb")
    row = dict(id="c1", symbol="BTC", start_ts=1, end_ts=2, n_events=3, value_usd=10.0, long_usd=7.0,
               short_usd=3.0, exchanges=["binance"], risk_score=12.5, severity="low",
               cross_exchange=False, status="active", updated_at=2)
    await store.upsert_cascades([row])
    await store.flush()
    await store.upsert_cascades([{**row, "end_ts": 9, "n_events": 30, "status": "ended", "severity": "high",
                                  "exchanges": ["binance", "bybit"], "cross_exchange": True}])
    await store.close()
    ro = DuckDBStore(tmp_path / "l.duckdb", read_only=True)
    rows = ro.cascades("BTCUSDT")
    assert len(rows) == 1
    assert rows[0]["n_events"] == 30 and rows[0]["status"] == "ended"
    assert rows[0]["exchanges"] == ["binance", "bybit"] and rows[0]["cross_exchange"] is True
    assert ro.cascades("ETH") == []
    await ro.close()


async def test_errors_are_clear(tmp_path):
    with pytest.raises(StorageError, match="no database"):
        DuckDBStore(tmp_path / "missing.duckdb", read_only=True)
    store = DuckDBStore(tmp_path / "l.duckdb")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StorageError, match="after close"):
        await store.write([])
    with pytest.raises(StorageError, match="threads must be >= 1"):
        DuckDBStore(tmp_path / "t.duckdb", threads=0)


async def test_threads_setting_applies_to_the_database(tmp_path):
    events = load_liquidations(SQUEEZE[0])
    store = DuckDBStore(tmp_path / "t1.duckdb", threads=1, batch_size=100)
    cur = store.reader()
    assert cur.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    cur.close()
    await store.write(events)
    await store.close()
    assert store.stats()["stored"] == len({e.id for e in events})


_READER = textwrap.dedent(
    """
    import sys, duckdb
    try:
        c = duckdb.connect(sys.argv[1], read_only=True)
        print("OK", c.execute("SELECT count(*) FROM liquidations").fetchone()[0])
    except duckdb.Error as e:
        print("FAIL", type(e).__name__)
    """
)


def _read_in_other_process(path) -> str:
    return subprocess.run([sys.executable, "-c", _READER, str(path)], capture_output=True, text=True,
                          timeout=30).stdout.strip()


async def test_concurrent_readers_pattern(tmp_path):
    """Documented behaviour: other processes cannot open the file while a writer holds it;
    the writer's own cursors and a snapshot copy can be read."""
    events = load_liquidations(SQUEEZE[0])
    db = tmp_path / "l.duckdb"
    store = DuckDBStore(db)
    await store.write(events)
    await store.flush()
    assert _read_in_other_process(db).startswith("FAIL")
    snap = store.snapshot(tmp_path / "snap.duckdb")
    assert _read_in_other_process(snap) == f"OK {len(python_dedupe(events))}"
    cur = store.reader()
    assert cur.execute("SELECT count(*) FROM liquidations").fetchone()[0] == len(python_dedupe(events))
    cur.close()
    await store.close()
    assert _read_in_other_process(db) == f"OK {len(python_dedupe(events))}"


_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    sys.path.insert(0, sys.argv[2])
    from test_storage_loader import ALL_FILES, load_liquidations
    from liqmap.storage.duckdb_store import DuckDBStore

    async def main():
        events = [e for f in ALL_FILES for e in load_liquidations(f)]
        store = DuckDBStore(sys.argv[1], batch_size=200, flush_interval_s=3600)
        for i in range(0, len(events), 50):
            await store.write(events[i:i + 50])
            print("ACK", store.stats()["stored"], flush=True)
            # slow down once the parent is about to kill us, so it reliably lands mid-replay
            time.sleep(0.002 if store.stats()["stored"] < 1000 else 0.05)
        await store.close()
        print("DONE", store.stats()["stored"], flush=True)

    asyncio.run(main())
    """
)


def test_sigkill_mid_replay_loses_nothing_acknowledged(tmp_path, all_events):
    db = tmp_path / "kill.duckdb"
    err_path = tmp_path / "writer.stderr"
    err = err_path.open("w")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(TESTS_DIR)],
                            stdout=subprocess.PIPE, stderr=err, text=True)
    acked = 0
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            kind, n = line.split()
            acked = int(n)
            if acked >= 1000 or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        err.close()
    assert proc.returncode == -signal.SIGKILL, err_path.read_text()[-3000:]
    ref = python_dedupe(all_events)
    assert 1000 <= acked < len(ref), err_path.read_text()[-3000:]  # really killed mid-way

    con = duckdb.connect(str(db))  # WAL replay on open
    after_kill = con.execute("SELECT count(*) FROM liquidations").fetchone()[0]
    con.close()
    assert acked <= after_kill < len(ref)  # nothing acknowledged lost

    out = subprocess.run([sys.executable, "-c", _WRITER, str(db), str(TESTS_DIR)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == f"DONE {len(ref) - after_kill}"
    con = duckdb.connect(str(db), read_only=True)
    ids = dict(con.execute("SELECT id, count(*) FROM liquidations GROUP BY id").fetchall())
    con.close()
    assert ids.keys() == ref.keys()
    assert set(ids.values()) == {1}


def test_selloff_fixture_is_the_2025_01_27_selloff():
    """Guard that the fixture used for cascades is the expected file (long liquidations dominate)."""
    ev = load_liquidations(SELLOFF)
    day = [e for e in python_dedupe(ev).values() if time.gmtime(e.timestamp / 1000)[:3] == (2025, 1, 27)]
    longs = sum(e.value_usd for e in day if e.side == "long")
    shorts = sum(e.value_usd for e in day if e.side == "short")
    assert longs > 5 * shorts > 0


async def test_partly_stored_batch_counts_only_new_rows_then_fast_path_resumes(tmp_path):
    """A batch mixing stored and new ids (restart mid-replay) takes the INSERT OR IGNORE path:
    only the new rows count, per exchange too; the next all-new batch is stored in full."""
    events = load_liquidations(SQUEEZE[0])
    a, b = events[:200], events[200:400]
    c = load_liquidations(SQUEEZE[1])[:300]
    new_b = {e.id for e in b} - {e.id for e in a}
    new_c = {e.id for e in c} - {e.id for e in a} - {e.id for e in b}
    assert len(new_b) > 100 and len(new_c) > 100 and len(c) == 300
    store = DuckDBStore(tmp_path / "p.duckdb", batch_size=10_000, flush_interval_s=60)
    await store.write(a)
    await store.flush()
    stored_a = store.stats()["stored"]
    await store.write(a + b)  # one batch: a is stored already, b is new
    await store.flush()
    assert store.stats()["stored"] == stored_a + len(new_b)
    assert store._expect_duplicates  # noqa: SLF001 - this batch met stored ids
    await store.write(c)
    await store.flush()
    assert not store._expect_duplicates  # noqa: SLF001 - all-new batch: optimistic path again
    s = store.stats()
    assert s["stored"] == stored_a + len(new_b) + len(new_c) == store.count()
    assert s["stored_by_exchange"] == {"binance": s["stored"]}
    assert s["duplicates_skipped"] == 200 + 400 + 300 - s["stored"]
    await store.close()


_BULK_WRITER = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, sys.argv[2])
    from bench_storage import synthetic_liquidations
    from liqmap.storage.duckdb_store import BULK_BATCH_ROWS, DuckDBStore

    def wal_bytes(path):
        return os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0

    async def main():
        path, n = sys.argv[1], int(sys.argv[3])
        events = synthetic_liquidations(n, seed=11, run="sigkill")
        store = DuckDBStore(path, flush_interval_s=3600)  # default batch_size = BULK_BATCH_ROWS
        # no automatic checkpoint (it would empty the WAL and hide what the commit logged)
        store.reader().execute("SET checkpoint_threshold = '1TB'")
        await store.write(events[:1000])  # table not empty: the next commit is a bulk merge by size
        await store.flush()
        before = wal_bytes(path)
        await store.write(events[1000:1000 + BULK_BATCH_ROWS])
        await store.flush()
        print("ACK", store.stats()["stored"], wal_bytes(path) - before, flush=True)
        for i in range(1000 + BULK_BATCH_ROWS, n, 5000):  # keep going until killed
            await store.write(events[i:i + 5000])
        await store.close()
        print("DONE", store.stats()["stored"], flush=True)

    asyncio.run(main())
    """
)


def test_sigkill_after_bulk_row_group_commit_loses_nothing_acknowledged(tmp_path):
    """The default batch (DuckDB's row-group size) takes DuckDB's bulk-append path: the WAL
    grows by a few bytes for 122,880 rows (row groups go to the data file, the WAL logs their
    location), and a SIGKILL right after the acknowledgement keeps every acknowledged row.

    Uses the benchmark's SYNTHETIC load-test generator: the real captures hold ~4k events, too
    few to fill one row group; this checks a storage mechanism, not market behaviour.
    """
    from liqmap.storage.duckdb_store import BULK_BATCH_ROWS

    n = 1000 + 2 * BULK_BATCH_ROWS
    db = tmp_path / "bulk.duckdb"
    bench_dir = str(TESTS_DIR.parent / "benchmarks")
    proc = subprocess.Popen([sys.executable, "-c", _BULK_WRITER, str(db), bench_dir, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kind, acked, wal_growth = proc.stdout.readline().split()
        os.kill(proc.pid, signal.SIGKILL)  # mid-way through writing the second row group
    finally:
        proc.wait(timeout=60)
    assert kind == "ACK" and int(acked) == 1000 + BULK_BATCH_ROWS, proc.stderr.read()[-3000:]
    assert proc.returncode == -signal.SIGKILL
    # a row-by-row commit logs ~150 WAL bytes per row (the 1,000-row first batch did); the
    # bulk one logs only where its row groups are
    assert 0 < int(wal_growth) < 8 * BULK_BATCH_ROWS

    con = duckdb.connect(str(db))  # WAL replay on open
    stored, distinct = con.execute("SELECT count(*), count(DISTINCT id_key) FROM liquidations").fetchone()
    con.close()
    assert int(acked) <= stored == distinct < n

    out = subprocess.run([sys.executable, "-c", _BULK_WRITER, str(db), bench_dir, str(n)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == f"DONE {n - stored}"
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM liquidations").fetchone() == (n, n)
    con.close()
