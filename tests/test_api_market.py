"""``/market/*``, ``/exchanges/best`` and ``/ws/market`` of a serve process replaying REAL
recorded ticker/book/trade frames (the cryptofeed sample sessions of tests/fixtures: Binance
USD-M and COIN-M, BitMEX, OKX, Bybit, Bitget, Deribit, Kraken Futures).

The sessions were recorded hours to months apart, so the app runs with a market stale window of
five years (``LIQMAP_MARKET_STALE_S``): every venue's last quote counts and the arithmetic is
checked on real values. BCH in the USD family (COIN-M BCHUSD_PERP + BitMEX BCHUSD) is recomputed
from the raw frames (``test_analytics_cross_exchange.expected_bch``)."""

from __future__ import annotations

import json
import time

import duckdb
import pytest
from conftest import FIX, wait_finished
from test_analytics_cross_exchange import expected_bch

from liqmap.settings import Settings

SESSIONS = sorted((FIX / "cryptofeed_sample_data").iterdir())
FIVE_YEARS_S = 5 * 365 * 86_400


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.serve.server import build_replay_state

    db = tmp_path_factory.mktemp("market") / "m.duckdb"
    # whale_usd 20k: trades of the recorded sessions reach the tape (the 1M default keeps it empty here)
    state = build_replay_state([str(p) for p in SESSIONS], str(db),
                               settings=Settings(market_stale_s=FIVE_YEARS_S, whale_usd=20_000))
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        deadline = time.monotonic() + 10
        while state.market.view.board.dirty and time.monotonic() < deadline:
            time.sleep(0.05)  # the market clock's refresh of the last quotes (every 0.25 s)
        time.sleep(0.3)
        c.db = db
        c.state = state
        yield c


def test_bch_usd_view_recomputed_from_the_frames(client):
    x = expected_bch()
    c_bid, c_ask, _, _ = x["coinm"]
    m_bid, m_ask = x["bitmex"]
    r = client.get("/market/ticker", params={"symbol": "BCHUSD"})
    assert r.status_code == 200
    d = r.json()["data"]
    p1, p2 = (c_bid + c_ask) / 2, (m_bid + m_ask) / 2
    agg = (p1 + p2) / 2  # COIN-M reports no 24 h volume here: equal weights
    assert (d["base"], d["quote_family"], d["venues"], d["weighting"]) == ("BCH", "USD", 2, "equal")
    assert d["aggregated_price"] == pytest.approx(agg, rel=1e-12)
    assert d["max_spread_bps"] == pytest.approx(abs(p2 - p1) / agg * 1e4, rel=1e-9)
    assert d["volume_total"] == pytest.approx(x["inst"]["foreignNotional24h"])
    assert set(d["exchanges_data"]) == {"binance_coinm", "bitmex"}
    (op,) = d["arbitrage_opportunities"]  # buy COIN-M's ask, sell BitMEX's bid, net of 5 + 7.5 bps
    gross = (m_bid - c_ask) / ((m_bid + c_ask) / 2) * 1e4
    assert (op["buy_exchange"], op["sell_exchange"]) == ("binance_coinm", "bitmex")
    assert op["net_bps"] == pytest.approx(gross - 12.5)
    # the same numbers as funding / open interest views
    f = client.get("/market/funding", params={"symbol": "BCHUSD"}).json()["data"]
    bitmex = next(v for v in f["venues"] if v["exchange"] == "bitmex")
    assert bitmex["funding_rate"] == x["inst"]["fundingRate"] and bitmex["stale"] is False
    oi = client.get("/market/open-interest", params={"symbol": "BCHUSD"}).json()["data"]
    assert oi["open_interest_total_usd"] == pytest.approx(sum(v["open_interest_usd"] or 0 for v in oi["venues"]))


def test_tickers_list_every_group_and_quote_families_stay_apart(client):
    rows = client.get("/market/tickers").json()["data"]
    groups = {(r["base"], r["quote_family"]) for r in rows}
    assert {("BCH", "USD"), ("BCH", "USDT"), ("UNI", "USD"), ("UNI", "USDT")} <= groups
    usdt = client.get("/market/ticker", params={"symbol": "UNIUSDT"}).json()["data"]
    usd = client.get("/market/ticker", params={"symbol": "UNI-USD"}).json()["data"]
    assert {"bitmex", "bybit", "bitget"} <= set(usdt["exchanges_data"]) and set(usd["exchanges_data"]) == {"okx"}


def test_arbitrage_is_stored_and_the_endpoint_answers_what_duckdb_holds(client):
    live = client.get("/market/arbitrage").json()
    assert live["data"] and all(o["open"] for o in live["data"])
    for o in live["data"]:
        assert o["net_bps"] == pytest.approx(o["gross_bps"] - o["fees_bps"])
        fees = live["meta"]["fees_bps"]
        assert o["fees_bps"] == pytest.approx(fees[o["buy_exchange"]] + fees[o["sell_exchange"]])
    every = client.get("/market/arbitrage", params={"status": "all", "time_window": "all", "limit": 1000}).json()["data"]
    deadline = time.monotonic() + 10
    while True:  # the last opportunities reach DuckDB with the next commit (<= 0.25 s)
        with client.state.cursor() as cur:
            stored = {r[0]: r[1] for r in cur.execute("SELECT id, is_open FROM arbitrage_opportunities").fetchall()}
        if set(stored) >= {o["id"] for o in every} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stored and set(stored) == {o["id"] for o in every}
    assert {o["id"]: o["open"] for o in every} == stored
    bch = client.get("/market/arbitrage", params={"symbol": "BCHUSD", "status": "all", "time_window": "all"}).json()
    assert {o["base"] for o in bch["data"]} == {"BCH"}


