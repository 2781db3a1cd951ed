"""`liqmap download` throughput: one month of aggTrades from a local archive server into DuckDB.

ALL DATA HERE IS SYNTHETIC (``synthetic_aggtrades.py``, symbol ``SYNTHUSDT``): a BTCUSDT-sized
month (45 M aggregate trades by default, ~3 GB of CSV) in the data.binance.vision layout with
``.CHECKSUM`` files, served by ``python -m http.server`` in its own process on 127.0.0.1. The
timed part is the real code path of ``liqmap download`` (:func:`liqmap.history.download.download`):
checksum fetch, streamed download, SHA-256 verification, unzip, DuckDB ingest (delete+insert
transaction, 5-minute flow pre-aggregation, ingest log) into a fresh DuckDB file. Target
(issue #10): >= 1 M rows/s. Besides wall time it prints the CPU seconds this process used
(all threads): on a shared machine wall time moves with other load, rows per CPU-second much less.

    uv run python benchmarks/bench_download.py [--rows 45000000] [--daily] [--parallel 4] [--cache DIR]

``--daily`` serves the month as 30 daily zips (what a range that is not a whole past month
fetches: downloads overlap ingest); the default is the monthly zip, what a whole past month
fetches. ``--cache DIR`` keeps the generated archive for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from synthetic_aggtrades import SYMBOL, build_month_archive  # benchmarks/ is on sys.path when run as a script

MONTH = (2024, 11)


def _serve(root: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def _archive(cache: Path | None, rows: int, daily: bool) -> tuple[Path, bool]:
    root = (cache or Path(tempfile.mkdtemp(prefix="liqmap-bench-archive-"))) / f"{rows}-{'daily' if daily else 'monthly'}"
    marker = root / "complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        files = build_month_archive(root, *MONTH, rows=rows, daily=daily)
        size = sum(f.stat().st_size for f in files)
        print(f"generated SYNTHETIC {SYMBOL} {MONTH[0]}-{MONTH[1]:02d}: {rows:,} rows, {len(files)} zip(s), "
              f"{size / 1e6:,.0f} MB in {time.perf_counter() - t:.0f} s")
        marker.write_text("ok")
    return root, cache is None


def _cpu() -> float:
    """CPU seconds of this process, all threads (DuckDB's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _timed_download(base_url: str, work: Path, parallel: int) -> dict:
    from liqmap.history.download import download

    marks: dict[str, float] = {}

    def progress(event, f, payload):
        marks[event] = time.perf_counter()

    con = duckdb.connect(str(work / "bench.duckdb"))
    days = dt.date(*MONTH, 1), dt.date(*MONTH, 30)
    c0 = _cpu()
    t0 = time.perf_counter()
    rep = await download(SYMBOL, ["aggTrades"], [], *days, con=con, dest=work / "vision", base_url=base_url,
                         parallel=parallel, today=dt.date(2025, 1, 1), progress=progress)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    n = con.execute(f"SELECT count(*) FROM aggtrades_history WHERE symbol = '{SYMBOL}'").fetchone()[0]
    con.close()
    assert not rep.errors and not rep.missing and n == rep.rows, (rep.errors, rep.missing, n, rep.rows)
    return {"rows": rep.rows, "wall": wall, "cpu": cpu, "fetched_at": marks["fetched"] - t0, "bytes": rep.nbytes,
            "files": len(rep.fetched)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=45_000_000)
    ap.add_argument("--daily", action="store_true", help="30 daily zips instead of the monthly zip")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=None, help="keep/reuse the generated archive here")
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    root, tmp_root = _archive(a.cache, a.rows, a.daily)
    proc, url = _serve(root)
    try:
        for i in range(a.runs):
            work = Path(tempfile.mkdtemp(prefix="liqmap-bench-dl-"))
            try:
                r = asyncio.run(_timed_download(url, work, a.parallel))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"run {i + 1}: {r['rows']:,} rows from {r['files']} file(s), {r['bytes'] / 1e6:,.0f} MB zip: "
                  f"{r['wall']:.1f} s wall = {r['rows'] / r['wall'] / 1e6:.2f} M rows/s "
                  f"(last file verified after {r['fetched_at']:.1f} s); {r['cpu']:.1f} CPU-s = "
                  f"{r['rows'] / r['cpu'] / 1e6:.2f} M rows per CPU-second")
        print(f"load average {os.getloadavg()} on {os.cpu_count()} cores")
    finally:
        proc.terminate()
        proc.wait()
        if tmp_root:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
