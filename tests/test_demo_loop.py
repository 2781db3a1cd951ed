"""``liqmap demo``'s state in-process: the seeded market history, the realized reference, and the
looping tail (the replay keeps moving, marked as a loop, nothing stored twice)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from liqmap.api.app import create_app
from liqmap.heatmap.reference import load_realized
from liqmap.serve.demo import DEMO_FILES, demo_paths, demo_recordings, loop_tail, seed_market_history
from liqmap.serve.server import build_replay_state

NEWEST = 1766954627206  # the last event of the 2025-12-27/28 Binance capture (2025-12-28 20:43:47 UTC)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("loop") / "d.duckdb")
    seed_market_history(db)
    state = build_replay_state([], db, None, preload=demo_paths())

    async def fast_loop(st):
        await loop_tail(st, speed=1e6, max_gap_s=0.0)

    state.after_source = fast_loop
    with TestClient(create_app(state)) as c:
        yield c


def _health_until(c, pred, timeout=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        h = c.get("/health").json()
        if pred(h):
            return h
        time.sleep(0.05)
    raise AssertionError(h)


def test_the_newest_hour_loops_marked_and_stored_once(client):
    h = _health_until(client, lambda h: (h["meta"].get("loop") or {}).get("round", 0) >= 1)
    loop = h["meta"]["loop"]
    assert loop["end_ms"] == NEWEST and NEWEST - 3_600_000 <= loop["start_ms"] < NEWEST
    stored = client.get("/liquidations/stats", params={"time_window": "all", "end_time": NEWEST}).json()["count"]
    h2 = _health_until(client, lambda h: h["meta"]["loop"]["round"] >= 2)
    assert h2["meta"]["now_ms"] <= NEWEST  # the clock went back to the loop's start and runs again
    again = client.get("/liquidations/stats", params={"time_window": "all", "end_time": NEWEST}).json()["count"]
    assert again == stored == h2["storage"]["committed"]  # the loop re-sends, it never stores twice


def test_the_demo_has_btc_history_and_its_realized_reference(client):
    assert client.get("/data/symbols").json()["symbols"] == ["BTCUSDT"]
    kl = client.get("/prices/klines", params={"symbol": "BTCUSDT", "interval": "15m", "start_time": "2025-12-27",
                                              "end_time": "2025-12-28"}).json()
    assert kl["count"] == 96
    ref = client.get("/reference/realized-hourly", params={"symbol": "BTCUSDT", "start_time": "2025-12-27",
                                                           "end_time": "2025-12-28"}).json()
    r = load_realized()
    want = [(int(t), float(a), float(b)) for t, a, b in zip(r.t_end, r.long, r.short)
            if 1766793600000 < t <= 1766880000000]
    assert [(x["t_ms"], x["long_usd"], x["short_usd"]) for x in ref["data"]] == want and len(want) >= 20
    assert "CoinGlass" in ref["meta"]["source"] and "third-party" in ref["meta"]["source"]
    eth = client.get("/reference/realized-hourly", params={"symbol": "ETH"}).json()
    assert eth["data"] == [] and "only BTC" in eth["meta"]["note"]


def test_every_stored_event_lies_in_one_named_recording(client):
    """The dashboard labels each feed row with its recording from ``demo_recordings()`` (one feed
    shows 2025-12 rows beside 2025-01 rows): the spans must hold every stored event, once."""
    _health_until(client, lambda h: (h["meta"].get("loop") or {}).get("round", 0) >= 1)
    recs = demo_recordings()
    assert [f for r in recs for f in r["files"]] == list(DEMO_FILES)
    total = client.get("/liquidations/stats", params={"time_window": "all", "end_time": NEWEST}).json()
    for ex in {e["exchange"] for e in total["by_exchange"]}:
        mine = sorted((r for r in recs if r["exchange"] == ex), key=lambda r: r["start_ms"])
        assert all(a["end_ms"] < b["start_ms"] for a, b in zip(mine, mine[1:])), mine  # disjoint
        counts = [client.get("/liquidations/stats", params={"exchanges": ex, "start_time": r["start_ms"],
                                                            "end_time": r["end_ms"]}).json()["count"] for r in mine]
        assert all(counts), (ex, counts)  # each recording has events
        assert sum(counts) == next(e["count"] for e in total["by_exchange"] if e["exchange"] == ex), (ex, counts)
    assert recs[-1]["start_ms"] <= NEWEST <= recs[-1]["end_ms"] and "riftfern" in recs[-1]["name"]
