"""Issue #11 acceptance, in a real headless Chromium on ``liqmap demo`` (the README's first command,
run as a user runs it: a subprocess, package data only, its own temporary database):

* the main page opens on BTC with non-empty candles, predicted levels and realized liquidation
  bubbles, the liquidation map beside them, the sources named and the loop marked;
* "Predicted levels" opens on BTCUSDT with a real map;
* ``/docs`` renders with every request outside the app blocked (offline);
* no console error on any page.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from conftest import ROOT, browser_page

sys.path.insert(0, str(ROOT / "scripts"))
from demo_process import start_demo, stop  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    proc, base = start_demo(cwd=tmp, env={**os.environ, "TMPDIR": str(tmp)})
    yield base
    stop(proc)


def _console_errors(page) -> list[str]:
    errs: list[str] = []
    page.on("console", lambda m: errs.append(m.text) if m.type == "error" else None)
    return errs


def _unregistered_traces(page, ids) -> list[str]:
    """Traces on the plots ``ids`` whose type the vendored plotly.js partial bundle does not
    register (scripts/plotly_bundle: plotly would leave them blank, without an error)."""
    return page.evaluate("""(ids) => { const known = Object.keys(Plotly.PlotSchema.get().traces);
        return ids.flatMap((id) => (document.getElementById(id).data || []).map((t) => t.type || 'scatter')
                  .filter((t) => !known.includes(t)).map((t) => id + ': ' + t)); }""", ids)


def test_main_page_opens_on_btc_with_a_real_map(demo):
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
        console = _console_errors(page)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url[len(demo):]))
        page.goto(demo + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        assert page.input_value("#symbol") == "BTC"
        # the pickers' requests are preloaded while the page is parsed, and the script uses those answers
        for path in ("/liquidations/symbols", "/data/symbols", "/exchanges"):
            assert asked.count(path) == 1, (path, asked)
            assert page.evaluate("(p) => performance.getEntriesByName(location.origin + p)[0].initiatorType", path) == "link"
        chart = page.evaluate("""() => { const el = document.getElementById('chart');
            return {candles: +el.dataset.candles, levels: +el.dataset.levels, bubbles: +el.dataset.bubbles,
                    types: el.data.map((t) => t.type), notes: (el.layout.annotations || []).map((a) => a.text),
                    range: el.layout.xaxis.range.map(String)}; }""")
        assert chart["candles"] >= 150, chart  # 2 days of 15-minute candles of Binance BTCUSDT, December 2025
        assert chart["levels"] > 1000, chart  # the model's predicted levels behind them
        assert chart["bubbles"] >= 2, chart  # realized BTCUSDT liquidations of 2025-12-27/28
        assert chart["types"][:2] == ["heatmap", "candlestick"] and "scatter" in chart["types"]
        assert "bar" in chart["types"]  # the realized strip (CoinGlass hourly, labelled)
        assert all("No " not in n for n in chart["notes"] if "price history ends" not in n), chart["notes"]
        assert "2025" in chart["range"][0] and "1970" not in chart["range"][0]
        assert int(page.evaluate("document.getElementById('liqmap').dataset.rendered")) > 20  # the liquidation map
        tiers = page.evaluate("document.getElementById('liqmap').data.filter((t) => t.type === 'bar').map((t) => t.name)")
        assert tiers == ["25x", "50x", "100x"]
        note = page.inner_text("#source-note")
        assert "Replay of real recorded exchange data" in note and "CoinGlass" in note and "Binance" in note
        assert page.is_visible("#loop-badge") and page.inner_text("#loop-badge").startswith("LOOP ")
        assert page.locator("#feed li.feed-row").count() > 0
        assert _unregistered_traces(page, ["chart", "liqmap", "split"]) == []
        # the loop keeps the feed moving: replayed events arrive over the websocket
        page.wait_for_function("(window.liqmapFeedCount || 0) >= 1", timeout=30_000)
        assert not errors and not console, (errors, console)


def test_a_symbol_without_price_history_still_reads_right(demo):
    """ETH has realized liquidations in the demo but no klines: its bubbles sit inside a padded
    price axis whose ticks are distinct, the empty note does not cover them, the legend names each
    thing once, the feed's times carry the year; the Predicted levels page says when it cannot
    show the asked symbol instead of silently drawing another."""
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
        console = _console_errors(page)
        page.goto(demo + "/?symbol=ETH")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        c = page.evaluate("""() => { const el = document.getElementById('chart'), fl = el._fullLayout;
            const ys = el.data.filter((t) => t.type === 'scatter').flatMap((t) => t.y);
            return {ys, range: fl.yaxis.range, ticks: fl.yaxis._vals.map((v) => v.text),
                    names: el.data.map((t) => t.name), notes: fl.annotations.map((a) => [a.text, a.y, a.yanchor])}; }""")
        assert len(c["ys"]) >= 2 and c["range"][0] < min(c["ys"]) < max(c["ys"]) < c["range"][1], c
        assert len(set(c["ticks"])) == len(c["ticks"]) >= 3, c["ticks"]
        assert len(set(c["names"])) == len(c["names"]), c["names"]
        note = [n for n in c["notes"] if n[0].startswith("No price history for ETH")]
        assert note and note[0][1] > 0.9 and note[0][2] == "top", c["notes"]  # above the bubbles
        first = page.inner_text("#feed li.feed-row span")
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", first), first
        page.goto(demo + "/static/heatmap.html?symbol=ETHUSDT")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        assert "ETHUSDT has no price history" in page.inner_text("#source-note")
        assert page.input_value("#symbol") == "BTCUSDT"
        assert not errors and not console, (errors, console)


@pytest.mark.parametrize("width", [1280, 1920])
def test_layout_fits_and_rows_name_their_recording(demo, width):
    """At 1280 and 1920 px: the header is one line (the 14 venues sit in a drop-down, not a row
    of checkboxes), the cross-exchange empty sentence wraps inside its panel; the feed names the
    recording of each run of rows (the newest capture's 2025-12 rows, then 2025-01's), and the
    venue menu filters every panel."""
    with browser_page({"width": width, "height": 900}) as (page, errors):
        console = _console_errors(page)
        page.goto(demo + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        page.wait_for_selector("#xv-table td.empty", timeout=10_000)
        geo = page.evaluate("""() => { const r = (s) => document.querySelector(s).getBoundingClientRect();
            const wrap = document.querySelector('.xv-table-wrap');
            return {header: r('header').height, brand: r('.brand').top, menu: r('#exchange-menu').top,
                    nav: r('nav').top, wrapScroll: wrap.scrollWidth, wrapWidth: wrap.clientWidth,
                    docScroll: document.documentElement.scrollWidth, docWidth: window.innerWidth}; }""")
        assert geo["header"] < 50 and abs(geo["menu"] - geo["brand"]) < 12 and abs(geo["nav"] - geo["brand"]) < 12, geo
        assert geo["wrapScroll"] <= geo["wrapWidth"] and geo["docScroll"] <= geo["docWidth"], geo
        feed = page.eval_on_selector_all("#feed > li", "els => els.map((e) => [e.className, e.textContent])")
        seps = [t for c, t in feed if c == "rec-sep"]
        assert feed[0][0] == "rec-sep" and "riftfern" in feed[0][1] and "2025-12-27" in feed[0][1], feed[:3]
        assert any("PauliusMinialga" in t for t in seps), seps
        for i, (c, t) in enumerate(feed):  # each row sits under the heading of its own recording
            if c.startswith("feed-row"):
                head = next(t2 for c2, t2 in reversed(feed[:i]) if c2 == "rec-sep")
                assert t[:4] in head, (t, head)
        assert page.locator("#exchange-picker input").count() >= 14 and not page.is_visible("#exchange-picker")
        page.click("#exchange-menu summary")
        assert page.is_visible("#exchange-picker")
        menu = page.evaluate("() => document.querySelector('#exchange-menu .menu').getBoundingClientRect().right")
        assert menu <= width, menu
        page.click("#exchange-menu button[data-pick=none]")
        assert page.inner_text("#exchange-count") == "none: tick one"
        page.click("#exchange-picker input[value=bitmex]")
        assert page.inner_text("#exchange-count") == "bitmex"
        page.check("#feed-all")
        page.wait_for_function("""() => { const r = [...document.querySelectorAll('#feed li.feed-row')];
            return r.length && r.every((li) => li.dataset.exchange === 'bitmex'); }""", timeout=10_000)
        assert "BitMEX" in page.inner_text("#feed li.rec-sep")
        page.click("h2")  # a click elsewhere closes the menu
        assert not page.is_visible("#exchange-picker")
        assert not errors and not console, (errors, console)


def test_predicted_levels_opens_on_btcusdt(demo):
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
        console = _console_errors(page)
        page.goto(demo + "/static/heatmap.html")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        assert page.input_value("#symbol") == "BTCUSDT"
        c = page.evaluate("""() => { const el = document.getElementById('chart');
            return {candles: +el.dataset.candles, levels: +el.dataset.levels, bubbles: +el.dataset.bubbles}; }""")
        assert c["candles"] >= 150 and c["levels"] > 1000 and c["bubbles"] >= 2, c
        assert "ESTIMATE" in page.inner_text("#note") and "v1" in page.inner_text("#note")
        assert "Binance USD-M BTCUSDT" in page.inner_text("#source-note")
        assert _unregistered_traces(page, ["chart", "liqmap"]) == []
        assert not errors and not console, (errors, console)


def test_docs_render_offline(demo):
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
        console = _console_errors(page)
        blocked: list[str] = []

        def only_the_app(route):
            if route.request.url.startswith(demo):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_app)
        page.goto(demo + "/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        assert page.locator(".swagger-ui .opblock").count() >= 15
        assert "liqmap" in page.inner_text(".swagger-ui .info")
        assert blocked == [], blocked
        assert not errors and not console, (errors, console)
