"""TieredStore on the real sell-off / squeeze captures: storage summary and cascades."""

from __future__ import annotations

import time
import uuid

import duckdb
import pytest

from liqmap.feed.aggregator import ExchangeAggregator
from liqmap.storage.tiered import TieredStore

from test_storage_loader import ALL_FILES, SELLOFF, SQUEEZE, load_liquidations


@pytest.fixture(scope="module")
def selloff():
    return load_liquidations(SELLOFF)


def deduplicated(events):
    """The capture as the aggregator streams it to storage: each id once (the first)."""
    agg = ExchangeAggregator(exchanges=[])
    return [e for e in events if agg.publish(e)]


async def replay(store: TieredStore, events, chunk=250):
    for i in range(0, len(events), chunk):
        await store.write(events[i : i + chunk])
    return await store.close()


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


async def test_selloff_summary_and_cascades(tmp_path, selloff):
    db = tmp_path / "liq.duckdb"
    stream = deduplicated(selloff)
    assert len(selloff) == 3510 and len(stream) == len({e.id for e in selloff}) == 1837
    summary = await replay(TieredStore(db_path=str(db)), stream)
    assert summary["events_seen"] == {"binance": len(stream)}
    assert summary["stored"] == 1837
    assert summary["duplicates_skipped"] == 0
    assert summary["pending"] == 0
    assert summary["tiers"]["redis"] == {"status": "off"} and summary["tiers"]["postgres"] == {"status": "off"}
    assert summary["cascades_found"] >= 1
    assert summary["cascade_events"]["end"] == summary["cascades_found"]

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT id, symbol, start_ts, end_ts, n_events, value_usd, long_usd, short_usd, status, severity "
        "FROM cascades ORDER BY value_usd DESC"
    ).fetchall()
    assert len(rows) == summary["cascades_found"]
    assert all(r[8] == "ended" for r in rows)  # close() ends open cascades
    # each cascade's totals are exactly the stored liquidations of its base in [start, end]
    # (input is time-ordered; the aggregator dropped the duplicates before detection)
    for cid, base, s, e, n, usd, long_usd, short_usd, _st, _sev in rows:
        m, v = con.execute(
            "SELECT count(*), sum(value_usd) FROM liquidations WHERE base = ? AND timestamp BETWEEN ? AND ?",
            [base, s, e],
        ).fetchone()
        assert (m, v) == (n, pytest.approx(usd, rel=1e-9)), cid
        assert long_usd + short_usd == pytest.approx(usd, rel=1e-9)
    con.close()
    # the biggest cascade is in the 2025-01-27 sell-off window and is a long flush
    top = rows[0]
    assert "2025-01-27 16:50" <= _utc(top[2]) <= "2025-01-27 17:20"
    assert top[6] > 5 * top[7]


async def test_replaying_twice_is_idempotent_for_rows_and_cascades(tmp_path, selloff):
    db = str(tmp_path / "liq.duckdb")
    stream = deduplicated(selloff)
    first = await replay(TieredStore(db_path=db), stream)
    con = duckdb.connect(db, read_only=True)
    before = con.execute("SELECT * FROM cascades ORDER BY id").fetchall()
    con.close()
    second = await replay(TieredStore(db_path=db), stream, chunk=1000)
    assert second["stored"] == 0 and second["duplicates_skipped"] == len(stream)
    assert second["cascades_found"] == first["cascades_found"]
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM liquidations").fetchone()[0] == first["stored"]
    assert con.execute("SELECT * FROM cascades ORDER BY id").fetchall() == before
    con.close()


async def test_all_files_in_one_store(tmp_path):
    events = [e for f in ALL_FILES for e in load_liquidations(f)]
    summary = await replay(TieredStore(db_path=str(tmp_path / "l.duckdb"), batch_size=700), events, chunk=97)
    assert summary["stored"] == len({e.id for e in events})
    assert summary["stored_by_exchange"] == {"binance": summary["stored"]}


