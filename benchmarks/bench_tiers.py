"""Tier outage acceptance of issue #12: a hung and a dead Redis / PostgreSQL under a steady feed.

A TieredStore (DuckDB + a DEDICATED redis-server on its own port + the local PostgreSQL
behind a TCP proxy we control, a scratch database) receives real liquidations (five Binance
captures, ``tests/conftest.load_liquidations``; the schedule outlasts them, so the feed then
continues with copies whose ids carry ``:2``, ``:3`` -- new events, same values) at ``--rate``
events/s, committed to DuckDB every 100 ms. Schedule (seconds):

* 0-5 normal; 5-35 **hung**: Redis SIGSTOPped, the proxy black-holes PostgreSQL (both keep
  their sockets open and answer nothing); 35-45 recovery;
* 45-60 **down**: Redis killed (it restarts EMPTY at 60), the proxy refuses PostgreSQL;
  60-75 recovery; then close (drain bounded by ``--drain-s``).

Reported: DuckDB commit duration p50/p99/max per phase (acceptance: p99 < 1 s during the
outages), the tier states seen, and per tier the events it holds against what DuckDB
committed (acceptance: 0 missing, 0 duplicated). Loopback only. Needs redis-server and
PostgreSQL on 127.0.0.1:5432; exits 2 when either is missing.

    uv run python benchmarks/bench_tiers.py [--rate 100] [--hung-s 30] [--down-s 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from pathlib import Path
import tempfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import msgspec  # noqa: E402

from conftest import BANDS, PAULIUS, RIFTFERN, free_port, load_liquidations  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402
from tierfaults import (RedisServer, expected_ids, postgres_holdings, redis_holdings,  # noqa: E402
                        scratch_pg_database, tier_report)

from liqmap.storage.tiered import TieredStore  # noqa: E402


def feed(events: list, n: int) -> list:
    """``n`` events: the real ones, then copies with ``:k`` id suffixes (new ids, same values)."""
    out, k = [], 1
    while len(out) < n:
        out += events if k == 1 else [msgspec.structs.replace(e, id=f"{e.id}:{k}") for e in events]
        k += 1
    return out[:n]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def run(args, redis_srv: RedisServer, proxy: TcpProxy, pgname: str, db: str) -> dict:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    store = TieredStore(db, redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
                        postgres_dsn=f"postgresql://postgres@127.0.0.1:{proxy.port}/{pgname}",
                        institutional_usd=0.0, redis_prefix=prefix, flush_interval_s=3600, drain_s=args.drain_s)
    h0, h1 = 5.0, 5.0 + args.hung_s
    d0 = h1 + 10.0
    d1 = d0 + args.down_s
    end = d1 + 15.0
    plan = [(h0, "hung", lambda: (redis_srv.signal(signal.SIGSTOP), proxy.set_mode("blackhole"))),
            (h1, "recovery", lambda: (redis_srv.signal(signal.SIGCONT), proxy.set_mode("pass"))),
            (d0, "down", lambda: (redis_srv.kill(), proxy.set_mode("down"))),
            (d1, "recovery 2", lambda: (redis_srv.start(), proxy.set_mode("pass")))]
    per_tick = max(1, round(args.rate / 10))
    events = feed(load_liquidations(PAULIUS, RIFTFERN, BANDS), int(end * 10) * per_tick)
    commits: dict[str, list[float]] = {}
    states: set[tuple[str, str]] = set()
    phase, t0, i = "normal", time.monotonic(), 0
    while (now := time.monotonic() - t0) < end:
        while plan and now >= plan[0][0]:
            _, phase, act = plan.pop(0)
            await asyncio.to_thread(act)
        await store.write(events[i:i + per_tick])
        i += per_tick
        t = time.perf_counter()
        await store.flush()  # one DuckDB commit
        commits.setdefault(phase, []).append(time.perf_counter() - t)
        states |= {(n, s["status"]) for n, s in store.tier_states().items()}
        await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))
    t = time.perf_counter()
    summary = await store.close()
    close_s = time.perf_counter() - t
    want = expected_ids(db)
    pg = postgres_holdings(pgname)
    rd = redis_holdings(redis_srv.port, prefix)
    return {
        "events": i, "stored": summary["stored"], "rate_per_s": args.rate, "close_s": round(close_s, 1),
        "commit_ms": {p: {"n": len(v), "p50": round(pct(v, 0.5) * 1e3, 2), "p99": round(pct(v, 0.99) * 1e3, 2),
                          "max": round(max(v) * 1e3, 2)} for p, v in commits.items()},
        "states_seen": sorted(f"{n}:{s}" for n, s in states),
        "postgres": tier_report(want, pg["ids"], pg["rows"]),
        "redis": {**tier_report(want, rd["seen"], len(rd["seen"])), "level_count": rd["level_count"],
                  "bucket_count": rd["bucket_count"]},
        "tiers": {n: {k: v for k, v in s.items() if k in ("status", "dropped", "backfilled", "complete")}
                  for n, s in summary["tiers"].items() if n != "duckdb"},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=100.0, help="events per second")
    ap.add_argument("--hung-s", type=float, default=30.0)
    ap.add_argument("--down-s", type=float, default=15.0)
    ap.add_argument("--drain-s", type=float, default=60.0)
    args = ap.parse_args()
    try:
        redis_srv = RedisServer(free_port()).start()
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"no dedicated redis-server: {exc}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp, scratch_pg_database() as pgname, TcpProxy(5432) as proxy:
            res = asyncio.run(run(args, redis_srv, proxy, pgname, str(Path(tmp) / "tiers.duckdb")))
    except OSError as exc:
        print(f"PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 2
    finally:
        redis_srv.kill()
    print(json.dumps(res, indent=1))
    worst = max(v["p99"] for p, v in res["commit_ms"].items())
    ok = worst < 1000 and all(res[t]["missing"] == 0 and res[t]["duplicated"] == 0 for t in ("postgres", "redis"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
