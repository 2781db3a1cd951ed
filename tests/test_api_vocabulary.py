"""Issue #11 item 5: the seed API's calls work as written, one parameter vocabulary (old names as
aliases), the docs and the icon offline. Real data: the December 2025 BTCUSDT klines + metrics
archive fixtures and the real Binance/BitMEX liquidation recordings."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from fastapi.testclient import TestClient

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, VISION, replay_client
from liqmap.api.app import create_app
from liqmap.api.routers import heatmap
from liqmap.api.state import reading_state
from liqmap.heatmap.ingest import ingest
from liqmap.units import CASCADE_MIN_USD


@pytest.fixture(scope="module")
def hm():
    con = duckdb.connect()
    ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION, interval="1h")
    ingest(con, "metrics", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION)
    heatmap.clear_cache()
    with TestClient(create_app(reading_state(con))) as c:
        yield c


@pytest.fixture(scope="module")
def liq(tmp_path_factory):
    with replay_client([BITMEX_INSERTS, BINANCE_FRAMES], tmp_path_factory.mktemp("v") / "v.duckdb") as c:
        yield c


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_heatmap_timeseries_takes_iso_times_and_counts_its_snapshots(hm):
    a = hm.get("/liquidations/heatmap-timeseries", params={
        "symbol": "BTCUSDT", "start_time": "2025-12-06T00:00:00Z", "end_time": "2025-12-07T00:00:00Z",
        "interval": "1h"})
    assert a.status_code == 200, a.text
    b = hm.get("/liquidations/heatmap-timeseries", params={
        "symbol": "BTCUSDT", "start_ms": ms("2025-12-06T00:00:00Z"), "end_ms": str(ms("2025-12-07T00:00:00Z")),
        "interval": "1h"})
    assert b.status_code == 200 and a.json() == b.json()  # ISO == ms, and start_ms/end_ms are aliases
    m = a.json()["meta"]
    assert m["total_snapshots"] == len(a.json()["data"]) == 24
    assert m["start_ms"] == ms("2025-12-06T01:00:00Z") and m["end_ms"] == ms("2025-12-07T00:00:00Z")
    naive = hm.get("/liquidations/heatmap-timeseries", params={  # no zone = UTC; a date alone = midnight
        "symbol": "BTCUSDT", "start_time": "2025-12-06", "end_time": "2025-12-07T00:00:00", "interval": "1h"})
    assert naive.json() == a.json()
    tw = hm.get("/liquidations/heatmap-timeseries", params={"symbol": "BTCUSDT", "timeframe": "1d", "interval": "1h",
                                                             "end_time": "2025-12-07T00:00:00Z"})
    assert tw.json() == a.json()  # timeframe is an alias of time_window
    bad = hm.get("/liquidations/heatmap-timeseries", params={"symbol": "BTCUSDT", "start_time": "last tuesday"})
    assert bad.status_code == 422 and "ISO-8601" in bad.text


def test_klines_shape_and_window(hm):
    r = hm.get("/prices/klines", params={"symbol": "BTCUSDT", "interval": "1h",
                                          "start_time": "2025-12-06T00:00:00Z", "end_time": "2025-12-06T06:00:00Z"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"symbol", "interval", "source", "count", "data"}
    assert body["symbol"] == "BTCUSDT" and body["interval"] == "1h" and body["count"] == len(body["data"]) == 6
    assert [k["open_time"] for k in body["data"]] == [ms("2025-12-06T00:00:00Z") + i * 3_600_000 for i in range(6)]
    assert all(k["low"] <= min(k["open"], k["close"]) <= max(k["open"], k["close"]) <= k["high"] for k in body["data"])
    last = hm.get("/prices/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 3}).json()
    assert last["count"] == 3


def test_realized_endpoints_share_the_vocabulary(liq):
    base = liq.get("/liquidations/stats", params={"symbol": "BTC", "time_window": "all"}).json()
    alias = liq.get("/liquidations/stats", params={"symbol": "BTC", "timeframe": "all"}).json()
    assert base["count"] == alias["count"] > 0 and base["meta"]["time_window"] == "all"
    # BitMEX XBTUSD 2019-11-15: an explicit ISO window selects exactly that day's events
    day = liq.get("/liquidations/stats", params={"symbol": "XBTUSD", "start_time": "2019-11-15",
                                                  "end_time": "2019-11-16"}).json()
    rows = liq.get("/liquidations/recent", params={"symbol": "XBTUSD", "start_time": "2019-11-15",
                                                    "end_time": "2019-11-16", "limit": 1000}).json()["liquidations"]
    assert day["count"] == len(rows) > 0
    assert all(ms("2019-11-15T00:00:00Z") < e["timestamp"] <= ms("2019-11-16T00:00:00Z") for e in rows)
    assert day["meta"]["start_ms"] == ms("2019-11-15T00:00:00Z") and day["meta"]["time_window"] == "custom"
    same = liq.get("/liquidations/stats", params={"symbol": "XBTUSD", "start_ms": ms("2019-11-15T00:00:00Z"),
                                                   "end_ms": ms("2019-11-16T00:00:00Z")}).json()
    assert same["count"] == day["count"]
    hm_ = liq.get("/liquidations/heatmap", params={"symbol": "BTC", "start_time": "2019-11-15", "end_time": "2019-11-16"})
    assert hm_.status_code == 200 and sum(c["count"] for c in hm_.json()["cells"]) == day["count"]
    both = liq.get("/liquidations/stats", params={"time_window": "1h", "start_time": "2019-11-15"})
    assert both.status_code == 422 and "either time_window or start_time" in both.text


def test_cascades_default_threshold_is_the_documented_one(liq):
    m = liq.get("/liquidations/cascades", params={"time_window": "all"}).json()["meta"]
    assert m["min_usd"] == CASCADE_MIN_USD == 100_000


def test_docs_and_favicon_are_served_by_the_app(liq):
    page = liq.get("/docs")
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/") for s in srcs), srcs  # no CDN: every asset is ours
    for s in srcs:
        r = liq.get(s)
        assert r.status_code == 200 and len(r.content) > 100, s
    assert "SwaggerUIBundle" in liq.get("/static/swagger/swagger-ui-bundle.js").text
    fav = liq.get("/favicon.ico")
    assert fav.status_code == 200 and fav.headers["content-type"].startswith("image/")
    assert liq.get("/redoc", follow_redirects=False).headers["location"] == "/docs"


def test_one_price_axis_never_mixes_quote_currencies(tmp_path):
    """Issue #11: BitMEX ADAZ19 (quoted in XBT, ~5e-06) was drawn on the same "ADA price" axis as
    Binance ADAUSDT. The realized heatmap aggregates USD-quoted markets and counts the others."""
    from conftest import PAULIUS

    with replay_client([BITMEX_INSERTS, PAULIUS], tmp_path / "q.duckdb") as c:
        body = c.get("/liquidations/heatmap", params={"symbol": "ADA", "time_window": "all"}).json()
        assert body["other_quotes"] == {"BTC": 7}  # the 7 ADAZ19 inserts of 2019-11 (XBT, stored as BTC)
        assert body["levels"] and min(lv["price"] for lv in body["levels"]) > 0.1  # ADAUSDT, ~0.9-1.0 USD
        assert all(c_["price"] > 0.1 for c_ in body["cells"])
        recent = c.get("/liquidations/recent", params={"symbol": "ADA", "limit": 1000}).json()["liquidations"]
        assert {e["quote"] for e in recent} >= {"BTC", "USDT"}  # both stored; only the axis keeps them apart
