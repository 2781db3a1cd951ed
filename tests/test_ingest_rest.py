"""REST collectors (``liqmap ingest oi`` / ``ingest klines --rest``) against a local HTTP server on
127.0.0.1. Response VALUES are real: hourly BTC OI and price from the CoinGlass fixture
(tests/fixtures/coinglass_btc_hourly), re-written in Binance's REST response shapes (a format
conversion, like tests/fixtures/heatmap/README.md; aggregated multi-venue OI, hourly)."""

from __future__ import annotations

import csv
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import FIX
from liqmap.heatmap.collect import RestError, fetch_klines, fetch_open_interest

HOURLY = FIX / "coinglass_btc_hourly" / "coinglass_BTC_regime_1h_2025-12-04_2026-06-02.csv.gz"


def _rows(n=30):
    with gzip.open(HOURLY, "rt") as fh:
        return list(csv.DictReader(fh))[:n]


class _Venue(BaseHTTPRequestHandler):
    script: list = []  # queued (status, headers) overrides
    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        self.seen.append((u.path, q))
        if self.script:
            status, headers = self.script.pop(0)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(b'{"code":-1003,"msg":"Too many requests"}')
            return
        rows = _rows(int(q.get("limit", 30)))
        if u.path == "/futures/data/openInterestHist":
            body = [{"symbol": q["symbol"], "sumOpenInterest": f"{float(r['oi_close']) / float(r['price_close']):.3f}",
                     "sumOpenInterestValue": r["oi_close"], "timestamp": int(r["timestamp"]) + 3_600_000} for r in rows]
        elif u.path == "/fapi/v1/openInterest":
            r = rows[-1]
            body = {"openInterest": f"{float(r['oi_close']) / float(r['price_close']):.3f}", "symbol": q["symbol"],
                    "time": int(r["timestamp"]) + 3_600_000}
        elif u.path == "/fapi/v1/klines":
            body = [[int(r["timestamp"]), r["price_open"], r["price_high"], r["price_low"], r["price_close"], "0",
                     int(r["timestamp"]) + 3_599_999, "0", 0, "0", "0", "0"] for r in rows]
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-MBX-USED-WEIGHT-1M", "12")
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def venue():
    _Venue.script, _Venue.seen = [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Venue)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_open_interest_hist_and_current_idempotent(venue):
    con = duckdb.connect()
    n = fetch_open_interest(con, "btcusdt", limit=24, base_url=venue)
    assert n == 25
    again = fetch_open_interest(con, "BTCUSDT", limit=24, base_url=venue)
    assert again == 25
    # re-fetching replaces rows at the same timestamps: no duplicates (24 hist rows + the current OI)
    assert con.execute("SELECT count(*), count(DISTINCT timestamp) FROM open_interest_history").fetchone() == (25, 25)
    assert con.execute("SELECT count(*) FROM open_interest_history WHERE source = 'rest_openInterest'").fetchone()[0] == 1
    r0 = _rows(1)[0]
    oi, val = con.execute("SELECT sum_open_interest, sum_open_interest_value FROM open_interest_history "
                          "ORDER BY timestamp LIMIT 1").fetchone()
    assert val == float(r0["oi_close"]) and oi == pytest.approx(val / float(r0["price_close"]), rel=1e-6)
    assert ("/futures/data/openInterestHist", {"symbol": "BTCUSDT", "period": "5m", "limit": "24"}) in _Venue.seen


def test_klines_rest_drops_open_candle_and_replaces(venue):
    con = duckdb.connect()
    rows = _rows(10)
    now = int(rows[-1]["timestamp"]) + 1_000  # last candle still open
    assert fetch_klines(con, "BTCUSDT", "1h", limit=10, base_url=venue, now_ms=now) == 9
    assert fetch_klines(con, "BTCUSDT", "1h", limit=10, base_url=venue, now_ms=now) == 9
    got = con.execute("SELECT open_time, close FROM klines_1h_history ORDER BY 1").fetchall()
    assert got == [(int(r["timestamp"]), float(r["price_close"])) for r in rows[:9]]


def test_rate_limit_retry_after_is_respected(venue):
    _Venue.script = [(429, {"Retry-After": "7"}), (418, {"Retry-After": "2"})]
    waits = []
    con = duckdb.connect()
    assert fetch_klines(con, "BTCUSDT", "1h", limit=3, base_url=venue, sleep=waits.append, now_ms=10**13) == 3
    assert waits == [7.0, 2.0]
    _Venue.script = [(429, {"Retry-After": "1"})] * 4
    with pytest.raises(RestError, match="rate limited"):
        fetch_klines(con, "BTCUSDT", "1h", limit=3, base_url=venue, sleep=waits.append, now_ms=10**13)


def test_cli_ingest_oi_uses_base_url(venue, tmp_path):
    from liqmap.cli import app

    db = tmp_path / "oi.duckdb"
    r = CliRunner().invoke(app, ["ingest", "oi", "--symbol", "BTCUSDT", "--limit", "5", "--base-url", venue, "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert duckdb.connect(str(db)).execute("SELECT count(*) FROM open_interest_history").fetchone()[0] == 6
