"""Dashboard speed on ``liqmap demo`` (issue #11): first paint < 1.5 s, each periodic refresh
< 200 ms server time.

    uv run python benchmarks/bench_dashboard.py [--loads 5] [--refreshes 30]

* **first paint**: a fresh headless Chromium page (Debian ``/usr/bin/chromium``) opens ``/``; the
  time from navigation start until the main chart has drawn candles, predicted levels and
  bubbles (``window.liqmapFirstPaint``, set by dashboard.js after the first ``Plotly.react``).
  Median and max of ``--loads`` cold page loads (the first one also meets cold server caches),
  with when plotly.js had run (``static/vendor/plotly-liqmap.min.js``, deferred after dashboard.js so
  the first data requests go out before it is evaluated; mark ``liqmap-plotly-ready``) and when the
  data had arrived.
* **refresh**: the requests of one periodic refresh of the page (``/health``, then in parallel
  ``/liquidations/stats``, ``/liquidations/cascades``, ``/exchanges/health`` and, when a new
  candle has closed, the chart's ``/data/date-range``, ``/prices/klines``, ``/liquidations/recent``,
  ``/reference/realized-hourly``, then ``/liquidations/heatmap-timeseries`` and
  ``/liquidations/liquidation-map``), sent over HTTP from this process every second while the
  demo's loop moves the clock; "server time" = the wall time of the refresh's critical path
  (each parallel group's slowest request, added up), measured on 127.0.0.1. Reported: p50, p95
  and max over the refreshes, and separately the refreshes that redrew the chart (a new column:
  model recomputed, its caches cold).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from demo_process import start_demo, stop  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WINDOW_MS, IV_MS = 2 * 86_400_000, 900_000  # the dashboard's default: 2 days of 15-minute columns


def first_paint(base: str, loads: int) -> list[tuple[float, float, float]]:
    """Per cold page load ``(first paint, plotly.js ready, data in)`` in seconds from navigation start
    (market.js's ``liqmap-plotly-ready`` and dashboard.js's ``liqmap-data`` marks)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base + "/")
                page.wait_for_function("window.liqmapFirstPaint > 0", timeout=30_000)
                t = page.evaluate("""() => [window.liqmapFirstPaint,
                    (performance.getEntriesByName('liqmap-plotly-ready')[0] || {startTime: NaN}).startTime,
                    (performance.getEntriesByName('liqmap-data')[0] || {startTime: NaN}).startTime]""")
                out.append(tuple(x / 1000 for x in t))
                page.close()
        finally:
            browser.close()
    return out


async def _timed(c: httpx.AsyncClient, path: str, params: dict) -> float:
    t0 = time.perf_counter()
    r = await c.get(path, params=params)
    r.raise_for_status()
    return time.perf_counter() - t0


async def one_refresh(c: httpx.AsyncClient, last_col: list) -> tuple[float, bool]:
    t0 = time.perf_counter()
    meta = (await c.get("/health")).json()["meta"]
    crit = time.perf_counter() - t0
    now = meta["now_ms"]
    col = now // IV_MS * IV_MS
    q = {"symbol": "BTC", "start_time": col - WINDOW_MS, "end_time": now}
    panels = [_timed(c, "/liquidations/stats", q), _timed(c, "/liquidations/cascades", q),
              _timed(c, "/exchanges/health", {})]
    redraw = last_col[0] != col
    if redraw:
        last_col[0] = col
        span = {"start_time": col - WINDOW_MS, "end_time": col}
        chart1 = [_timed(c, "/data/date-range", {"symbol": "BTCUSDT"}),
                  _timed(c, "/prices/klines", {"symbol": "BTCUSDT", "interval": "15m", "limit": 5000, **span}),
                  _timed(c, "/liquidations/recent", {"symbol": "BTC", "limit": 1000, **q}),
                  _timed(c, "/reference/realized-hourly", {"symbol": "BTC", **q})]
        g1 = await asyncio.gather(*panels, *chart1)
        g2 = await asyncio.gather(
            _timed(c, "/liquidations/heatmap-timeseries", {"symbol": "BTCUSDT", "interval": "15m", "bin_size": 25,
                                                            **span}),
            _timed(c, "/liquidations/liquidation-map", {"symbol": "BTCUSDT", "end_time": col, "bin_size": 25}))
        crit += max(g1) + max(g2)
    else:
        crit += max(await asyncio.gather(*panels))
    return crit, redraw


async def refreshes(base: str, n: int) -> list[tuple[float, bool]]:
    out, last = [], [None]
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"Accept-Encoding": "gzip"}) as c:
        await one_refresh(c, last)  # the page's first load, measured by first_paint
        for _ in range(n):
            await asyncio.sleep(1.0)
            out.append(await one_refresh(c, last))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--refreshes", type=int, default=30)
    args = ap.parse_args()
    proc, base = start_demo()
    try:
        fp = first_paint(base, args.loads)
        rs = asyncio.run(refreshes(base, args.refreshes))
    finally:
        stop(proc)
    ms = sorted(t * 1000 for t, _ in rs)
    redraws = [t * 1000 for t, r in rs if r]
    paint = [x[0] for x in fp]
    print(f"first paint of / (s): median {statistics.median(paint):.2f}, max {max(paint):.2f} "
          f"over {len(fp)} loads ({', '.join(f'{x:.2f}' for x in paint)})  target < 1.5")
    print(f"  plotly.js evaluated (deferred, beside the first data requests) at median "
          f"{statistics.median(x[1] for x in fp):.2f} s; data in at {statistics.median(x[2] for x in fp):.2f} s")
    print(f"periodic refresh, server time on the critical path (ms): p50 {ms[len(ms) // 2]:.0f}, "
          f"p95 {ms[int(0.95 * (len(ms) - 1))]:.0f}, max {ms[-1]:.0f} over {len(ms)} refreshes  target < 200")
    if redraws:
        print(f"  of which {len(redraws)} redrew the chart (new 15m column): "
              f"{', '.join(f'{x:.0f}' for x in redraws)} ms")


if __name__ == "__main__":
    main()