def test_bad_parameters_are_422_with_the_reason_and_unknown_symbols_404(client):
    r = client.get("/market/ticker", params={"symbol": "!!"})
    assert r.status_code == 422 and "symbol" in r.json()["detail"]
    r = client.get("/market/ticker", params={"symbol": "ZZZUSDT"})
    assert r.status_code == 404 and "BCH/USD" in r.json()["detail"]
    r = client.get("/exchanges/best", params={"feature": "astrology"})
    assert r.status_code == 422 and "liquidations" in r.json()["detail"]
    assert client.get("/market/arbitrage", params={"status": "maybe"}).status_code == 422
    assert client.get("/market/arbitrage", params={"time_window": "forever"}).status_code == 422
    assert client.get("/market/whales", params={"min_value_usd": -1}).status_code == 422
    assert client.get("/market/ticker", params={"symbol": "X" * 65}).status_code == 422
    r = client.get("/market/ticker/history", params={"exchange": "bitmex", "symbol": "XBTUSD", "time_window": "2d"})
    assert r.status_code == 422 and "1d" in r.json()["detail"]


def test_best_exchange_and_health_in_a_replay_name_no_live_venue(client):
    b = client.get("/exchanges/best", params={"feature": "ticker"}).json()
    assert (b["feature"], b["exchange"], b["ranking"]) == ("tickers", None, [])
    h = client.get("/market/health").json()
    assert h["venues"] == [] and h["features"]["liquidations"]["exchange"] is None
    assert h["view"]["tickers"] > 0 and h["view"]["groups"] == len(client.get("/market/tickers").json()["data"])


def test_ticker_history_reads_the_stored_per_second_samples(client):
    x = expected_bch()
    m_bid, m_ask = x["bitmex"]
    now = client.get("/market/ticker", params={"symbol": "BCHUSD"}).json()["data"]["exchanges_data"]["bitmex"]
    r = client.get("/market/ticker/history", params={"exchange": "bitmex", "symbol": "BCHUSD", "time_window": "1d",
                                                     "end_time": now["updated_at"] + 1000})
    rows = r.json()["data"]
    assert rows and rows == sorted(rows, key=lambda s: s["second"])
    assert (rows[-1]["bid_price"], rows[-1]["ask_price"]) == (m_bid, m_ask)


def test_ws_market_pushes_the_snapshot_of_the_symbol(client):
    rest = client.get("/market/ticker", params={"symbol": "BCHUSD"}).json()["data"]
    with client.websocket_connect("/ws/market?symbol=BCHUSD") as ws:
        hello = json.loads(ws.receive_text())
        snap = json.loads(ws.receive_text())
    assert hello["type"] == "hello" and hello["filter"] == {"underlying": "BCH", "quote_family": "USD"}
    assert snap["type"] == "ticker" and snap["data"]["base"] == "BCH"
    assert snap["data"]["aggregated_price"] == pytest.approx(rest["aggregated_price"])
    assert snap["data"]["exchanges_data"].keys() == rest["exchanges_data"].keys()


def test_ws_market_closes_on_a_bad_symbol_with_the_reason(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc:
        with client.websocket_connect("/ws/market?symbol=%21%21") as ws:
            ws.receive_text()
    assert exc.value.code == 1008 and "invalid symbol" in exc.value.reason


def test_openapi_documents_the_market_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/market/ticker", "/market/tickers", "/market/funding", "/market/open-interest", "/market/arbitrage",
              "/market/whales", "/market/health", "/market/ticker/history", "/exchanges/best"):
        assert p in paths, p
        assert {"200", "404", "422"} <= set(paths[p]["get"]["responses"]), p


def test_a_process_without_a_market_view_says_so(tmp_path):
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.api.state import reading_state
    from liqmap.storage.duckdb_store import apply_migrations

    con = duckdb.connect(str(tmp_path / "ro.duckdb"))
    apply_migrations(con)
    with TestClient(create_app(reading_state(con))) as c:
        r = c.get("/market/ticker", params={"symbol": "BTCUSDT"})
        assert r.status_code == 404 and "liqmap serve" in r.json()["detail"]
        assert c.get("/market/arbitrage", params={"status": "all"}).json()["data"] == []


def test_whale_tape_follows_the_exchange_filter(client):
    """The dashboard's venue selection reaches the whale tape: ``exchanges`` keeps exactly the
    tape's rows of those venues (it was ignored, so a BitMEX-only view still listed Binance)."""
    body = client.get("/market/whales", params={"limit": 1000}).json()
    # the configured threshold is the tape's (an empty tape is falsy: MarketView replaced it by a
    # default one, so LIQMAP_WHALE_USD and LIQMAP_WHALE_USD_BY_BASE were ignored)
    assert body["meta"]["trade_min_usd"] == 20_000
    every = body["data"]
    venues = sorted({e["exchange"] for e in every})
    assert len(venues) >= 2, venues  # the recorded sessions put several venues on the tape
    for v in venues:
        only = client.get("/market/whales", params={"limit": 1000, "exchanges": v.upper()}).json()["data"]
        assert only == [e for e in every if e["exchange"] == v] and only
    both = client.get("/market/whales", params={"limit": 1000, "exchanges": ",".join(venues[:2])}).json()["data"]
    assert both == [e for e in every if e["exchange"] in venues[:2]]
    r = client.get("/market/whales", params={"exchanges": "binance,nowhere"})
    assert r.status_code == 422 and "nowhere" in r.text
