"""PostgreSQL tier against the real server on 127.0.0.1:5432 (user postgres, trust auth).

Each test module run creates a throwaway database ``liqmap_test_<random>`` and drops it
after; skipped with the reason when the server is absent.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from liqmap.analytics.levels import price_level
from liqmap.storage.base import StorageError
from liqmap.storage.postgres_store import PostgresStore

from test_storage_loader import SELLOFF, load_liquidations

pytestmark = pytest.mark.postgres

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def dsn():
    import psycopg
    from psycopg import sql

    try:
        admin = await psycopg.AsyncConnection.connect(ADMIN, autocommit=True, connect_timeout=2)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 as postgres: {exc}")
    name = f"liqmap_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        await admin.close()


@pytest.fixture(scope="module")
def selloff():
    ev = load_liquidations(SELLOFF)
    uniq = {}
    for e in ev:
        uniq.setdefault(e.id, e)
    return ev, uniq


async def _q(store, query, params=None):
    cur = await store.conn.execute(query, params)
    rows = await cur.fetchall()
    await store.conn.commit()
    return rows


async def test_significant_rows_idempotent_and_partitioned(dsn, selloff):
    events, uniq = selloff
    # threshold lowered to 1,000 USD (configurable) so the rows span two months (Jan + Feb 2025)
    sig = {k: e for k, e in uniq.items() if e.value_usd >= 1_000}
    assert 100 < len(sig) < len(uniq)

    store = PostgresStore(dsn, batch_size=1000, institutional_usd=1_000)
    for i in range(0, len(events), 700):
        await store.write(events[i : i + 700])
    await store.close()
    assert store.flavour == "native"  # no timescaledb on this machine
    assert store.stats()["stored"] == len(sig)
    assert store.stats()["below_threshold"] == sum(1 for e in events if e.value_usd < 1_000)

    again = PostgresStore(dsn, institutional_usd=1_000)
    await again.write(events)
    await again.flush()
    assert again.stats()["stored"] == 0
    rows = await _q(again, "SELECT id, value_usd, side, ts FROM liquidations_significant")
    assert {r[0] for r in rows} == sig.keys() and len(rows) == len(sig)
    for rid, usd, side, ts in rows:
        assert usd == sig[rid].value_usd and side == sig[rid].side
        assert ts == datetime.fromtimestamp(sig[rid].timestamp / 1000, tz=timezone.utc)
    parts = {r[0] for r in await _q(again, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                           "WHERE i.inhparent = 'liquidations_significant'::regclass")}
    months = {datetime.fromtimestamp(e.timestamp / 1000, tz=timezone.utc).strftime("%Y%m") for e in sig.values()}
    assert len(months) == 2 and parts == {f"liquidations_significant_p{m}" for m in months}
    versions = [r[0] for r in await _q(again, "SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [1, 2, 3, 4]  # applied once, not re-run by the second store
    await again.close()


async def test_default_threshold_keeps_institutional_only(dsn, selloff):
    events, uniq = selloff
    store = PostgresStore(dsn)
    await store.write(events)
    await store.close()
    big = {e.id for e in uniq.values() if e.value_usd >= 100_000}
    assert len(big) == 5 and store.stats()["stored"] == 5  # 2025-01-27: 3 BTC, DOGE, WLD


async def test_rollups_views_and_cluster_function(dsn, selloff):
    _, uniq = selloff
    sig = [e for e in uniq.values() if e.value_usd >= 1_000]
    store = PostgresStore(dsn, institutional_usd=1_000)
    await store.write(sig)
    await store.refresh()

    hourly = defaultdict(lambda: [0, 0.0])
    for e in sig:
        h = e.timestamp - e.timestamp % 3_600_000
        hourly[(h, e.base, e.side)][0] += 1
        hourly[(h, e.base, e.side)][1] += e.value_usd
    rows = await _q(store, "SELECT (extract(epoch FROM hour) * 1000)::bigint, base, side, n_events, value_usd "
                           "FROM liquidations_hourly")
    got = {(h, b, s): (n, v) for h, b, s, n, v in rows}
    assert got.keys() == hourly.keys()
    for k, (n, v) in hourly.items():
        assert got[k][0] == n and got[k][1] == pytest.approx(v, rel=1e-12)

    # SQL level grid == Python grid for every stored price
    lv = await _q(store, "SELECT id, liqmap_price_level(base, price) FROM liquidations_significant")
    by_id = {e.id: e for e in sig}
    for rid, level in lv:
        e = by_id[rid]
        assert level == pytest.approx(price_level(e.base, e.price), rel=1e-12), (e.base, e.price)

    btc = [e for e in sig if e.symbol == "BTCUSDT"]
    assert btc and len(btc) < sum(e.base == "BTC" for e in sig)  # BTCUSDC rows exist too
    until = datetime.fromtimestamp((max(e.timestamp for e in sig) + 1) / 1000, tz=timezone.utc)
    clusters = await _q(store, "SELECT level, side, n_events, value_usd FROM get_price_level_clusters(%s, %s, %s)",
                        ["BTCUSDT", 24 * 30, until])
    ref = defaultdict(lambda: [0, 0.0])
    for e in btc:
        ref[(price_level("BTC", e.price), e.side)][0] += 1
        ref[(price_level("BTC", e.price), e.side)][1] += e.value_usd
    assert {(l, s): n for l, s, n, _ in clusters} == {k: v[0] for k, v in ref.items()}
    assert clusters[0][3] == max(v[1] for v in ref.values())  # ordered by USD, largest first
    # a base asset matches every venue symbol of it (BTCUSDT + BTCUSDC)
    all_btc = await _q(store, "SELECT sum(n_events) FROM get_price_level_clusters('btc', 720, %s)", [until])
    assert all_btc[0][0] == sum(e.base == "BTC" for e in sig)

    comp = await _q(store, "SELECT exchange, sum(n_events), sum(value_usd) FROM liquidations_exchange_comparison "
                           "GROUP BY 1")
    assert comp == [("binance", len(sig), pytest.approx(sum(e.value_usd for e in sig), rel=1e-12))]
    levels = await _q(store, "SELECT sum(n_events) FROM liquidations_price_levels")
    assert levels[0][0] == len(sig)

    # retention: these 2025 partitions are older than 90 days -> all dropped
    dropped = await store.retention(90)
    assert dropped and all(d.startswith("liquidations_significant_p2025") for d in dropped)
    assert (await _q(store, "SELECT count(*) FROM liquidations_significant"))[0][0] == 0
    # and writing again recreates the partitions on demand
    await store.write(sig[:3])
    await store.flush()
    assert (await _q(store, "SELECT count(*) FROM liquidations_significant"))[0][0] == 3
    await store.close()


async def test_cascade_upsert(dsn):
    store = PostgresStore(dsn)
    await store.connect()
    row = dict(id="BTC-1", symbol="BTC", start_ts=1737996800000, end_ts=1737996860000, n_events=6,
               value_usd=700_000.0, long_usd=650_000.0, short_usd=50_000.0, exchanges=["binance"],
               risk_score=0.8, severity="high", cross_exchange=False, status="active", updated_at=1)
    await store.upsert_cascades([row])
    await store.flush()
    await store.upsert_cascades([{**row, "status": "ended", "n_events": 9, "updated_at": 2}])
    await store.flush()
    rows = await _q(store, "SELECT status, n_events, exchanges, risk_score, start_time FROM liquidation_cascades")
    assert rows == [("ended", 9, ["binance"], 0.8, datetime(2025, 1, 27, 16, 53, 20, tzinfo=timezone.utc))]
    await store.close()


async def test_unreachable_server_error_names_dsn():
    store = PostgresStore("postgresql://postgres:secret@127.0.0.1:1/none")
    with pytest.raises(StorageError, match=r"cannot connect to postgresql://postgres:\*\*\*@127.0.0.1:1/none"):
        await store.connect()
