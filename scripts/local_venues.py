"""Local Binance, Bybit and OKX on 127.0.0.1 for trying ``liqmap serve``'s live heatmap offline.

Runs the test suite's market server (``tests/market_venues.py``): REAL Binance USD-M BTCUSDT
5-minute klines and open interest of December 2025 in each venue's documented REST and
websocket shapes, times shifted so that the recording's 2025-12-20 00:00 is "now". Bybit and
OKX carry the same Binance values (no recorded Bybit/OKX history exists in the repository).
It answers the REST history ``serve`` warms up from, then, once all three websockets are
connected, moves the market one real 5-minute step every ``--every`` seconds (event time runs
faster than the wall clock; the model steps on its data). BTCUSDT only.

    uv run python scripts/local_venues.py --port 9100 --every 5 &
    uv run liqmap serve -e binance,bybit,okx --heatmap-symbols BTC \\
        --ws-url binance=ws://127.0.0.1:9100 --ws-url bybit=ws://127.0.0.1:9100 --ws-url okx=ws://127.0.0.1:9100 \\
        --rest-url binance=http://127.0.0.1:9100 --rest-url bybit=http://127.0.0.1:9100 --rest-url okx=http://127.0.0.1:9100

Needs the shared data directory (``../shared/data/binance_usdm_5m_2025-12``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from aiohttp import web  # noqa: E402

from market_venues import LiveMarket  # noqa: E402


async def main(port: int, every_s: float, history_days: int, steps: int) -> None:
    market = LiveMarket(int(time.time() * 1000), history_steps=history_days * 288, live_steps=steps)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", market._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"local Binance/Bybit/OKX on http://127.0.0.1:{port} (ws://127.0.0.1:{port}); "
          f"{history_days} days of history before now", flush=True)
    try:
        while not market.connected():
            await asyncio.sleep(0.2)
        print("all three websockets connected; stepping", flush=True)
        for _ in range(steps):
            await asyncio.sleep(every_s)
            if not await market.advance(wait_poll_s=10.0):
                break
            print(f"step {market.k}: market time {market.t}", flush=True)
        print("end of the recorded steps; still answering", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--every", type=float, default=5.0, help="wall seconds per 5-minute market step")
    ap.add_argument("--history-days", type=int, default=3)
    ap.add_argument("--steps", type=int, default=288, help="live steps to play (at most 11 days of December)")
    a = ap.parse_args()
    try:
        asyncio.run(main(a.port, a.every, a.history_days, a.steps))
    except KeyboardInterrupt:
        pass
