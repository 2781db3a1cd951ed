"""HTTP API on real replayed data: Binance forceOrder frames (2025-10-02) and BitMEX
liquidation inserts (2019-11), replayed through the venue parsers into DuckDB by the
serve pipeline. Expected values are recomputed here from the parsed events with
plain Python, independent of the SQL aggregation under test."""

from __future__ import annotations

import math

import pytest

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, replay_client, replay_liquidations
from liqmap.models import Liquidation
from liqmap.units import DAY_MS


@pytest.fixture(scope="module")
def events() -> list[Liquidation]:
    return replay_liquidations([BITMEX_INSERTS, BINANCE_FRAMES])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with replay_client([BITMEX_INSERTS, BINANCE_FRAMES], tmp_path_factory.mktemp("api") / "api.duckdb") as c:
        yield c


def test_replay_stored_every_parsed_event(client, events):
    h = client.get("/health").json()
    assert h["meta"]["mode"] == "replay"
    assert h["pipeline"]["liquidations"] == len(events)
    assert {e.exchange for e in events} == {"binance", "bitmex"}
    # the replay clock is the newest replayed event, not the wall clock
    assert h["meta"]["now_ms"] == max(e.timestamp for e in events)
    # the thresholds clients (the dashboard) use come from the server
    assert (h["meta"]["large_usd"], h["meta"]["institutional_usd"], h["meta"]["cascade_min_usd"]) == (
        10_000, 100_000, 100_000)
    # committed means committed: the finished replay's every event, nothing still buffered
    st = h["storage"]
    assert (st["committed"], st["buffered"]) == (len(events), 0), st
    assert st["tiers"]["duckdb"]["status"] == "ok" and st["tiers"]["redis"] == {"status": "off"}
    metrics = client.get("/metrics").text
    assert f"liqmap_store_committed {float(len(events))}" in metrics


def test_heatmap_btc_24h_matches_events(client, events):
    r = client.get("/liquidations/heatmap", params={"symbol": "BTCUSDT", "timeframe": "24h"})
    assert r.status_code == 200, r.text
    d = r.json()
    now = max(e.timestamp for e in events)
    sel = [e for e in events if e.base == "BTC" and now - DAY_MS < e.timestamp <= now]
    assert sel, "fixture has BTC liquidations in the last 24 h of the recording"
    assert d["meta"]["mode"] == "replay" and d["meta"]["now_ms"] == now
    assert d["meta"]["underlying"] == "BTC"
    long_usd = sum(e.value_usd for e in sel if e.side == "long")
    short_usd = sum(e.value_usd for e in sel if e.side == "short")
    assert math.isclose(sum(l["long_usd"] for l in d["levels"]), long_usd, rel_tol=1e-9)
    assert math.isclose(sum(l["short_usd"] for l in d["levels"]), short_usd, rel_tol=1e-9)
    assert math.isclose(sum(c["long_usd"] + c["short_usd"] for c in d["cells"]), long_usd + short_usd, rel_tol=1e-9)
    step = d["level_size"]
    for e in sel:  # every event lands in the level containing its price
        lvl = math.floor(e.price / step) * step
        assert any(abs(l["price"] - lvl) < 1e-6 for l in d["levels"])
    # 2019 BitMEX BTC rows are outside this window
    assert {x["exchange"] for x in d["by_exchange"]} == {"binance"}


def test_heatmap_matches_underlying_across_venues(client, events):
    for sym in ("BTCUSDT", "BTC", "XBTUSD", "btc-perpetual"):
        d = client.get("/liquidations/heatmap", params={"symbol": sym, "timeframe": "all"}).json()
        assert d["meta"]["underlying"] == "BTC"
        assert {x["exchange"] for x in d["by_exchange"]} == {"binance", "bitmex"}
        n = sum(x["count"] for x in d["by_exchange"])
        assert n == sum(1 for e in events if e.base == "BTC")
    d = client.get("/liquidations/heatmap",
                   params={"symbol": "BTCUSDT", "timeframe": "all", "exchanges": "bitmex"}).json()
    assert [x["exchange"] for x in d["by_exchange"]] == ["bitmex"]
    assert d["by_exchange"][0]["count"] == sum(1 for e in events if e.base == "BTC" and e.exchange == "bitmex")


