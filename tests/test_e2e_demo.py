"""``liqmap demo``: the README's first command. It must come up in seconds, offline, from the
recordings shipped inside the package, and show liquidations of several venues."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from conftest import free_port


def test_demo_comes_up_with_several_venues(tmp_path):
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "demo", "--port", str(port), "--db",
                             str(tmp_path / "demo.duckdb")], cwd=tmp_path,  # not the repo: package data only
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        venues: dict[str, int] = {}
        while time.monotonic() - t0 < 25:
            assert proc.poll() is None, proc.stdout.read()
            try:
                st = httpx.get(base + "/liquidations/stats", params={"timeframe": "all"}, timeout=1).json()
                venues = {e["exchange"]: e["count"] for e in st["by_exchange"]}
                if len(venues) >= 2 and sum(venues.values()) > 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        assert len(venues) >= 2, venues
        assert {"bitmex", "binance", "hyperliquid"} <= set(venues)
        assert elapsed < 25
        assert st["meta"]["mode"] == "replay"
        page = httpx.get(base + "/").text
        assert "REPLAY" in page and "Predicted levels" in page
        # the demo seeds real Binance BTCUSDT history, so the model has a map to draw at once
        assert "BTCUSDT" in httpx.get(base + "/data/symbols").json()["symbols"]
        # the newest hour plays again, marked as a loop: the replay of every recording comes
        # first, so on a loaded machine the first round may start after the 200th event
        while st["meta"]["loop"]["round"] < 1 and time.monotonic() - t0 < 90:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
            st = httpx.get(base + "/liquidations/stats", params={"timeframe": "all"}, timeout=5).json()
        assert st["meta"]["loop"]["round"] >= 1, st["meta"]["loop"]
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out = ""
    assert f"http://127.0.0.1:{port}/" in out  # prints the dashboard URL