async def test_optional_tier_down_degrades_and_duckdb_keeps_everything(tmp_path):
    events = load_liquidations(SQUEEZE[0])
    store = TieredStore(db_path=str(tmp_path / "l.duckdb"), redis_url="redis://127.0.0.1:1/0",
                        postgres_dsn="postgresql://postgres:pw@127.0.0.1:1/x", drain_s=4.0,
                        mirror_options={"backoff_cap": 0.2})
    summary = await replay(store, events)
    assert summary["stored"] == len({e.id for e in events})
    redis, pg = summary["tiers"]["redis"], summary["tiers"]["postgres"]
    assert redis["status"] == pg["status"] == "down" and not redis["complete"] and not pg["complete"]
    assert min(redis["undelivered"], pg["undelivered"]) >= len(events)  # never delivered, and said so
    assert redis["last_error"].startswith("redis: not reachable")
    assert pg["last_error"].startswith("postgres: cannot connect") and "postgres:***@" in pg["last_error"]
    assert "pw" not in str(summary)


async def test_strict_mode_raises(tmp_path):
    from liqmap.storage.base import StorageError

    store = TieredStore(db_path=str(tmp_path / "l.duckdb"), redis_url="redis://127.0.0.1:1/0", strict=True)
    with pytest.raises(StorageError, match="redis"):
        await store.write(load_liquidations(SQUEEZE[0])[:3])
    await store.close()


async def test_all_tiers_together(tmp_path, selloff):
    """DuckDB + real Redis + real PostgreSQL; skipped with the reason when a server is absent."""
    import psycopg
    import redis.asyncio as aioredis
    from psycopg import sql

    r = aioredis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1)
    try:
        await r.ping()
    except Exception as exc:  # noqa: BLE001
        await r.aclose()
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {exc}")
    try:
        admin = await psycopg.AsyncConnection.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                                      autocommit=True, connect_timeout=2)
    except Exception as exc:  # noqa: BLE001
        await r.aclose()
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    name = f"liqmap_test_{uuid.uuid4().hex[:12]}"
    prefix = f"liqtest{uuid.uuid4().hex[:10]}"
    await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        store = TieredStore(db_path=str(tmp_path / "l.duckdb"), redis_url="redis://127.0.0.1:6379/0",
                            postgres_dsn=f"postgresql://postgres@127.0.0.1:5432/{name}", redis_prefix=prefix)
        summary = await replay(store, deduplicated(selloff))
        t = summary["tiers"]
        assert t["redis"]["status"] == "ok" and t["postgres"]["status"] == "ok", t
        uniq = {e.id: e for e in selloff}
        assert t["redis"]["stored"] == len(uniq)
        assert t["postgres"]["stored"] == sum(e.value_usd >= 100_000 for e in uniq.values())
        pg = await psycopg.AsyncConnection.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        n_casc = (await (await pg.execute("SELECT count(*) FROM liquidation_cascades WHERE status = 'ended'"))
                  .fetchone())[0]
        await pg.close()
        assert n_casc == summary["cascades_found"]
        pg = await psycopg.AsyncConnection.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        hourly = (await (await pg.execute("SELECT sum(n_events) FROM liquidations_hourly")).fetchone())[0]
        await pg.close()
        assert hourly == t["postgres"]["stored"]  # close() refreshed the rollups
        status = await r.get(f"{prefix}:cascade:status:BTC")
        assert status is not None and b'"status":"ended"' in status
    finally:
        keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
        await r.aclose()
        await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        await admin.close()


async def test_every_tier_implements_the_shared_interface(tmp_path):
    from liqmap.storage.base import EventStore
    from liqmap.storage.duckdb_store import DuckDBStore
    from liqmap.storage.postgres_store import PostgresStore
    from liqmap.storage.redis_store import RedisStore

    tiers = [DuckDBStore(tmp_path / "a.duckdb"), RedisStore("redis://127.0.0.1:1/0", prefix="x"),
             PostgresStore("postgresql://postgres@127.0.0.1:1/x"), TieredStore(db_path=str(tmp_path / "b.duckdb"))]
    for t in tiers:
        assert isinstance(t, EventStore), type(t).__name__
        assert isinstance(t.stats(), dict)
    for t in tiers:
        await t.close()
