"""Storage tier throughput (plain script; prints figures).

    uv run python benchmarks/bench_storage.py [--n 500000] [--skip-redis] [--skip-postgres]

Events come from :func:`synthetic_liquidations`, a SYNTHETIC generator (random
walk prices, random sizes, unique ids) -- load-test data, not market data.

Measured:

* DuckDB: ``DuckDBStore.write`` called with 5,000 events at a time on a fresh file
  with the store's defaults (commit trigger = DuckDB's row-group size, 122,880 rows;
  PRIMARY KEY id_key = md5_number(id) + index on (exchange, timestamp)), events/s
  end-to-end (Liquidation objects -> committed rows); 3 runs and their median.
  Target >= 200k/s.
* DuckDB replay of the same events (all duplicates, skipped via the key).
* Variants: ``DuckDBStore(threads=1)``; without the (exchange, timestamp) index;
  small commits (``batch_size=5,000``, ``max_buffer=20,000``, the defaults before
  2026-12-01), which take DuckDB's row-by-row commit path.
* TieredStore (DuckDB + cascade detection) events/s.
* Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, throwaway database)
  at batch sizes 500 and 5,000; Postgres with ``institutional_usd=0`` so every
  event is a row.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from liqmap.models import Liquidation  # noqa: E402

_BASES = [("BTC", 98_000.0), ("ETH", 3_300.0), ("SOL", 230.0), ("DOGE", 0.33), ("XRP", 3.1), ("PEPE", 0.000018)]
_VENUES = ["binance", "bybit", "okx", "bitmex", "hyperliquid"]


def synthetic_liquidations(n: int, seed: int = 7, start_ms: int = 1_760_000_000_000,
                           run: str | None = None) -> list[Liquidation]:
    """SYNTHETIC load-test liquidations: n events, unique ids, ~20 events/s of event time.

    Ids are ``synthetic:{run}:{i}``; ``run`` defaults to a random tag (a fresh id set per
    call); pass a fixed one for the same ids on every call (a replay of the same input).
    """
    rnd = random.Random(seed)
    prices = {b: p for b, p in _BASES}
    out = []
    ts = start_ms
    run = run if run is not None else uuid.uuid4().hex[:6]
    for i in range(n):
        base, _ = _BASES[rnd.randrange(len(_BASES))]
        prices[base] *= 1 + rnd.gauss(0, 0.0005)
        price = prices[base]
        usd = rnd.lognormvariate(8, 1.6)
        ts += rnd.randrange(0, 100)
        ex = _VENUES[rnd.randrange(len(_VENUES))]
        side = "long" if rnd.random() < 0.55 else "short"
        out.append(Liquidation(
            exchange=ex, symbol=base + "USDT", base=base, quote="USDT", side=side, price=price,
            quantity=usd / price, value_usd=usd, timestamp=ts, received_at=ts + 50,
            id=f"synthetic:{run}:{i}", order_side="SELL" if side == "long" else "BUY", status="FILLED",
        ))
    return out


async def _timed_write(store, events: list[Liquidation], chunk: int) -> tuple[float, float]:
    """Write ``events`` ``chunk`` at a time, then flush; returns (wall seconds, process CPU seconds)."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(events), chunk):
        await store.write(events[i : i + chunk])
    await store.flush()
    return time.perf_counter() - t, time.process_time() - c


async def bench_duckdb(events: list[Liquidation], label: str, write_chunk: int = 5_000, repeats: int = 3,
                       drop_ts_index: bool = False, **store_kwargs) -> None:
    """``repeats`` fresh-file runs of ``DuckDBStore(**store_kwargs)``; prints each run and the median.

    The producer hands the store ``write_chunk`` events per ``write`` call, as the replay
    runner does; the store's own triggers decide the commit sizes.
    """
    from liqmap.storage.duckdb_store import DuckDBStore

    print(f"-- {label}")
    rates: list[float] = []
    for run in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "bench.duckdb"
            store = DuckDBStore(path, flush_interval_s=3600, **store_kwargs)
            if drop_ts_index:  # comparison only: what the (exchange, timestamp) ART index costs
                store._con.execute("DROP INDEX liquidations_exchange_ts")
            dt, cpu = await _timed_write(store, events, write_chunk)
            s = store.stats()
            rates.append(s["stored"] / dt)
            print(f"   insert run {run + 1}: {s['stored']:>8} events in {dt:5.2f}s = {s['stored'] / dt:>9,.0f} events/s wall, "
                  f"{s['stored'] / cpu:>9,.0f} per CPU-second; {s['batches']} commits "
                  f"(batch_size {store.batch_size:,}, max_buffer {store.max_buffer:,})")
            if run == repeats - 1:
                dt, _ = await _timed_write(store, events, write_chunk)
                print(f"   replay of the same events: {len(events) / dt:,.0f} events/s (stored "
                      f"{store.stats()['stored'] - s['stored']}, skipped {store.stats()['duplicates_skipped']})")
            await store.close()
            if run == repeats - 1:
                print(f"   file size: {path.stat().st_size / 1e6:.1f} MB for {s['stored']} rows")
    rates.sort()
    print(f"   => median {statistics.median(rates):,.0f} events/s (min {rates[0]:,.0f}, max {rates[-1]:,.0f})")


