"""Schema version 1 -> 2 migration (PRIMARY KEY moves from VARCHAR id to id_key = md5_number(id)).

A file written by the previous liqmap version (schema 1: ``id VARCHAR PRIMARY KEY``) and a
file whose ``liquidations`` table was created by a reader without any key (the API's
``ensure_read_schema`` before schema 4 removed it) both open in :class:`DuckDBStore`, keep every row once, and stay
idempotent against a replay of the same real events.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb

from conftest import VISION
from liqmap.heatmap.ingest import ingest
from liqmap.storage.duckdb_store import LIQUIDATION_COLUMNS, MIGRATIONS_DIR, DuckDBStore, _migrations
from liqmap.units import INTERVAL_MS

from test_storage_loader import SQUEEZE, load_liquidations

#: every migration file's version, in order (later migrations add tables; liquidations is v2)
ALL_VERSIONS = [v for v, _name, _sql in _migrations()]
LATEST = ALL_VERSIONS[-1]

V1_SQL = (MIGRATIONS_DIR / "0001_init.sql").read_text()
#: the keyless table the API's read path created in a fresh file before schema version 2
KEYLESS_READER_SQL = """CREATE TABLE liquidations (
    exchange VARCHAR, symbol VARCHAR, base VARCHAR, quote VARCHAR, side VARCHAR, price DOUBLE, quantity DOUBLE,
    value_usd DOUBLE, "timestamp" BIGINT, received_at BIGINT, id VARCHAR, order_side VARCHAR, status VARCHAR)"""


def _md5_key(s: str) -> int:
    return int.from_bytes(hashlib.md5(s.encode()).digest(), "little")


def _rows(events):
    return [tuple(getattr(e, c) for c in LIQUIDATION_COLUMNS) for e in events]


def _write_v1_file(path, events, keyed=True):
    """A database as the previous version left it: schema 1 (or a keyless reader-made table)."""
    con = duckdb.connect(str(path))
    if keyed:
        con.execute(V1_SQL)
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at BIGINT)")
        con.execute("INSERT INTO schema_version VALUES (1, '0001_init.sql', 0)")
    else:
        con.execute(KEYLESS_READER_SQL)
    con.executemany(f"INSERT INTO liquidations VALUES ({', '.join('?' * len(LIQUIDATION_COLUMNS))})", _rows(events))
    con.close()


def _table_shape(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE liquidations").fetchall()]
        pk = con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = 'liquidations' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        idx = con.execute("SELECT expressions FROM duckdb_indexes() WHERE table_name = 'liquidations'").fetchall()
        rows = con.execute(f"SELECT {', '.join(LIQUIDATION_COLUMNS)}, id_key FROM liquidations ORDER BY id").fetchall()
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()]
    finally:
        con.close()
    return cols, pk, idx, rows, versions


async def test_v1_file_migrates_once_and_stays_idempotent(tmp_path):
    events = load_liquidations(SQUEEZE[0])
    assert len(events) > 100
    old, new = events[: len(events) // 2], events[len(events) // 2 :]
    db = tmp_path / "v1.duckdb"
    _write_v1_file(db, old)

    store = DuckDBStore(db, batch_size=200, flush_interval_s=60)
    assert store.schema_version == LATEST
    await store.write(events)  # the old half again (all duplicates) + the new half
    await store.close()
    s = store.stats()
    assert s["stored"] == len({e.id for e in new} - {e.id for e in old})
    assert s["duplicates_skipped"] == len(events) - s["stored"]

    cols, pk, idx, rows, versions = _table_shape(db)
    assert cols == [*LIQUIDATION_COLUMNS, "id_key", "receipt_time"]  # same names/order, key appended, then the flag
    assert pk == [(["id_key"],)]
    assert any("exchange" in str(x) and "timestamp" in str(x) for x in idx)
    assert versions == ALL_VERSIONS
    ref = {e.id: e for e in events}
    assert len(rows) == len(ref)
    for r in rows:
        assert r[:-1] == _rows([ref[r[10]]])[0]
        assert r[-1] == _md5_key(r[10])

    # reopening does not migrate again and keeps every row
    again = DuckDBStore(db, batch_size=200, flush_interval_s=60)
    await again.write(events)
    await again.close()
    assert again.stats()["stored"] == 0
    assert _table_shape(db)[3] == rows


async def test_keyless_reader_table_migrates_keeping_first_row_per_id(tmp_path):
    events = load_liquidations(SQUEEZE[1])[:300]
    db = tmp_path / "reader.duckdb"
    _write_v1_file(db, events + events[:50], keyed=False)  # a keyless table may hold repeats
    store = DuckDBStore(db, batch_size=100, flush_interval_s=60)
    await store.write(events)
    await store.close()
    assert store.stats()["stored"] == 0
    cols, pk, _idx, rows, versions = _table_shape(db)
    assert pk == [(["id_key"],)]
    assert versions == ALL_VERSIONS
    assert sorted(r[10] for r in rows) == sorted({e.id for e in events})


ARCHIVE_TABLES = {"ingest_log", "aggtrades_history", "aggtrades_flow_5m", "open_interest_history",
                  "liquidation_snapshot_history", *(f"klines_{iv}_history" for iv in INTERVAL_MS)}


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


async def test_archive_history_tables_come_from_the_migrations(tmp_path):
    """Every table the heatmap ingest loads exists once the store opens a new file (schema 4)."""
    db = tmp_path / "fresh.duckdb"
    await DuckDBStore(db).close()
    con = duckdb.connect(str(db), read_only=True)
    assert ARCHIVE_TABLES <= _tables(con)
    con.close()


def test_ad_hoc_archive_tables_keep_their_rows_through_schema_4(tmp_path):
    """A file whose archive tables ingest created on demand (before schema 4) keeps its rows."""
    db = str(tmp_path / "adhoc.duckdb")
    con = duckdb.connect(db)
    summary = ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 5), dt.date(2025, 12, 7), VISION, interval="1h")
    assert summary.rows == 72  # three real daily files of 24 hourly candles
    before = con.execute("SELECT * FROM klines_1h_history ORDER BY open_time").fetchall()
    con.execute("DELETE FROM schema_version WHERE version = 4")  # as if 0004 had never run
    con.close()
    store = DuckDBStore(db)
    assert store.schema_version == LATEST
    cur = store.reader()
    assert cur.execute("SELECT * FROM klines_1h_history ORDER BY open_time").fetchall() == before
    assert ARCHIVE_TABLES <= _tables(cur)
    cur.close()