@pytest.mark.parametrize("params,status,needle", [
    ({"symbol": "BTCUSDT", "timeframe": "2x"}, 422, "time_window"),
    ({"symbol": "BTCUSDT", "timeframe": "2h", "time_window": "4h"}, 422, "alias"),
    ({"symbol": "BTCUSDT", "start_time": "yesterday"}, 422, "ISO-8601"),
    ({"symbol": "BTCUSDT", "exchanges": "binance,mtgox"}, 422, "mtgox"),
    ({"symbol": "BTCUSDT", "level_size": "-5"}, 422, "level_size"),
    ({"symbol": "BTCUSDT", "level_size": "abc"}, 422, "level_size"),
    ({"symbol": "NOSUCHCOIN"}, 404, "known_symbols"),
    ({"symbol": ""}, 422, "symbol"),
])
def test_heatmap_bad_input(client, params, status, needle):
    r = client.get("/liquidations/heatmap", params=params)
    assert r.status_code == status, r.text
    assert needle in r.text


def test_unknown_symbol_lists_known(client):
    r = client.get("/liquidations/heatmap", params={"symbol": "DOGEUSDT"})
    assert r.status_code == 404
    known = r.json()["detail"]["known_symbols"]
    assert "BTC" in known and "ETH" in known


def test_recent_newest_first_and_filters(client, events):
    d = client.get("/liquidations/recent", params={"limit": 10}).json()
    rows = d["liquidations"]
    assert len(rows) == 10
    ts = [r["timestamp"] for r in rows]
    assert ts == sorted(ts, reverse=True)
    assert rows[0]["timestamp"] == max(e.timestamp for e in events)
    big = client.get("/liquidations/recent", params={"min_value_usd": 10_000, "limit": 1000}).json()["liquidations"]
    assert len(big) == sum(1 for e in events if e.value_usd >= 10_000)
    bm = client.get("/liquidations/recent", params={"exchanges": "bitmex", "symbol": "ETHUSD", "limit": 1000}).json()
    assert len(bm["liquidations"]) == sum(1 for e in events if e.exchange == "bitmex" and e.base == "ETH")
    assert client.get("/liquidations/recent", params={"limit": 0}).status_code == 422
    assert client.get("/liquidations/recent", params={"min_value_usd": -1}).status_code == 422


def test_stats_consistent(client, events):
    d = client.get("/liquidations/stats", params={"timeframe": "all"}).json()
    assert d["count"] == len(events)
    assert math.isclose(d["total_usd"], sum(e.value_usd for e in events), rel_tol=1e-9)
    assert math.isclose(d["long_usd"], sum(e.value_usd for e in events if e.side == "long"), rel_tol=1e-9)
    assert math.isclose(d["short_usd"], sum(e.value_usd for e in events if e.side == "short"), rel_tol=1e-9)
    total = sum(e.value_usd for e in events)
    for x in d["by_exchange"]:  # each share recomputed from that venue's own events
        venue_usd = sum(e.value_usd for e in events if e.exchange == x["exchange"])
        assert math.isclose(x["share"], venue_usd / total, rel_tol=1e-9), x
    assert {x["exchange"] for x in d["by_exchange"]} == {e.exchange for e in events}
    assert sum(t["count"] for t in d["tiers"].values()) == len(events)
    assert d["tiers"]["institutional"]["count"] == sum(1 for e in events if e.value_usd >= 100_000)
    assert d["largest"]["value_usd"] == max(e.value_usd for e in events)
    assert sum(b["count"] for b in d["timeline"]) == len(events)
    assert d["bucket_ms"] == 600_000
    # default 24h window on the replay clock holds only the 2025 Binance session
    d24 = client.get("/liquidations/stats").json()
    assert [x["exchange"] for x in d24["by_exchange"]] == ["binance"]
    assert client.get("/liquidations/stats", params={"bucket_minutes": 0}).status_code == 422


