"""The market series in every storage tier (issue #10 item 1): DuckDB (migration tables, keyed:
a replay stores nothing twice), PostgreSQL (monthly partitions like the liquidation table),
Redis (the latest value per instrument).

Input: real recordings through the real replay path (liqmap replay --db) -- the cryptofeed
sample sessions of Binance USD-M (aggTrade + kline_1m, 2021-07-22), BitMEX REST
``instrument/active`` (open interest + mark of every contract, 2021-07-22) and Deribit
(``ticker`` with open interest and mark, 2021-07-22).
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import FIX
from liqmap.analytics.market_series import MarketSeries
from liqmap.cli import app
from liqmap.models import Kline, OpenInterest, Ticker, Trade
from liqmap.replay.runner import ReplayRunner
from liqmap.storage.postgres_store import PostgresStore
from test_storage_postgres import dsn  # noqa: F401  (fixture: a throwaway database)
from test_storage_redis import store as redis_store  # noqa: F401  (fixture: a prefixed store)

CF = FIX / "cryptofeed_sample_data"
FILES = [str(CF / n) for n in ("BINANCE_FUTURES.ws.1.0.gz", "BITMEX.0.gz", "DERIBIT.ws.1.0.gz")]


def _events():
    return list(ReplayRunner(FILES).iter_events())


def _count(con, table):
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_replay_stores_the_series_once_and_again_stores_nothing_twice(tmp_path):
    db = str(tmp_path / "m.duckdb")
    runner = CliRunner()
    for _ in range(2):
        res = runner.invoke(app, ["replay", *FILES, "--db", db])
        assert res.exit_code == 0, res.output
    con = duckdb.connect(db, read_only=True)
    events = _events()
    trades = [e for e in events if isinstance(e, Trade)]
    minutes = {(t.exchange, t.symbol, t.timestamp // 60_000) for t in trades}
    assert _count(con, "trade_bars_1m") == len(minutes) > 0
    closed = {(k.exchange, k.symbol, k.open_time) for k in events if isinstance(k, Kline) and k.closed}
    assert _count(con, "klines") == len(closed) > 0
    # open interest / marks: one row per instrument and minute, the minute's LAST value
    last: dict[tuple, OpenInterest] = {}
    for e in events:
        if isinstance(e, OpenInterest):
            last[(e.exchange, e.symbol, e.timestamp // 60_000)] = e
    got = con.execute("SELECT exchange, symbol, timestamp, open_interest FROM open_interest WHERE source = 'live'").fetchall()
    assert sorted(got) == sorted((e.exchange, e.symbol, e.timestamp, e.open_interest) for e in last.values())
    assert {r[0] for r in got} == {"bitmex", "deribit"}
    marks = {(e.exchange, e.symbol, e.timestamp // 60_000) for e in events if isinstance(e, Ticker) and e.mark_price}
    assert _count(con, "mark_prices") == len(marks) > 0


@pytest.mark.postgres
async def test_postgres_partitions_and_upserts_the_series(dsn):  # noqa: F811
    series = MarketSeries()
    rows = series.add(_events())
    rows.extend(series.flush())
    store = PostgresStore(dsn)
    await store.write_market(rows)
    await store.flush()
    await store.write_market(rows)  # the same rows again, another transaction: upserted, not added
    await store.close()
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        async def one(q):
            return (await (await conn.execute(q)).fetchone())[0]

        assert await one("SELECT count(*) FROM trade_bars_1m") == len({(b.exchange, b.symbol, b.open_time) for b in rows.bars})
        assert await one("SELECT count(*) FROM open_interest") == len(rows.open_interest) > 0
        assert await one("SELECT count(*) FROM mark_prices") == len(rows.marks)
        assert await one("SELECT count(*) FROM klines") == len(rows.klines)
        parts = await (await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'open_interest'::regclass")).fetchall()
        assert [p[0] for p in parts] == ["open_interest_p202107"]  # monthly partition of July 2021
        got = await one("SELECT sum(open_interest) FROM open_interest")
    assert got == pytest.approx(sum(o.open_interest for o in rows.open_interest), rel=1e-12)
    assert store.stats()["market_rows_written"] == 2 * len(rows)


@pytest.mark.redis
async def test_redis_keeps_the_latest_value_per_instrument(redis_store):  # noqa: F811
    events = _events()
    series = MarketSeries()
    newest: dict[tuple, float] = {}
    by_batch = defaultdict(list)
    for i, e in enumerate(events):
        by_batch[i // 500].append(e)
        if isinstance(e, OpenInterest):
            newest[(e.exchange, e.symbol)] = e.open_interest
    for batch in by_batch.values():
        await redis_store.set_latest(series.add(batch))
    for (ex, sym), oi in list(newest.items())[:20]:
        assert (await redis_store.latest("oi", ex, sym))["open_interest"] == oi
    # an older value never replaces a newer one
    ex, sym = next(iter(newest))
    old = next(e for e in events if isinstance(e, OpenInterest) and (e.exchange, e.symbol) == (ex, sym))
    stale = MarketSeries().add([OpenInterest(old.exchange, old.symbol, old.base, old.quote, 1.0, None,
                                             old.timestamp - 60_000, old.received_at)])
    await redis_store.set_latest(stale)
    assert (await redis_store.latest("oi", ex, sym))["open_interest"] == newest[(ex, sym)]
    bar = await redis_store.latest("bar1m", "binance", "CTKUSDT")
    assert bar["trades"] > 0 and bar["open_time"] % 60_000 == 0


async def test_a_gap_committed_with_market_rows_stores_both(tmp_path):
    """A reconnect's Gap and the market rows of the same flush go in one transaction: the gap
    count must not leave a half-read result on the writer's cursor (DuckDB 2 then refuses the
    market rows' register() and the whole batch is retried for ever -- serve stops storing)."""
    from liqmap.models import Gap
    from liqmap.storage.duckdb_store import DuckDBStore

    events = _events()
    rows = MarketSeries().add(events)
    assert len(rows.open_interest) and len(rows.bars)
    store = DuckDBStore(str(tmp_path / "g.duckdb"))
    t = max(e.timestamp for e in events if isinstance(e, OpenInterest))
    await store.write([Gap("bitmex", "realtime-market", t - 5_000, t, "closed")])
    await store.write_market(rows)
    await store.flush()
    await store.close()
    con = duckdb.connect(str(tmp_path / "g.duckdb"), read_only=True)
    assert con.execute('SELECT connection, start, "end" FROM gaps').fetchall() == [("realtime-market", t - 5_000, t)]
    assert _count(con, "trade_bars_1m") == len(rows.bars) and _count(con, "open_interest") == len(rows.open_interest)
