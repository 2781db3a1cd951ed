"""Heatmap benchmarks (plain script, prints figures). ALL DATA HERE IS SYNTHETIC.

1. Ingest throughput: a SYNTHETIC aggTrades CSV in the exact Binance layout
   (``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker``,
   header row, ms timestamps) spanning 37 days is written by ``synthetic_aggtrades.py`` (random-walk
   price, lognormal quantity), placed as a monthly archive file of the made-up symbol
   ``SYNTHUSDT`` and loaded through the real ``liqmap.heatmap.ingest.ingest`` path
   (delete+insert transaction, 5-minute flow pre-aggregation, ingest log). Target ≥ 1 M rows/s.
   A month of BTCUSDT is ≈ 45 M rows / 3 GB; default here is 10 M rows (``--rows``).
2. ``GET /liquidations/heatmap-timeseries`` for 30 days at 15 m (plus the served model's warm-up, 1 day) on that
   DB with SYNTHETIC 5m klines (from the synthetic trades) and SYNTHETIC 5-minute OI:
   cold (cache cleared) and cached latency. Targets < 300 ms cold, < 20 ms cached.

3. The model stepper (issue #10's live-path budget): 10 underlyings stepped at 1-minute steps
   with the served parameters (``heatmap/params/v1.json``), each after a one-day warm-up, driven by
   SYNTHETIC random-walk prices and open interest (named as such; the cost does not depend on the
   values). Reports the time of one step of all 10 (p50/p99/max over 2,000 steps, one core) and
   the serialized state size per underlying. Targets < 50 ms per step of 10, < 20 MB per state.
4. The offline path on REAL data: the served model over the shipped reference series (Binance
   BTCUSDT, 2025-12-01 → 2026-05-28, 51k 5-minute steps, heatmap/reference/), steps per second.

5. ``GET /liquidations/heatmap-timeseries`` for an underlying ``serve`` keeps current (the live
   path, issue #10): the live model run over 30 days of REAL Binance BTCUSDT 5-minute klines and
   open interest (December 2025, ``../shared/data/binance_usdm_5m_2025-12``) into the live tables
   (:func:`liqmap.storage.heatmap_store.save_steps`, as ``serve`` stores them), then the 30d@15m
   and 14d@15m requests served from them: cold (response cache cleared, fresh connection) and
   cached. Same targets as part 2.

The generated files and DB are deleted afterwards.

    uv run python benchmarks/bench_heatmap.py [--rows 10000000] [--keep] [--part all|ingest|stepper|live]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from synthetic_aggtrades import write_synthetic_aggtrades  # benchmarks/ is on sys.path when run as a script

DAY = 86_400_000
T0 = int(dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
DAYS = 37


def synthetic_inputs(rng, n: int, step_ms: int, p0: float, oi0: float):
    """SYNTHETIC 1-minute steps: random-walk price (~0.05 %/min) and OI (~0.02 %/min), taker share ~ U(0.4, 0.6)."""
    from liqmap.heatmap.engine import StepInput

    px, oi, out = p0, oi0, []
    for k in range(1, n + 1):
        c = px * (1 + rng.normal(0, 5e-4))
        hi, lo = max(px, c) * (1 + abs(rng.normal(0, 2e-4))), min(px, c) * (1 - abs(rng.normal(0, 2e-4)))
        oi *= 1 + rng.normal(0, 2e-4)
        out.append(StepInput(k * step_ms, px, hi, lo, c, oi, rng.uniform(0.4, 0.6)))
        px = c
    return out


def bench_stepper() -> None:
    """Part 3 and 4 (module docstring)."""
    import numpy as np

    from liqmap.heatmap.engine import dump_state, new_state, step
    from liqmap.heatmap.params import load_params
    from liqmap.heatmap.pipeline import run
    from liqmap.heatmap.validate import load_protocol, prepare

    served = load_params()
    rng = np.random.default_rng(7)
    step_ms, warm, timed, n_sym = 60_000, 1_440, 2_000, 10
    feeds = [synthetic_inputs(rng, warm + timed, step_ms, 100.0 * (i + 1), 1e5) for i in range(n_sym)]
    states = [new_state(served.params, step_ms) for _ in range(n_sym)]
    for i in range(n_sym):
        for x in feeds[i][:warm]:
            states[i], _ = step(states[i], x, inplace=True)
    lat = []
    for k in range(warm, warm + timed):
        t = time.perf_counter()
        for i in range(n_sym):
            states[i], _ = step(states[i], feeds[i][k])  # pure (copying) step, levels built: the live path's call
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    sizes = [len(dump_state(s)) for s in states]
    print(f"stepper, {n_sym} underlyings x 1-minute steps (SYNTHETIC inputs, params {served.version}): one step of all "
          f"{n_sym}: p50 {lat[len(lat) // 2]:.2f} ms, p99 {lat[int(0.99 * len(lat))]:.2f} ms, max {lat[-1]:.2f} ms "
          f"(n={timed}); state {max(sizes) / 1e3:.0f} kB serialized per underlying (book {states[0].book.nbytes / 1e3:.0f} kB)")
    ds = prepare(load_protocol(served.protocol))
    t = time.perf_counter()
    run(served.params, ds.series)
    el = time.perf_counter() - t
    print(f"offline run on the REAL reference series: {len(ds.series):,} 5-minute steps in {el:.1f} s "
          f"= {len(ds.series) / el:,.0f} steps/s ({el / len(ds.series) * 1e6:.0f} us/step)")


def _live_store(db: Path) -> int:
    """Part 5's DuckDB: the REAL December 2025 Binance BTCUSDT series in the venue tables and the
    live model's 30 days of steps over them. Returns the last step end."""
    from liqmap.heatmap.live import LiveHeatmap
    from liqmap.heatmap.params import load_params
    from liqmap.storage import heatmap_store as hs
    from liqmap.storage import market_reads as mr
    from liqmap.storage.duckdb_store import apply_migrations

    root = Path(__file__).resolve().parents[1]
    env = os.environ.get("LIQMAP_SHARED_DATA")
    data = next(p / "binance_usdm_5m_2025-12" for p in [*([Path(env)] if env else []), root.parent / "shared" / "data",
                                                          root.parent.parent / "shared" / "data"]
                if (p / "binance_usdm_5m_2025-12").is_dir())
    served = load_params()
    step = served.step_ms
    con = duckdb.connect(str(db))
    apply_migrations(con)
    con.execute(f"""INSERT INTO klines SELECT 'binance', 'BTCUSDT', '5m', open_time, close_time, open, high, low, close,
                        volume, quote_volume, taker_buy_volume, taker_buy_quote_volume, count, 'bench'
                    FROM read_csv('{data / "BTCUSDT-5m_2025-12-01_to_2025-12-31.csv"}', header=true)""")
    con.execute(f"""INSERT INTO open_interest SELECT 'binance', 'BTCUSDT', 'BTC', 'USDT', t, oi, oi_usd, t, 'bench'
                    FROM read_csv('{data / "BTCUSDT_oi_5m_2025-12-01_to_2025-12-31.csv"}', header=true)""")
    first_open, last_close = con.execute("SELECT min(open_time), max(close_time) + 1 FROM klines").fetchone()
    first, last = first_open + step, last_close // step * step
    kl = mr.reference_bars(con, "binance", "BTCUSDT", first - step, last, step)
    oi = {k.key: v for k, v in mr.oi_per_step(con, "BTC", first, last, step, ("USDT",), ("binance",)).items()}
    heat = LiveHeatmap("BTC", served, first)
    t = time.perf_counter()
    steps = heat.advance(kl, oi, last)
    el = time.perf_counter() - t
    rows = hs.save_steps(con, "BTC", served.version, step, first, steps, heat.dump(), last)
    con.execute("CHECKPOINT")
    con.close()
    print(f"live store (REAL Binance BTCUSDT Dec 2025): {len(steps):,} steps in {el:.1f} s, {rows:,} level rows")
    return last