def test_cascades_match_python_grouping(client, events):
    window, min_usd, min_count = 60_000, 20_000.0, 3
    d = client.get("/liquidations/cascades", params={
        "timeframe": "all", "window_seconds": 60, "min_usd": min_usd, "min_count": min_count}).json()
    groups: dict[tuple[str, int], list[Liquidation]] = {}
    for e in events:
        groups.setdefault((e.base, e.timestamp // window), []).append(e)
    hot = {k: v for k, v in groups.items() if sum(x.value_usd for x in v) >= min_usd and len(v) >= min_count}
    assert hot, "the recordings contain bursts above this threshold"
    assert sum(c["count"] for c in d["cascades"]) == sum(len(v) for v in hot.values())
    assert math.isclose(sum(c["value_usd"] for c in d["cascades"]),
                        sum(x.value_usd for v in hot.values() for x in v), rel_tol=1e-9)
    ends = [c["end_ms"] for c in d["cascades"]]
    assert ends == sorted(ends, reverse=True)
    assert client.get("/liquidations/cascades", params={"window_seconds": 0}).status_code == 422


def test_exchanges_and_health(client, events):
    d = client.get("/exchanges").json()
    names = [x["name"] for x in d["exchanges"]]
    assert {"binance", "binance_coinm", "hyperliquid"} <= set(names)
    b = next(x for x in d["exchanges"] if x["name"] == "binance")
    assert b["enabled"] and b["liquidations"]
    assert b["sampling"] == "lower_bound" and b["color"] == "#f0b90b" and b["transport"] == ["ws"]
    from liqmap.exchanges.registry import VENUE_NAMES

    assert names == list(VENUE_NAMES)  # the API lists what the registry discovered
    assert all(x["sampling"] in ("complete", "lower_bound") and x["color"] for x in d["exchanges"])
    h1 = client.get("/exchanges/health").json()
    per = {x["exchange"]: x for x in h1["exchanges"]}
    assert per["binance"]["status"] == "replay"
    assert per["binance"]["events"] == sum(1 for e in events if e.exchange == "binance")
    assert per["bitmex"]["events"] == sum(1 for e in events if e.exchange == "bitmex")
    assert per["okx"]["events"] == 0
    h2 = client.get("/exchanges/health").json()
    assert h2["meta"]["now_ms"] == h1["meta"]["now_ms"]  # served from the 10 s cache


def test_metrics(client, events):
    r = client.get("/metrics")
    assert r.status_code == 200
    n_bin = sum(1 for e in events if e.exchange == "binance")
    assert f'liqmap_events_ingested_total{{exchange="binance",type="liquidation"}} {float(n_bin)}' in r.text
    assert "liqmap_ws_clients 0.0" in r.text
    assert "liqmap_ws_dropped_messages_total" in r.text


def test_dashboard_page_and_plotly(client):
    r = client.get("/")
    assert r.status_code == 200 and "/static/vendor/plotly-liqmap.min.js" in r.text and "REPLAY" in r.text
    js = client.get("/static/vendor/plotly-liqmap.min.js")  # the vendored partial bundle, gzipped on the wire
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip" and "plotly.js v" in js.text[:300]
    assert int(js.headers["content-length"]) < len(js.content) / 2
    plain = client.get("/static/vendor/plotly-liqmap.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == js.content
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/docs").status_code == 200
    assert "/liquidations/heatmap" in client.get("/openapi.json").text


def test_heatmap_helper_router_answers_from_serve_db(client):
    r = client.get("/data/symbols")
    assert r.status_code == 200, r.text  # served from the serve process's DuckDB, not LIQMAP_DB
    assert client.get("/static/heatmap.html").status_code == 200


def test_detected_cascades_from_storage_detector(client, events):
    d = client.get("/liquidations/cascades", params={"timeframe": "all"}).json()
    det = d["detected"]
    assert det, "the serve storage tier must run a cascade detector"
    # the 2019-11-15 BitMEX XBTUSD long squeeze (real rows) is found
    assert any(c["base"] == "BTC" and c["exchanges"] == ["bitmex"] and c["dominant_side"] == "long" for c in det)
    for c in det:  # every cascade is backed by stored events of its base and time span
        inside = [e for e in events if e.base == c["base"] and c["start_ms"] <= e.timestamp <= c["end_ms"]]
        assert c["count"] <= len(inside)
        assert c["value_usd"] <= sum(e.value_usd for e in inside) * (1 + 1e-9)
    only_bn = client.get("/liquidations/cascades", params={"timeframe": "all", "exchanges": "binance"}).json()
    assert all("binance" in c["exchanges"] for c in only_bn["detected"])
