"""Per-event in-process hot path: L1 append + price level + 1-min bucket + cascade update.

Input: every real liquidation in tests/fixtures/binance_forceorder_datastreams
(*liquidations* files) plus the BitMEX inserts, read by the replay path (``liqmap.replay``,
the venue parsers), one per id, sorted by time and looped ``--loops`` times with timestamps
shifted forward by the input's span per loop (so event time keeps advancing and L1 evicts
normally). Nothing is synthetic except that time shift.

Reports p50/p90/p99/p99.9/max of per-event time (``time.perf_counter_ns``
around the four calls; includes ~50-100 ns of timer overhead), the batched
average (one timer around the whole loop), and memory: tracemalloc's net allocation of
an L1 ``MemoryStore`` holding every real event (its own copies), per event.

Target: p99 <= 20 us per event.

Run: ``uv run python benchmarks/bench_hot_path.py [--loops 20]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from conftest import BITMEX_INSERTS, DATASTREAMS, replay_liquidations  # noqa: E402

from liqmap.analytics.buckets import MINUTE_MS, BucketAccumulator  # noqa: E402
from liqmap.analytics.cascades import CascadeDetector  # noqa: E402
from liqmap.analytics.levels import price_level  # noqa: E402
from liqmap.storage.memory import MemoryStore  # noqa: E402


def real_events():
    liqs = replay_liquidations(sorted(DATASTREAMS.glob("*liquidations*")) + [BITMEX_INSERTS])
    liqs.sort(key=lambda x: (x.timestamp, x.id))
    return liqs


def looped(liqs, loops):
    span = liqs[-1].timestamp - liqs[0].timestamp + 60_000
    out = []
    for k in range(loops):
        off = k * span
        out.extend(
            msgspec.structs.replace(x, timestamp=x.timestamp + off, received_at=x.received_at + off, id=f"{x.id}#{k}")
            for x in liqs
        )
    return out


def pct(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100 * len(sorted_vals)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loops", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (each printed; noisy shared hosts vary)")
    args = ap.parse_args()
    import os

    print(f"python {sys.version.split()[0]}, cpus {os.cpu_count()}, load average {os.getloadavg()}")
    base = real_events()
    events = looped(base, args.loops)
    print(f"events: {len(base)} real x {args.loops} loops = {len(events)}")

    def fresh():
        return MemoryStore(), BucketAccumulator(MINUTE_MS), CascadeDetector()

    # warm-up
    mem, acc, det = fresh()
    for x in events[:5000]:
        mem.add(x); price_level(x.base, x.price); acc.update(x); det.update(x)

    # per-event timing
    us = lambda ns: ns / 1000  # noqa: E731
    p99s = []
    for run in range(args.repeat):
        mem, acc, det = fresh()
        pc = time.perf_counter_ns
        times = [0] * len(events)
        n_casc = 0
        gc.disable()
        try:
            for i, x in enumerate(events):
                t0 = pc()
                mem.add(x)
                price_level(x.base, x.price)
                acc.update(x)
                ev = det.update(x)
                times[i] = pc() - t0
                n_casc += len(ev)
        finally:
            gc.enable()
        n_casc += len(det.flush())
        times.sort()
        p99s.append(pct(times, 99))
        print(
            "run %d per-event (us): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.1f  mean %.2f  (cascade events %d)"
            % (run + 1, us(pct(times, 50)), us(pct(times, 90)), us(pct(times, 99)), us(pct(times, 99.9)),
               us(times[-1]), us(statistics.fmean(times)), n_casc)
        )
    print(f"p99 best/median/worst of {args.repeat} runs: {us(min(p99s)):.2f} / "
          f"{us(statistics.median(p99s)):.2f} / {us(max(p99s)):.2f} us (target <= 20)")

    # batched average (no per-event timer)
    mem, acc, det = fresh()
    t0 = time.perf_counter_ns()
    for x in events:
        mem.add(x)
        price_level(x.base, x.price)
        acc.update(x)
        det.update(x)
    det.flush()
    dt = time.perf_counter_ns() - t0
    print(f"batched: {dt / len(events) / 1000:.2f} us/event, {len(events) / (dt / 1e9):,.0f} events/s")

    # memory: an L1 store holding every real event (its own copies of the structs)
    copies = [msgspec.json.decode(msgspec.json.encode(y), type=type(y)) for y in base]
    tracemalloc.start()
    s0 = tracemalloc.take_snapshot()
    store = MemoryStore(retention_ms=10**13, max_events=len(copies))
    for y in copies:
        store.add(y)
    s1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    net = sum(st.size_diff for st in s1.compare_to(s0, "filename"))
    structs = sum(sys.getsizeof(y) + sum(sys.getsizeof(getattr(y, f)) for f in y.__struct_fields__) for y in copies)
    print(f"L1 memory: {len(store):,} real events held -> {net:,} B of store structures ({net / len(store):.0f} B/event) "
          f"+ ~{structs / len(copies):.0f} B/event of structs and field values (shared with the other tiers)")


if __name__ == "__main__":
    main()
