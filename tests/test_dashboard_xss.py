"""Stored XSS (issue #12 item 5): venue strings are rendered as text everywhere in the
dashboard. The plausibility gate rejects such symbols now, but a database written before
it (or by hand) may hold them: here real Binance events (the arbitra capture) plus two rows
whose symbol and underlying are HTML that runs script when parsed as HTML. ``liqmap serve``
replays the same real capture into that database and the page is loaded in headless Chromium:
the strings appear verbatim as text, no element is created from them, no script runs."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from conftest import BINANCE_FRAMES, browser_page, db_with_rows, load_liquidations, serve_process

pytestmark = pytest.mark.browser

HOSTILE_BASE = '<img src=x onerror="document.body.dataset.xss=1">'
HOSTILE_SYMBOL = "<svg onload=document.body.dataset.xss=2>USDT"


def hostile_db(path) -> None:
    events = load_liquidations(BINANCE_FRAMES)
    newest = max(events, key=lambda e: e.timestamp)
    bad = [msgspec.structs.replace(newest, id="xss-1", base=HOSTILE_BASE, symbol=HOSTILE_BASE + "USDT"),
           msgspec.structs.replace(newest, id="xss-2", base="SVG", symbol=HOSTILE_SYMBOL)]
    db_with_rows(path, events, bad).close()


@pytest.fixture
def served(tmp_path):
    db = tmp_path / "x.duckdb"
    hostile_db(db)
    with serve_process(db, "--replay", str(BINANCE_FRAMES)) as base:
        yield base


def test_venue_strings_are_text_in_the_dashboard(served):
    recent = httpx.get(served + "/liquidations/recent", params={"limit": 100}).json()["liquidations"]
    assert {HOSTILE_BASE + "USDT", HOSTILE_SYMBOL} <= {e["symbol"] for e in recent}  # the API serves them
    with browser_page({"width": 1500, "height": 1000}) as (page, errors):
        page.goto(served + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        page.check("#feed-all")  # every market: the hostile rows are in the feed
        page.wait_for_function("document.querySelectorAll('#feed li.feed-row').length >= 44", timeout=15_000)
        cells = page.eval_on_selector_all("#feed li.feed-row span", "els => els.map(e => e.textContent)")
        assert HOSTILE_BASE + "USDT" in cells and HOSTILE_SYMBOL in cells  # shown verbatim, as text
        options = page.eval_on_selector_all("#symbols option", "els => els.map(e => e.value)")
        assert HOSTILE_BASE in options  # the symbol picker lists it as a value, not markup
        page.wait_for_timeout(500)  # an injected element would have loaded/failed by now
        assert page.evaluate("() => document.body.dataset.xss") is None, "script from a stored symbol ran"
        assert page.evaluate("() => document.querySelectorAll('img, svg[onload], [onerror]').length") == 0
        assert not errors, errors
