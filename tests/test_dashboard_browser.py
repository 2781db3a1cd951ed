"""Dashboard in a real headless Chromium (Debian /usr/bin/chromium, no browser download).

Starts ``liqmap serve --replay <real Binance forceOrder capture> --speed 2`` as a
subprocess on 127.0.0.1 and checks the empty states of a database without price history,
the REPLAY badge, and that liquidations arrive live in the feed over the websocket.
Saves artifacts/dashboard.png.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, ROOT, browser_page, free_port, stop_process

pytestmark = pytest.mark.browser


def start_serve(args: list[str], tmp_path, ready=lambda base: httpx.get(base + "/health", timeout=0.5).status_code == 200,
                env: dict | None = None, timeout_s: float = 20.0):
    """``liqmap serve ARGS`` on a free port (a subprocess); yields its base URL once ``ready(base)``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", *args, "--port", str(port),
                             "--db", str(tmp_path / "b.duckdb")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            pytest.fail(f"serve exited: {proc.stdout.read()}")
        try:
            if ready(base):
                break
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("serve did not come up")
    yield base
    stop_process(proc)


@pytest.fixture
def served(tmp_path):
    yield from start_serve(["--replay", str(BINANCE_FRAMES), "--speed", "2"], tmp_path)


def test_dashboard_renders_empty_states_and_live_feed(served):
    """A replay of liquidations only (no price history): the chart says what is missing and how to
    get it; liquidations arrive live in the feed over the websocket."""
    with browser_page({"width": 1500, "height": 1000}) as (page, errors):
        page.goto(served + "/")
        page.wait_for_selector("#mode-badge:not(.hidden)", timeout=10_000)
        assert page.inner_text("#mode-badge") == "REPLAY"
        page.check("#feed-all")  # every market, not only the selected symbol's
        # live events pushed over the websocket appear at the top of the feed
        page.wait_for_function("document.querySelectorAll('#feed li.feed-row.fresh').length >= 3", timeout=30_000)
        fresh = page.locator("#feed li.feed-row.fresh")
        assert fresh.count() >= 3
        first = fresh.first
        assert first.get_attribute("data-exchange") == "binance"
        assert "long" in first.get_attribute("class") or "short" in first.get_attribute("class")
        # size tiers use the server's thresholds (/health meta), not copies in the page
        tiers = page.eval_on_selector_all("#feed li.feed-row", "els => els.map(e => [Number(e.dataset.usd), e.className])")
        assert any(usd >= 10_000 for usd, _ in tiers), "the capture has large-size events"
        for usd, cls in tiers:
            want = "tier-institutional" if usd >= 100_000 else "tier-large" if usd >= 10_000 else "tier-retail"
            assert want in cls.split(), (usd, cls)
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        # no price history in this database: the chart explains instead of drawing empty axes
        notes = page.evaluate("() => (document.getElementById('chart').layout.annotations || []).map((a) => a.text)")
        assert any("No price history" in n and "liqmap download" in n for n in notes), notes
        assert page.evaluate("() => document.getElementById('chart').dataset.bubbles") != "0"  # BTC events drawn
        page.wait_for_function("document.querySelectorAll('#health tbody tr').length >= 1", timeout=10_000)
        page.wait_for_timeout(1000)
        (ROOT / "artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "artifacts" / "dashboard.png"), full_page=True)
        assert not errors, errors


@pytest.fixture
def served_market(tmp_path):
    """``serve --replay`` of the cryptofeed sample sessions (real tickers of 8 venues, recorded
    months apart, hence a five-year market stale window) plus real BitMEX 2019 liquidations."""
    import os

    env = dict(os.environ, LIQMAP_MARKET_STALE_S=str(5 * 365 * 86_400))
    yield from start_serve(["--replay", str(ROOT / "tests/fixtures/cryptofeed_sample_data"), str(BITMEX_INSERTS),
                            "--heatmap-symbols", "none"], tmp_path,
                           ready=lambda base: bool(httpx.get(base + "/market/tickers", timeout=0.5).json()["data"]),
                           env=env, timeout_s=30.0)


def test_cross_exchange_panel_shows_the_view_pushed_over_the_websocket(served_market):
    """ETH/USD: one table row per venue with the API's numbers, pushed by /ws/market; the whale tape
    holds the replayed BitMEX ETH liquidations."""
    api = httpx.get(served_market + "/market/ticker", params={"symbol": "ETHUSD"}).json()["data"]
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
        page.goto(served_market + "/?symbol=ETH")
        page.wait_for_function("window.liqmapMarketPushes >= 1", timeout=20_000)
        assert page.inner_text("#xv-title") == "ETH/USD"
        rows = page.locator("#xv-table tbody tr")
        assert rows.count() == len(api["exchanges_data"])
        first = rows.nth(0).inner_text()
        top = sorted(api["exchanges_data"].values(), key=lambda s: (s["stale"], -(s["volume_24h_usd"] or 0)))[0]
        assert first.startswith(top["exchange"]) and f"{top['price']:,.1f}" in first
        assert "max spread " + f"{api['max_spread_bps']:.1f}" + " bps" in page.inner_text("#xv-summary")
        page.wait_for_selector("#xv-whales li.liq", timeout=10_000)
        assert "LIQ" in page.inner_text("#xv-whales")
        (ROOT / "artifacts").mkdir(exist_ok=True)
        page.locator("#cross-exchange").screenshot(path=str(ROOT / "artifacts" / "cross-exchange.png"))
        assert not errors, errors