async def bench_tiered(events: list[Liquidation], write_chunk: int = 5_000) -> None:
    from liqmap.storage.tiered import TieredStore

    with tempfile.TemporaryDirectory() as d:
        store = TieredStore(db_path=str(Path(d) / "t.duckdb"), flush_interval_s=3600)
        t = time.perf_counter()
        for i in range(0, len(events), write_chunk):
            await store.write(events[i : i + write_chunk])
        summary = await store.close()
        dt = time.perf_counter() - t
        print(f"tiered (duckdb+cascades), defaults, writes of {write_chunk}: {summary['stored']} events in {dt:6.2f}s = "
              f"{summary['stored'] / dt:,.0f} events/s, cascades started {summary['cascades_found']}")


async def bench_redis(events: list[Liquidation]) -> None:
    import redis.asyncio as aioredis

    from liqmap.storage.redis_store import RedisStore

    url = "redis://127.0.0.1:6379/0"
    probe = aioredis.from_url(url, socket_connect_timeout=1)
    try:
        await probe.ping()
    except Exception as exc:  # noqa: BLE001
        print(f"redis: skipped (not reachable at 127.0.0.1:6379: {exc})")
        return
    for batch in (500, 5_000):
        prefix = f"liqbench{uuid.uuid4().hex[:8]}"
        store = RedisStore(url, prefix=prefix)
        t = time.perf_counter()
        for i in range(0, len(events), batch):
            await store.write(events[i : i + batch])
        dt = time.perf_counter() - t
        print(f"redis  batch={batch:>5}: {store.stored:>8} events in {dt:6.2f}s = {store.stored / dt:>10,.0f} events/s")
        keys = [k async for k in probe.scan_iter(match=f"{prefix}:*", count=5000)]
        for j in range(0, len(keys), 5000):
            await probe.delete(*keys[j : j + 5000])
        await store.close()
    await probe.aclose()


async def bench_postgres(events: list[Liquidation]) -> None:
    import psycopg
    from psycopg import sql

    from liqmap.storage.postgres_store import PostgresStore

    try:
        admin = await psycopg.AsyncConnection.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                                      autocommit=True, connect_timeout=2)
    except Exception as exc:  # noqa: BLE001
        print(f"postgres: skipped (not reachable at 127.0.0.1:5432: {exc})")
        return
    name = f"liqmap_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        for batch in (500, 5_000):
            store = PostgresStore(f"postgresql://postgres@127.0.0.1:5432/{name}", institutional_usd=0,
                                  batch_size=batch, flush_interval_s=3600)
            await store.connect()
            # fresh ids per batch size so both runs insert
            evs = [Liquidation(**{**{f: getattr(e, f) for f in e.__struct_fields__}, "id": f"{e.id}:{batch}"})
                   for e in events]
            dt, _ = await _timed_write(store, evs, batch)
            print(f"postgres batch={batch:>5}: {store.stored:>8} events in {dt:6.2f}s = {store.stored / dt:>10,.0f} events/s "
                  f"(COPY + INSERT ON CONFLICT, monthly partitions)")
            await store.close()
    finally:
        await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        await admin.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500_000, help="synthetic events for DuckDB (default 500k)")
    ap.add_argument("--n-remote", type=int, default=50_000, help="synthetic events for Redis/Postgres (default 50k)")
    ap.add_argument("--skip-redis", action="store_true")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    import os

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (wall-clock figures shrink under load)")
    t = time.perf_counter()
    events = synthetic_liquidations(args.n)
    print(f"SYNTHETIC events generated: {len(events):,} in {time.perf_counter() - t:.2f}s (load-test data, not market data)")
    await bench_duckdb(events, "DuckDBStore() defaults: batch_size = DuckDB's row group (122,880), PK + (exchange, timestamp) index")
    await bench_duckdb(events, "variant: DuckDBStore(threads=1)", threads=1)
    await bench_duckdb(events, "variant: without the (exchange, timestamp) ART index", drop_ts_index=True)
    await bench_duckdb(events, "variant: small commits, batch_size=5,000, max_buffer=20,000 (the defaults before 2026-12-01)",
                       batch_size=5_000, max_buffer=20_000)
    await bench_tiered(events[:200_000])
    remote = events[: args.n_remote]
    if not args.skip_redis:
        await bench_redis(remote)
    if not args.skip_postgres:
        await bench_postgres(remote)


if __name__ == "__main__":
    asyncio.run(main())