def bench_live(tmp: Path) -> None:
    """Part 5 (module docstring)."""
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.api.routers import heatmap
    from liqmap.api.state import reading_state
    from liqmap.serve.heatmap import HeatmapService

    db = tmp / "live.duckdb"
    last = _live_store(db)
    for days in (30, 14):
        q = {"symbol": "BTCUSDT", "time_window": f"{days}d", "interval": "15m", "end_time": last}
        colds, warms = [], []
        for _ in range(5):
            ro = duckdb.connect(str(db), read_only=True)
            state = reading_state(ro)
            state.heatmap = HeatmapService(cursor=ro.cursor, bases=["BTC"], exchanges=["binance"],
                                           now_ms=lambda: last, live=False)
            client = TestClient(create_app(state))  # no lifespan: the service's stepping loop is not started
            heatmap.clear_cache()
            t = time.perf_counter()
            with client.stream("GET", "/liquidations/heatmap-timeseries", params=q,
                               headers={"Accept-Encoding": "gzip"}) as resp:
                raw = b"".join(resp.iter_raw())
            colds.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200 and resp.headers["x-cache"] == "miss", resp.status_code
            for _ in range(20):
                t = time.perf_counter()
                with client.stream("GET", "/liquidations/heatmap-timeseries", params=q,
                                   headers={"Accept-Encoding": "gzip"}) as resp:
                    b"".join(resp.iter_raw())
                warms.append((time.perf_counter() - t) * 1000)
                assert resp.headers["x-cache"] == "hit"
            ro.close()
        import gzip
        import json

        body = json.loads(gzip.decompress(raw))
        assert body["meta"]["source"] == "live"
        n_lv = sum(len(c["levels"]) for c in body["data"])
        print(f"live heatmap-timeseries {days}d @15m: {len(body['data'])} columns, {n_lv:,} levels, "
              f"{len(raw) / 1e6:.1f} MB gzipped; cold median {statistics.median(colds):.0f} ms "
              f"(min {min(colds):.0f}, max {max(colds):.0f}; n={len(colds)}), cached median "
              f"{statistics.median(warms):.1f} ms (p95 {sorted(warms)[int(0.95 * len(warms))]:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--part", choices=("all", "ingest", "stepper", "live"), default="all")
    a = ap.parse_args()
    if a.part in ("all", "stepper"):
        bench_stepper()
    if a.part in ("all", "live"):
        tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-live-"))
        try:
            bench_live(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.part in ("stepper", "live"):
        return

    from liqmap.heatmap.ingest import ingest

    tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-"))
    try:
        d = tmp / "futures/um/monthly/aggTrades/SYNTHUSDT"
        d.mkdir(parents=True)
        csv = d / "SYNTHUSDT-aggTrades-2024-11.csv"
        # the synthetic span is 37 days: split into two monthly files so every row is in range
        gen_s = write_synthetic_aggtrades(tmp / "all.csv", a.rows, T0, DAYS * DAY)
        con = duckdb.connect()
        nov_end = int(dt.datetime(2024, 12, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
        con.execute(f"COPY (SELECT * FROM read_csv('{tmp / 'all.csv'}', header=true) WHERE transact_time < {nov_end} "
                    f"ORDER BY agg_trade_id) TO '{csv}' (HEADER)")
        con.execute(f"COPY (SELECT * FROM read_csv('{tmp / 'all.csv'}', header=true) WHERE transact_time >= {nov_end} "
                    f"ORDER BY agg_trade_id) TO '{d / 'SYNTHUSDT-aggTrades-2024-12.csv'}' (HEADER)")
        con.close()
        (tmp / "all.csv").unlink()
        size = sum(p.stat().st_size for p in d.iterdir())
        print(f"synthetic aggTrades: {a.rows:,} rows, {size / 1e6:.0f} MB CSV, generated in {gen_s:.1f} s")

        db = tmp / "bench.duckdb"
        con = duckdb.connect(str(db))
        t = time.perf_counter()
        s = ingest(con, "aggtrades", "SYNTHUSDT", dt.date(2024, 11, 1), dt.date(2024, 12, 31), tmp)
        el = time.perf_counter() - t
        print(f"ingest (incl. 5m flow pre-aggregation, transaction, log): {s.rows:,} rows in {el:.2f} s "
              f"= {s.rows / el / 1e6:.2f} M rows/s, {size / el / 1e6:.0f} MB/s")
        t = time.perf_counter()
        s2 = ingest(con, "aggtrades", "SYNTHUSDT", dt.date(2024, 11, 1), dt.date(2024, 12, 31), tmp)
        print(f"resume re-run (all files skipped by checksum): {time.perf_counter() - t:.2f} s, "
              f"statuses {sorted({f.status for f in s2.files})}")
        # SYNTHETIC 5m klines from the synthetic trades (the model's native step), SYNTHETIC 5-minute OI random walk
        from liqmap.storage.duckdb_store import apply_migrations

        apply_migrations(con)
        con.execute("""INSERT INTO klines_5m_history
            SELECT symbol, (timestamp // 300000) * 300000, arg_min(price, timestamp), max(price), min(price),
                   arg_max(price, timestamp), sum(quantity), (timestamp // 300000) * 300000 + 299999,
                   sum(price * quantity), count(*), sum(quantity) FILTER (NOT is_buyer_maker),
                   sum(price * quantity) FILTER (NOT is_buyer_maker)
            FROM aggtrades_history GROUP BY symbol, timestamp // 300000""")
        con.execute(f"""INSERT INTO open_interest_history
            SELECT 'SYNTHUSDT', {T0} + range * 300000,
                   80000 + sum((random() - 0.49) * 300) OVER (ORDER BY range), NULL, NULL, NULL, NULL, NULL, 'synthetic'
            FROM range({DAYS * 288})""")
        con.execute("CHECKPOINT")
        con.close()

        from fastapi.testclient import TestClient

        from liqmap.api.app import create_app
        from liqmap.api.routers import heatmap
        from liqmap.api.state import reading_state

        ro = duckdb.connect(str(db), read_only=True)
        client = TestClient(create_app(reading_state(ro)))
        q = {"symbol": "SYNTHUSDT", "time_window": "30d", "interval": "15m"}
        colds, warms = [], []
        url = "/liquidations/heatmap-timeseries"

        def fetch() -> tuple[bytes, dict]:
            # raw (still gzipped) bytes: what the server produces, not the client's decompression time
            with client.stream("GET", url, params=q, headers={"Accept-Encoding": "gzip"}) as resp:
                assert resp.status_code == 200
                return b"".join(resp.iter_raw()), dict(resp.headers)

        for _ in range(5):
            heatmap.clear_cache()
            t = time.perf_counter()
            raw, hdr = fetch()
            colds.append((time.perf_counter() - t) * 1000)
            assert hdr["x-cache"] == "miss"
            for _ in range(20):
                t = time.perf_counter()
                _, hdr2 = fetch()
                warms.append((time.perf_counter() - t) * 1000)
                assert hdr2["x-cache"] == "hit"
        import gzip
        import json

        plain = gzip.decompress(raw)
        body = json.loads(plain)
        r = type("R", (), {"content": plain})
        n_lv = sum(len(c["levels"]) for c in body["data"])
        print(f"heatmap-timeseries 30d @15m: {len(body['data'])} columns, {n_lv:,} levels, {len(r.content) / 1e6:.1f} MB JSON, {len(raw) / 1e6:.1f} MB gzipped")
        print(f"  cold   median {statistics.median(colds):.0f} ms (min {min(colds):.0f}, max {max(colds):.0f}; n={len(colds)})")
        print(f"  cached median {statistics.median(warms):.1f} ms (p95 {sorted(warms)[int(0.95 * len(warms))]:.1f}; n={len(warms)})")
        ro.close()
        import os

        print(f"load average during the run: {os.getloadavg()} on {os.cpu_count()} cores")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
