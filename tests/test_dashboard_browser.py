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

from conftest import BINANCE_FRAMES, ROOT, browser_page, free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqmap", "serve", "--replay", str(BINANCE_FRAMES), "--speed", "2",
         "--port", str(port), "--db", str(tmp_path / "b.duckdb")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        if proc.poll() is not None:
            pytest.fail(f"serve exited: {proc.stdout.read()}")
        try:
            if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("serve did not come up")
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
