"""API benchmarks (plain script; prints figures). Run: ``uv run python benchmarks/bench_api.py``.

1. End-to-end latency, local venue server send -> WS API subscriber receive, at 1k and
   5k events/s. A local websocket server speaks the Binance USD-M combined-stream
   protocol; ``liqmap serve`` runs as a separate process in LIVE mode pointed at it
   (``--ws-url``); a websocket client on ``/ws/liquidations`` receives the events. The
   frames are SYNTHETIC: the 42 real forceOrder events of
   tests/fixtures/binance_forceorder_arbitra cycled with a unique, increasing trade
   time ``T`` so every event has its own id (load test only, not market data).
   The venue server runs in its own process (as a real venue is remote), so the
   client's JSON decoding does not delay the sender; latency = client receive time -
   venue send time, both on the system-wide monotonic clock (time.monotonic_ns).

2. ``GET /liquidations/heatmap`` throughput with ``wrk`` (if installed, else a bounded
   httpx load loop) against ``liqmap serve --replay`` of the real Binance 2025-01/02
   liquidation capture (tests/fixtures/binance_forceorder_datastreams).

Targets: p99 <= 5 ms at 5k events/s; heatmap >= 500 rps with p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
ARBITRA = FIX / "binance_forceorder_arbitra" / "binance_force_orders_ws.jsonl"
PAULIUS = FIX / "binance_forceorder_datastreams" / "PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args: list[str], port: int) -> subprocess.Popen:
    prof = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
    proc = subprocess.Popen([sys.executable, *prof, "-m", "liqmap", "serve", "--port", str(port), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("serve did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30 if os.environ.get("BENCH_PROFILE") else 10)
    except subprocess.TimeoutExpired:
        proc.kill()


def synthetic_frames(n: int, t0: int) -> list[tuple[int, str]]:
    """SYNTHETIC load frames: real forceOrder payloads cycled, ``T``/``E`` = t0 + i (unique ids)."""
    real = [json.loads(line)["msg"] for line in ARBITRA.read_text().splitlines() if line.strip()]
    out = []
    for i in range(n):
        msg = json.loads(json.dumps(real[i % len(real)]))
        msg["E"] = msg["o"]["T"] = t0 + i
        out.append((t0 + i, json.dumps({"stream": "!forceOrder@arr", "data": msg}, separators=(",", ":"))))
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _venue_process(n: int, rate: int, port_q, go, out_q) -> None:
    """Child process: a local Binance-protocol websocket server sending ``n`` SYNTHETIC
    frames at ``rate``/s after ``go`` is set; puts ``{ts: send monotonic_ns}`` on ``out_q``."""

    async def main() -> None:
        frames = synthetic_frames(n, 1_700_000_000_000)
        sent_at: dict[int, int] = {}
        finished = asyncio.Event()

        async def handler(ws):
            while not go.is_set():
                await asyncio.sleep(0.005)
            start = time.perf_counter()
            i = 0
            while i < n:
                due = int((time.perf_counter() - start) * rate) + 1
                while i < min(due, n):
                    ts, text = frames[i]
                    sent_at[ts] = time.monotonic_ns()
                    await ws.send(text)
                    i += 1
                await asyncio.sleep(0.001)
            finished.set()
            await ws.wait_closed()

        async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            port_q.put(server.sockets[0].getsockname()[1])
            await finished.wait()
            out_q.put(sent_at)
            await asyncio.sleep(0.5)

    asyncio.run(main())


async def latency_run(rate: int, seconds: float, tmp: str, batch: bool = False) -> dict:
    import multiprocessing as mp

    n = int(rate * seconds)
    ctx = mp.get_context("spawn")
    port_q, out_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    venue = ctx.Process(target=_venue_process, args=(n, rate, port_q, go, out_q), daemon=True)
    venue.start()
    vport = await asyncio.to_thread(port_q.get, True, 30)
    port = free_port()
    proc = await asyncio.to_thread(start_serve, ["--exchanges", "binance", "--db", os.path.join(tmp, f"lat{rate}.duckdb"),
                                                 "--ws-url", f"binance=ws://127.0.0.1:{vport}"], port)
    recv_at: dict[int, int] = {}
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/liquidations?queue_size=100000&batch=" + ("true" if batch else "false"),
                                      max_queue=None) as client:
            json.loads(await client.recv())  # hello
            go.set()
            while len(recv_at) < n:
                try:
                    raw = await asyncio.wait_for(client.recv(), 10)
                except asyncio.TimeoutError:
                    break
                now = time.monotonic_ns()
                msg = json.loads(raw)
                for m in (msg["messages"] if msg["type"] == "batch" else [msg]):
                    recv_at[m["data"]["timestamp"]] = now
        sent_at = await asyncio.to_thread(out_q.get, True, 30)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        dropped = re.search(r"^liqmap_ws_dropped_messages_total (\S+)$", metrics, re.M)
    finally:
        stop(proc)
        venue.terminate()
    lat = [(recv_at[ts] - sent_at[ts]) / 1e6 for ts in recv_at if ts in sent_at]
    return {"batch": batch, "rate": rate, "sent": n, "received": len(lat), "p50_ms": pct(lat, 0.5) if lat else None,
            "p99_ms": pct(lat, 0.99) if lat else None, "max_ms": max(lat) if lat else None,
            "mean_ms": statistics.fmean(lat) if lat else None,
            "dropped": float(dropped.group(1)) if dropped else None}


def heatmap_load(tmp: str, seconds: int, conns: int) -> dict:
    port = free_port()
    proc = start_serve(["--replay", str(PAULIUS), "--db", os.path.join(tmp, "hm.duckdb")], port)
    url = f"http://127.0.0.1:{port}/liquidations/heatmap?symbol=BTCUSDT&timeframe=30d"
    try:
        t0 = time.monotonic()
        while not httpx.get(f"http://127.0.0.1:{port}/health").json()["pipeline"]["source_finished"]:
            if time.monotonic() - t0 > 60:
                raise SystemExit("replay did not finish")
            time.sleep(0.2)
        resp = httpx.get(url)
        if resp.status_code != 200:
            raise SystemExit(f"heatmap answered {resp.status_code}: {resp.text[:300]}")
        cells = len(resp.json()["cells"])
        if shutil.which("wrk"):
            out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", url],
                                 capture_output=True, text=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
            p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
            conv = {"us": 0.001, "ms": 1.0, "s": 1000.0}
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            return {"tool": "wrk", "rps": rps, "p50_ms": float(p50.group(1)) * conv[p50.group(2)],
                    "p99_ms": float(p99.group(1)) * conv[p99.group(2)], "cells": cells,
                    "non_2xx": int(errors.group(1)) if errors else 0}
        # fallback: bounded httpx load loop
        lat: list[float] = []

        async def worker(client, stop_at):
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                resp = await client.get(url)
                resp.raise_for_status()
                lat.append((time.perf_counter() - t) * 1000)

        async def run():
            async with httpx.AsyncClient() as client:
                stop_at = time.monotonic() + seconds
                await asyncio.gather(*(worker(client, stop_at) for _ in range(conns)))

        asyncio.run(run())
        return {"tool": "httpx", "rps": len(lat) / seconds, "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
                "cells": cells}
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each latency run")
    ap.add_argument("--rates", default="1000,5000")
    ap.add_argument("--load-seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=16)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("== end-to-end latency: local venue send -> liqmap serve (live) -> WS API client ==")
        modes = (os.environ.get("BENCH_PROFILE_BATCH", "1") == "1",) if os.environ.get("BENCH_PROFILE") else (False, True)
        for rate, batch in [(int(x), b) for x in a.rates.split(",") for b in modes]:
            r = asyncio.run(latency_run(rate, a.seconds, tmp, batch))
            print(f"  {r['rate']:>5}/s {'batch=true ' if batch else 'per-event  '} sent {r['sent']}  received {r['received']}  "
                  f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  max {r['max_ms']:.1f} ms  "
                  f"mean {r['mean_ms']:.2f} ms  ws-dropped {r['dropped']}")
        print("== GET /liquidations/heatmap?symbol=BTCUSDT&timeframe=30d (real Binance 2025-01/02 replay) ==")
        h = heatmap_load(tmp, a.load_seconds, a.conns)
        print(f"  {h['tool']}: {h['rps']:.0f} req/s  p50 {h['p50_ms']:.2f} ms  p99 {h['p99_ms']:.2f} ms  "
              f"({h['cells']} cells, {a.conns} connections, non-2xx {h.get('non_2xx', 0)})")


if __name__ == "__main__":
    main()
