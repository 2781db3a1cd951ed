"""Heatmap router on the real-row archive fixtures, in the API app reading the test's database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import duckdb
import pytest
from fastapi.testclient import TestClient

from conftest import VISION
from liqmap.api.app import create_app
from liqmap.api.routers import heatmap
from liqmap.api.state import reading_state
from liqmap.heatmap.ingest import ingest


KLINES_1H = VISION / "futures/um/daily/klines/BTCUSDT/1h"


def _app_on_fixture_db() -> tuple[duckdb.DuckDBPyConnection, TestClient]:
    """Fresh in-memory DB with the December 2025 BTCUSDT klines + metrics, and a client on it."""
    con = duckdb.connect()
    ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION, interval="1h")
    ingest(con, "metrics", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION)
    heatmap.clear_cache()
    return con, TestClient(create_app(reading_state(con)))


def _fixture_hourly_rows() -> list[list[str]]:
    """Every 1h kline row of the fixture CSVs (headerless Binance Vision layout), by open time."""
    rows = []
    for f in sorted(KLINES_1H.glob("BTCUSDT-1h-*")):
        if f.suffix == ".zip":
            with zipfile.ZipFile(f) as z:
                text = z.read(z.namelist()[0]).decode()
        else:
            text = f.read_text()
        rows.extend(r for r in csv.reader(io.StringIO(text)) if r and r[0].isdigit())
    return sorted(rows, key=lambda r: int(r[0]))


@pytest.fixture(scope="module")
def client():
    return _app_on_fixture_db()[1]


def test_timeseries_shape_meta_and_cache(client):
    q = {"symbol": "btcusdt", "time_window": "2d", "interval": "1h"}
    r = client.get("/liquidations/heatmap-timeseries", params=q)
    assert r.status_code == 200 and r.headers["x-cache"] == "miss"
    body = r.json()
    assert set(body) == {"meta", "data"}
    m = body["meta"]
    for k in ("params", "params_version", "validation", "interval", "bin_size", "coverage", "estimate", "note",
              "brackets_as_of"):
        assert k in m
    assert m["params_version"] == "v1" and m["params"]["ladder"] and m["model_step"] == "5m"
    assert m["interval"] == "1h" and len(body["data"]) == 48
    ts = [d["timestamp"] for d in body["data"]]
    assert ts == sorted(ts) and ts[-1] == 1765152000000  # last kline open 2025-12-07 23:00 + 1h
    lv = body["data"][-1]["levels"][0]
    assert set(lv) == {"price", "long", "short"}
    r2 = client.get("/liquidations/heatmap-timeseries", params=q)
    assert r2.headers["x-cache"] == "hit" and r2.content == r.content


def test_start_end_times(client):
    r = client.get("/liquidations/heatmap-timeseries", params={
        "symbol": "BTCUSDT", "start_time": 1764979200000, "end_time": 1765065600000, "interval": "1h"})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 24


@pytest.mark.parametrize("params,reason", [
    ({"symbol": "BTCUSDT", "interval": "2m"}, "interval"),
    ({"symbol": "BTCUSDT", "time_window": "7x"}, "time_window"),
    ({"symbol": "BTCUSDT", "start_time": 5, "end_time": 4}, "after"),
    ({"symbol": "BTCUSDT", "time_window": "1d", "start_time": 5}, "either"),
    ({"symbol": "BTC USDT!"}, "symbol"),
    ({"symbol": "BTCUSDT", "band_pct": 0}, "band_pct"),
])
def test_bad_params_422_with_reason(client, params, reason):
    r = client.get("/liquidations/heatmap-timeseries", params=params)
    assert r.status_code == 422
    assert reason in str(r.json()["detail"])


def test_unknown_symbol_404_lists_known(client):
    r = client.get("/liquidations/heatmap-timeseries", params={"symbol": "XRPUSDT"})
    assert r.status_code == 404
    assert r.json()["detail"]["known_symbols"] == ["BTCUSDT"]


def test_an_underlying_names_its_usdt_perpetual(client):
    """``symbol=BTC`` (the realized endpoints' and the dashboard's spelling) reads BTCUSDT's map:
    the same body as asking for BTCUSDT, and the response names the symbol it resolved to."""
    q = {"time_window": "2d", "interval": "1h"}
    by_base = client.get("/liquidations/heatmap-timeseries", params={"symbol": "btc", **q})
    by_symbol = client.get("/liquidations/heatmap-timeseries", params={"symbol": "BTCUSDT", **q})
    assert by_base.status_code == by_symbol.status_code == 200
    assert by_base.json() == by_symbol.json() and by_base.json()["meta"]["symbol"] == "BTCUSDT"
    assert client.get("/liquidations/heatmap-timeseries", params={"symbol": "ETH", **q}).status_code == 404


def test_klines_and_date_range(client):
    r = client.get("/prices/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 3})
    c = r.json()["data"]
    assert r.json()["count"] == len(c)
    rows = _fixture_hourly_rows()  # independent reference: the CSV rows themselves
    assert [x["open_time"] for x in c] == [int(x[0]) for x in rows[-3:]]
    assert c[-1]["close"] == float(rows[-1][4])
    r = client.get("/prices/klines", params={"symbol": "BTCUSDT", "interval": "4h", "limit": 2})
    last_4h = int(rows[-1][0]) // 14_400_000 * 14_400_000  # UTC-aligned 4 h bucket of the last row
    in_bucket = [x for x in rows if last_4h <= int(x[0]) < last_4h + 14_400_000]
    assert len(in_bucket) == 4
    assert r.json()["data"][-1]["low"] == min(float(x[3]) for x in in_bucket)
    assert client.get("/prices/klines", params={"symbol": "BTCUSDT", "limit": 0}).status_code == 422
    d = client.get("/data/date-range", params={"symbol": "BTCUSDT"}).json()
    assert d["tables"]["klines_1h_history"] == {"start": int(rows[0][0]), "end": int(rows[-1][0]), "rows": len(rows)}
    assert client.get("/data/symbols").json() == {"symbols": ["BTCUSDT"]}


def test_new_rows_invalidate_cache():
    con, c = _app_on_fixture_db()
    q = {"symbol": "BTCUSDT", "start_time": 1764979200000, "end_time": 1765065600000, "interval": "1h"}
    assert c.get("/liquidations/heatmap-timeseries", params=q).headers["x-cache"] == "miss"
    assert c.get("/liquidations/heatmap-timeseries", params=q).headers["x-cache"] == "hit"
    # a REST collector stores one more OI row (same shape as openInterest) -> recomputed
    con.execute("INSERT INTO open_interest_history SELECT symbol, timestamp + 1, sum_open_interest, NULL, NULL, NULL, "
                "NULL, NULL, 'rest_openInterest' FROM open_interest_history ORDER BY timestamp DESC LIMIT 1")
    assert c.get("/liquidations/heatmap-timeseries", params=q).headers["x-cache"] == "miss"
