"""The API's short-window reads from L1 (memory) vs DuckDB (plain script; prints figures).

    uv run python benchmarks/bench_reads.py [--n 1000000] [--repeat 30]

Events come from ``bench_storage.synthetic_liquidations``, a SYNTHETIC generator (random-walk
prices, random sizes, ~20 events/s of event time: a busy hour holds ~72,000 liquidations) --
load-test data, not market data -- and every 20th of them (~1 event/s, a typical hour). They
are committed to a fresh DuckDB file with ``DuckDBStore`` and added to an L1 ``MemoryStore``
(default retention and cap), as ``serve`` does. Then each read of
:class:`liqmap.storage.reads.TieredReads` runs ``--repeat`` times tiered (L1 where it answers)
and DuckDB-only, on the newest hour; the median / p90 wall time per call, the tier that
answered and whether both answers agree are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench_storage import synthetic_liquidations  # noqa: E402

from liqmap.storage.duckdb_store import DuckDBStore  # noqa: E402
from liqmap.storage.memory import MemoryStore  # noqa: E402
from liqmap.storage.reads import TieredReads  # noqa: E402
from liqmap.units import HOUR_MS, MINUTE_MS  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median ms, p90 ms, last result) of ``repeat`` calls of ``fn``."""
    out, got = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        got = fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[min(len(out) - 1, int(0.9 * len(out)))], got


def bench(events, repeat: int, label: str) -> None:
    """Store ``events`` in DuckDB and L1, then time each read on the newest hour."""
    last = max(e.timestamp for e in events)
    with tempfile.TemporaryDirectory() as d:
        store = DuckDBStore(Path(d) / "reads.duckdb", flush_interval_s=3600)

        async def fill():
            for i in range(0, len(events), 5000):
                await store.write(events[i:i + 5000])
            await store.flush()

        asyncio.run(fill())
        mem = MemoryStore()
        t = time.perf_counter()
        for e in events:
            mem.add(e)
        add_us = (time.perf_counter() - t) / len(events) * 1e6
        hour = sum(1 for e in events if e.timestamp > last - HOUR_MS)
        print(f"== {label}: {len(events):,} SYNTHETIC events in DuckDB, {hour:,} in the newest hour; L1 holds "
              f"{len(mem):,} ({(last - mem.floor_ms) / MINUTE_MS:.0f} min), {add_us:.2f} us per add")
        l1, db = TieredReads(store.reader, mem), TieredReads(store.reader, None)
        start = last - HOUR_MS
        reads = {
            "recent limit=100": ("recent", lambda r: r.recent(None, None, 0.0, 100)),
            "recent BTC >= $10k limit=100": ("recent", lambda r: r.recent("BTC", None, 10_000.0, 100)),
            "stats 1h (10 min buckets)": ("stats", lambda r: r.stats(None, start, last, None, 10_000.0, 100_000.0,
                                                                     10 * MINUTE_MS)),
            "stats 1h BTC on binance": ("stats", lambda r: r.stats("BTC", start, last, ["binance"], 10_000.0,
                                                                   100_000.0, 10 * MINUTE_MS)),
            "cascade status 1h": ("cascades", lambda r: r.detected_cascades(None, start, last)),
        }
        print(f"   {'read':30} {'tiered':>8} {'p90':>8} {'served by':>9} {'DuckDB only':>12} {'p90':>8}  agree")
        for name, (kind, fn) in reads.items():
            before = l1.served.copy()
            m1, p1, a = timed(lambda: fn(l1), repeat)
            tier = "memory" if l1.served[kind, "memory"] > before[kind, "memory"] else "duckdb"
            m2, p2, b = timed(lambda: fn(db), repeat)
            agree = a == b if kind != "stats" else (a["count"] == b["count"] and a["largest"] == b["largest"])
            print(f"   {name:30} {m1:6.2f}ms {p1:6.2f}ms {tier:>9} {m2:10.2f}ms {p2:6.2f}ms  {agree}")
        asyncio.run(store.close())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic events stored (default 1M)")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    events = synthetic_liquidations(args.n, run="reads")
    bench(events, args.repeat, "busy: ~20 events/s")
    bench(events[::20], args.repeat, "typical: ~1 event/s")


if __name__ == "__main__":
    main()
