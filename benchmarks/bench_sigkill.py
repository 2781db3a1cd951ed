"""Crash acceptance of issue #12: SIGKILL ``liqmap replay --db`` and ``liqmap serve`` K times each.

Input: the real recordings shipped for the demo (``liqmap.serve.demo.demo_paths``: Binance
captures of 2024-06, 2025-01/02 and 2025-12, BitMEX 2019-11 inserts, Hyperliquid's
published liquidations and fills). A reference run stores them to completion once (the
expected id set). Then K times per mode, each on a fresh database: start the process (paced
at ``--speed`` so it is committing when killed), SIGKILL it after a random delay, read the
file back (read-only):

* ``count(*) == count(DISTINCT id)`` (0 duplicates), every id in the expected set;
* serve: the last ``/health`` ``storage.committed`` seen before the kill <= rows on disk
  (nothing reported committed is missing);
* replay: the same replay run again to completion on the killed file ends with exactly the
  expected ids (no row lost or doubled by the crash); serve: the last killed file, served to
  the end, the same. Loopback only; bounded:
each run is killed within ``--max-s`` seconds.

    uv run python benchmarks/bench_sigkill.py [--kills 20] [--seed 12] [--speed 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

from liqmap.serve.demo import demo_paths

ENV = {**os.environ, "LIQMAP_REDIS_URL": "", "LIQMAP_POSTGRES_DSN": "", "LIQMAP_HEATMAP_SYMBOLS": ""}


def rows(db: Path) -> tuple[int, int, set[str]]:
    """(rows, distinct ids, ids) of the liquidations table; (0, 0, set()) before it exists."""
    if not db.exists():
        return 0, 0, set()
    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT id FROM liquidations").fetchall()]
    except duckdb.CatalogException:
        ids = []
    finally:
        con.close()
    return len(ids), len(set(ids)), set(ids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_cmd(db: Path, speed: float | None = None) -> list[str]:
    """``liqmap replay`` of the recordings into ``db``; paced at ``speed`` x (idle gaps capped at
    0.05 s) so a kill lands while commits are happening, as fast as possible without."""
    paced = ["--speed", str(speed), "--max-gap", "0.05"] if speed else []
    return [sys.executable, "-m", "liqmap", "replay", *demo_paths(), "--db", str(db), *paced]


def serve_cmd(db: Path, port: int, speed: float | None) -> list[str]:
    cmd = [sys.executable, "-m", "liqmap", "serve", "--replay", *demo_paths(), "--db", str(db), "--port", str(port)]
    return cmd + (["--speed", str(speed)] if speed else [])


def expected_ids(tmp: Path) -> set[str]:
    db = tmp / "reference.duckdb"
    subprocess.run(replay_cmd(db), env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n, distinct, ids = rows(db)
    assert n == distinct, "the reference run stored duplicates"
    return ids


def check(db: Path, prev: int, want: set[str], what: str) -> tuple[int, list[str]]:
    n, distinct, ids = rows(db)
    bad = []
    if n < prev:
        bad.append(f"{what}: rows went down {prev} -> {n} (committed rows lost)")
    if n != distinct:
        bad.append(f"{what}: {n - distinct} duplicate rows")
    if not ids <= want:
        bad.append(f"{what}: {len(ids - want)} ids not in the recordings")
    return n, bad


def kill_replays(tmp: Path, want: set[str], kills: int, rng: random.Random, min_s: float, max_s: float,
                 speed: float) -> dict:
    """Each kill on a fresh database, then the replay run again to completion on it."""
    bad, during, finished = [], [], 0
    for i in range(kills):
        db = tmp / f"replay{i}.duckdb"
        p = subprocess.Popen(replay_cmd(db, speed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(min_s, max_s))
        finished += p.poll() is not None
        p.send_signal(signal.SIGKILL)
        p.wait()
        n, b = check(db, 0, want, f"replay kill {i + 1}")
        subprocess.run(replay_cmd(db), env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m, distinct, ids = rows(db)
        if m < n or m != distinct or ids != want:
            b.append(f"replay kill {i + 1}: after the rerun {m} rows, {distinct} distinct, exact={ids == want}")
        bad += b
        during.append(n)
    return {"mode": "replay --db", "kills": kills, "rows_at_kill": during, "runs_finished_before_kill": finished,
            "expected": len(want), "every_rerun_exact": not any("rerun" in x for x in bad), "problems": bad}


def kill_serves(tmp: Path, want: set[str], kills: int, rng: random.Random, max_s: float, speed: float) -> dict:
    """Each kill on a fresh database: the last /health committed seen <= rows on disk."""
    bad, seen = [], []
    for i in range(kills):
        db, port = tmp / f"serve{i}.duckdb", free_port()
        p = subprocess.Popen(serve_cmd(db, port, speed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, committed, kill_at = time.monotonic() + 30, None, None
        while time.monotonic() < deadline:
            try:
                committed = httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).json()["storage"]["committed"]
                kill_at = kill_at or time.monotonic() + rng.uniform(0.3, max_s)
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if kill_at is not None and time.monotonic() >= kill_at:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        n, b = check(db, 0, want, f"serve kill {i + 1}")
        if committed is not None and committed > n:
            b.append(f"serve kill {i + 1}: committed {committed} > {n} rows on disk")
        bad += b
        seen.append([committed, n])
    db, port = tmp / f"serve{kills - 1}.duckdb", free_port()  # the last killed one, run to the end
    p = subprocess.Popen(serve_cmd(db, port, None), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                h = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                if h["pipeline"]["source_finished"] and not h["storage"]["buffered"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError, TypeError):
                pass
            time.sleep(0.2)
    finally:
        p.terminate()
        p.wait(30)
    n, distinct, ids = rows(db)
    return {"mode": "serve", "kills": kills, "committed_seen_vs_rows": seen, "final_rows": n, "expected": len(want),
            "final_exact": n == distinct and ids == want, "problems": bad}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs per mode")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--min-s", type=float, default=1.5, help="earliest replay kill, seconds after start")
    ap.add_argument("--max-s", type=float, default=6.0, help="latest kill, seconds after start (replay) / up (serve)")
    ap.add_argument("--speed", type=float, default=200000.0, help="replay speed of the killed runs (x recorded time)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.monotonic()
        want = expected_ids(tmp)
        print(json.dumps({"expected_ids": len(want), "reference_s": round(time.monotonic() - t0, 1)}), flush=True)
        results = [kill_replays(tmp, want, args.kills, rng, args.min_s, args.max_s, args.speed),
                   kill_serves(tmp, want, args.kills, rng, args.max_s, args.speed)]
    for r in results:
        print(json.dumps(r), flush=True)
    return 0 if all(not r["problems"] for r in results) and results[1]["final_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
