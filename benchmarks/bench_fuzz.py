"""Fuzz acceptance of issue #12: N mutated REAL frames per venue through parse + store.

For every venue of the registry, frames are drawn from its real fixtures (the venue's
liquidation frames, tardis-node messages, the start of its cryptofeed sessions:
``tests/test_parser_fuzz.real_frames``) and mutated with a seeded RNG -- values replaced
by poison (inf, NaN, 0, negatives, 1e308, 2**128, "1e999", unsafe and 100 kB symbols, a
NUL byte, epoch 0 and year-5000 times), numbers scaled by 1e6 either way, fields
stringified or deleted, frames truncated. Each frame goes through the venue's own parser
(one instance per venue for the whole run, so the gate's reference prices evolve as live)
and every event into a real DuckDB store. Then every stored liquidation row is read back
and checked against ``tests/invariants.py`` (stated independently of the gate).

Reported per venue: frames, events out of the parser, liquidations stored, quarantined,
gate rejections, frames rejected (FrameError, counted), UNCAUGHT exceptions (anything
else), emitted liquidations violating the invariants (``event_violations``: every one, also
those whose id was already stored), stored rows violating them (``violations``; DuckDB keeps
the first row of an id). Acceptance: 0 uncaught, 0 violations of either kind.

    uv run python benchmarks/bench_fuzz.py [--frames 100000] [--seed 12] [--venues binance,okx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import duckdb  # noqa: E402

from liqmap.exchanges.base import FrameError  # noqa: E402
from liqmap.exchanges.contracts import ContractSizes  # noqa: E402
from liqmap.exchanges.registry import VENUE_NAMES, get_venue  # noqa: E402
from liqmap.models import Liquidation, Quarantined  # noqa: E402
from liqmap.storage.duckdb_store import DuckDBStore  # noqa: E402
from invariants import liquidation_violations  # noqa: E402
from test_parser_fuzz import real_frames  # noqa: E402

RECEIVED_AT = 1_700_000_000_000
POISON = [math.inf, -math.inf, math.nan, 0, 0.0, -1, -0.0, 1e308, 2**128, 2**63, -(2**63), "1e999", "NaN",
          "Infinity", "", None, True, [], {}, "0", "-5", "<img src=x onerror=alert(1)>USDT", "BTC\x00USDT",
          "A" * 100_000 + "USDT", "BTCUSDT" * 12, 0, 32503680000000, "1970-01-01T00:00:00Z"]


def _paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            yield from _paths(v, prefix + (i,))


def mutate(rng: random.Random, frame: object) -> str | bytes:
    """One mutated copy of ``frame`` (decoded JSON) as text (sometimes bytes, sometimes cut)."""
    frame = json.loads(json.dumps(frame))
    paths = list(_paths(frame))
    for _ in range(rng.randint(1, 3)):
        if not paths:
            break
        path = rng.choice(paths)
        parent = frame
        try:
            for k in path[:-1]:
                parent = parent[k]
            old = parent[path[-1]]
            op = rng.random()
            if op < 0.55:
                parent[path[-1]] = rng.choice(POISON)
            elif op < 0.75 and isinstance(old, (int, float, str)) and not isinstance(old, bool):
                try:
                    x = float(old)
                    parent[path[-1]] = type(old)(x * rng.choice((1e6, 1e-6, -1.0))) if not isinstance(old, str) \
                        else repr(x * rng.choice((1e6, 1e-6, -1.0)))
                except (ValueError, OverflowError):
                    parent[path[-1]] = old + rng.choice(("<", "\x00", "X" * 70))
            elif op < 0.85:
                parent[path[-1]] = str(old)
            elif isinstance(parent, dict):
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    text = json.dumps(frame)
    r = rng.random()
    if r < 0.08:
        text = text[: rng.randint(0, len(text))]
    return text.encode() if r > 0.95 else text


async def fuzz_venue(name: str, n: int, seed: int, db: Path) -> dict:
    rng = random.Random(f"{seed}:{name}")
    frames = real_frames()[name]
    venue = get_venue(name, contracts=ContractSizes())  # never the shared registry
    store = DuckDBStore(db, flush_interval_s=3600)
    c: Counter = Counter()
    batch: list = []
    t0 = time.perf_counter()
    for _ in range(n):
        text = mutate(rng, rng.choice(frames))
        try:
            events = venue.parse(text, RECEIVED_AT, "fuzz")
        except FrameError as exc:
            c["frame_errors"] += 1
            events = exc.partial
        except Exception as exc:  # the contract says FrameError only
            c["uncaught"] += 1
            if c["uncaught"] <= 3:
                print(f"  {name}: UNCAUGHT {type(exc).__name__}: {exc!r:.200}", file=sys.stderr)
            continue
        for e in events:
            if isinstance(e, (Liquidation, Quarantined)):
                if isinstance(e, Liquidation) and liquidation_violations(e, venue.launched_ms):
                    c["event_violations"] += 1  # every emitted event, not only the first of an id
                batch.append(e)
                c["liquidations" if isinstance(e, Liquidation) else "quarantined"] += 1
            c["events"] += 1
        if len(batch) >= 5000:
            await store.write(batch)
            await store.flush()
            batch = []
    await store.write(batch)
    await store.flush()
    await store.close()
    parse_s = time.perf_counter() - t0
    con = duckdb.connect(str(db), read_only=True)
    cols = ["id", "symbol", "side", "price", "quantity", "value_usd", "quote", "timestamp"]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM liquidations WHERE exchange = ?", [name]).fetchall()
    bad = [v for r in rows if (v := liquidation_violations(dict(zip(cols, r)), venue.launched_ms))]
    quarantined = con.execute("SELECT count(*) FROM quarantine WHERE exchange = ?", [name]).fetchone()[0]
    con.close()
    for v in bad[:3]:
        print(f"  {name}: VIOLATION {v}", file=sys.stderr)
    return {"venue": name, "frames": n, "events": c["events"], "liq_out": c["liquidations"], "stored": len(rows),
            "quarantined_stored": quarantined, "rejected": sum(venue.gate.rejected.values()),
            "frame_errors": c["frame_errors"], "uncaught": c["uncaught"], "event_violations": c["event_violations"],
            "violations": len(bad),
            "seconds": round(parse_s, 1)}


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000, help="mutated frames per venue")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--venues", default=",".join(VENUE_NAMES))
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.venues.split(","):
            res = await fuzz_venue(name, args.frames, args.seed, Path(tmp) / "fuzz.duckdb")
            out.append(res)
            print(json.dumps(res), flush=True)
    total = {k: sum(r[k] for r in out) for k in ("frames", "events", "stored", "quarantined_stored", "rejected",
                                                 "frame_errors", "uncaught", "event_violations", "violations")}
    print(json.dumps({"total": total}))
    return 1 if total["uncaught"] or total["violations"] or total["event_violations"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
