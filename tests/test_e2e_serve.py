"""End to end: local venue servers speaking the real protocols (real recorded frames)
-> ``liqmap serve`` subprocess in LIVE mode (``--ws-url`` overrides) -> a WebSocket API
client. Every liquidation must arrive once, in order per venue; the HTTP API must
then answer from the same DuckDB the serve process writes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import httpx
from websockets.sync.client import connect

from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation

from conftest import ROOT, free_port, stop_process
from localvenue import LocalWsVenue, Send, binance_forceorder_frames, bitmex_insert_frames
from test_parse_fixtures import T0


class GatedFrames:
    """Frames whose iteration blocks (in the venue server's own thread) until ``gate`` is set,
    so the API client is subscribed before the venue sends anything."""

    def __init__(self, frames, gate: threading.Event):
        self.frames, self.gate = frames, gate

    def __iter__(self):
        self.gate.wait(30)
        return iter(self.frames)


class VenueThread:
    """A LocalWsVenue running in its own event loop thread."""

    def __init__(self, scripts):
        self.scripts = scripts
        self.ready = threading.Event()
        self.stop = None
        self.venue = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        self.stop = asyncio.Event()
        async with LocalWsVenue(self.scripts) as v:
            self.venue = v
            self.loop = asyncio.get_running_loop()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self.venue

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


def expected_ids(venue_name: str, frames: list[str]) -> list[str]:
    v = get_venue(venue_name)
    ids: list[str] = []
    for f in frames:
        for ev in v.parse(f, T0, "e2e"):
            if isinstance(ev, Liquidation) and ev.id not in ids:
                ids.append(ev.id)
    return ids


def test_live_serve_pushes_every_venue_event_once_in_order(tmp_path):
    bn_frames = binance_forceorder_frames()
    bm_frames = bitmex_insert_frames()
    want = {"binance": expected_ids("binance", bn_frames), "bitmex": expected_ids("bitmex", bm_frames)}
    assert len(want["binance"]) == 42 and len(want["bitmex"]) > 100
    gate = threading.Event()
    # one truncated frame mid-stream: counted as a parse error, the feed carries on
    bn_sent = bn_frames[:10] + [bn_frames[10][:40]] + bn_frames[10:]
    with VenueThread([[Send(GatedFrames(bn_sent, gate))]]) as bn, \
            VenueThread([[Send(GatedFrames(bm_frames, gate))]]) as bm:
        port = free_port()
        dead = free_port()  # nothing listens: BitMEX's REST instrument poll fails locally, never online
        proc = subprocess.Popen(
            [sys.executable, "-m", "liqmap", "serve", "--exchanges", "binance,bitmex", "--port", str(port),
             "--db", str(tmp_path / "e2e.duckdb"), "--ws-url", f"binance={bn.url}", "--ws-url", f"bitmex={bm.url}",
             "--rest-url", f"bitmex=http://127.0.0.1:{dead}", "--heatmap-symbols", "none"],  # one socket a venue
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            t0 = time.monotonic()
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() - t0 < 20, "serve did not come up"
                time.sleep(0.1)
            got: dict[str, list[str]] = {"binance": [], "bitmex": []}
            total = sum(len(v) for v in want.values())
            with connect(f"ws://127.0.0.1:{port}/ws/liquidations", open_timeout=5) as ws:
                hello = json.loads(ws.recv(5))
                assert hello["type"] == "hello" and hello["meta"]["mode"] == "live"
                gate.set()
                n = 0
                while n < total:
                    msg = json.loads(ws.recv(15))
                    assert msg["type"] == "liquidation"
                    got[msg["data"]["exchange"]].append(msg["data"]["id"])
                    n += 1
            assert got == want  # complete, in order per venue, no duplicates
            # the same events are queryable over HTTP from the serve process's DuckDB
            deadline = time.monotonic() + 5
            while True:
                st = httpx.get(base + "/liquidations/stats", params={"timeframe": "all"}).json()
                if st["count"] == total or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert st["meta"]["mode"] == "live"
            assert {e["exchange"]: e["count"] for e in st["by_exchange"]} == {k: len(v) for k, v in want.items()}
            health = httpx.get(base + "/exchanges/health").json()
            per = {e["exchange"]: e for e in health["exchanges"]}
            assert per["binance"]["enabled"] and per["binance"]["status"] in ("ok", "stale")
            assert per["okx"]["status"] == "disabled"
            metrics = httpx.get(base + "/metrics").text
            assert f'liqmap_events_ingested_total{{exchange="binance",type="liquidation"}} 42.0' in metrics
            assert 'liqmap_parse_errors_total{exchange="binance"} 1.0' in metrics
        finally:
            stop_process(proc)
