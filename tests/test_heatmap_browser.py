"""Heatmap page in a real headless Chromium (Debian /usr/bin/chromium, no browser download).

Serves the api app (liqmap.api.app.create_app) with uvicorn on 127.0.0.1, the heatmap DB
dependency overridden with a DuckDB built from the real-row archive fixtures, and checks
that /static/heatmap.html draws a heatmap trace with non-empty cells plus candles.
Saves artifacts/heatmap.png.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import duckdb
import pytest

from conftest import ROOT, VISION, browser_page, free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path):
    import uvicorn

    from liqmap.api.app import create_app
    from liqmap.api.routers import heatmap
    from liqmap.api.state import open_readonly_state
    from liqmap.heatmap.ingest import ingest

    db = str(tmp_path / "h.duckdb")
    con = duckdb.connect(db)
    ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION, interval="1h")
    ingest(con, "metrics", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION)
    con.close()
    state = open_readonly_state(db)  # the api app's own state on the same DuckDB file
    app = create_app(state)
    heatmap.clear_cache()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not server.started and time.monotonic() - t0 < 15:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    th.join(10)


def test_heatmap_page_renders(served):
    """A database holding only price history (December 2025, no liquidations): the page opens on
    BTCUSDT, its window ends where the history ends, and it draws levels behind the candles."""
    with browser_page({"width": 1400, "height": 900}) as (page, errors):
        page.goto(served + "/static/heatmap.html?symbol=BTCUSDT&window=3d&interval=1h")
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        info = page.evaluate("""() => {
            const el = document.getElementById('chart');
            return {types: el.data.map((t) => t.type), levels: Number(el.dataset.levels),
                    candles: Number(el.dataset.candles), note: document.getElementById('note').textContent,
                    status: document.getElementById('status').textContent};
        }""")
        assert info["types"][:2] == ["heatmap", "candlestick"]
        assert info["levels"] > 100 and info["candles"] >= 48
        assert "ESTIMATE" in info["note"] and "columns of 1h" in info["status"]
        assert page.input_value("#symbol") == "BTCUSDT"
        (ROOT / "artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "artifacts" / "heatmap.png"))
        assert not errors, errors
