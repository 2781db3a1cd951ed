"""Reads cannot be broken by stored data (issue #12 item 2): a database holding rows no
current parser emits -- written before the plausibility gate, or by hand -- with infinite,
NaN and 1e308 values and a 1 MB symbol still answers every read with 200 (or a documented
4xx), and those rows count nowhere. The healthy rows are real (the Binance arbitra capture)."""

from __future__ import annotations

import math

import msgspec
import pytest
from fastapi.testclient import TestClient

from conftest import BINANCE_FRAMES, db_with_rows, load_liquidations
from liqmap.api.app import create_app
from liqmap.api.state import open_readonly_state


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("stored") / "p.duckdb"
    events = load_liquidations(BINANCE_FRAMES)
    ref = events[0]
    bad = [msgspec.structs.replace(ref, id=f"poison-{i}", **kw) for i, kw in enumerate([
        {"value_usd": math.inf}, {"value_usd": math.nan}, {"price": 1e308, "value_usd": 1e308},
        {"quantity": -math.inf}, {"symbol": "<img src=x onerror=alert(1)>USDT" + "A" * 1_000_000},
        {"value_usd": 1e300, "timestamp": ref.timestamp + 1},
    ])]
    con = db_with_rows(db, events, bad)
    con.execute("INSERT INTO cascades (id, symbol, start_ts, end_ts, n_events, value_usd, long_usd, short_usd, "
                "exchanges, risk_score, severity, cross_exchange, status, updated_at) VALUES "
                "('BTC-1', 'BTC', ?, ?, 9, 'inf', 'inf', 0, ['binance'], 'nan', 'high', false, 'ended', 0)",
                [ref.timestamp - 10, ref.timestamp])
    con.close()
    state = open_readonly_state(str(db))
    with TestClient(create_app(state)) as c:
        c.n_good = len({e.id for e in events})
        c.total = sum({e.id: e.value_usd for e in events}.values())
        yield c


@pytest.mark.parametrize("path, params", [
    ("/liquidations/recent", {"limit": 1000}),
    ("/liquidations/stats", {"time_window": "all"}),
    ("/liquidations/cascades", {"time_window": "all", "min_usd": 0, "min_count": 1}),
    ("/liquidations/heatmap", {"symbol": "BTCUSDT", "timeframe": "all"}),
    ("/liquidations/symbols", {}),
    ("/exchanges", {}),
    ("/health", {}),
])  # fmt: skip
def test_poisoned_rows_never_break_a_read(client, path, params):
    r = client.get(path, params=params)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert "poison" not in r.text and "onerror" not in r.text and len(r.content) < 1_000_000


def test_poisoned_rows_count_nowhere(client):
    stats = client.get("/liquidations/stats", params={"time_window": "all"}).json()
    assert stats["count"] == client.n_good
    assert stats["total_usd"] == pytest.approx(client.total)
    recent = client.get("/liquidations/recent", params={"limit": 1000}).json()["liquidations"]
    assert len(recent) == client.n_good and all(math.isfinite(e["value_usd"]) for e in recent)


def test_heatmap_cache_keys_on_the_resolved_symbol(client):
    """``BTC-<5 KB of noise>`` resolves to BTC: 50 such spellings share ONE cache entry (they
    used to take one entry each, RSS growing by hundreds of MB), and no answer echoes the noise."""
    state = client.app.state.liqmap
    client.get("/liquidations/heatmap", params={"symbol": "BTCUSDT", "timeframe": "all"})
    before = len(state._cache)
    for i in range(50):
        r = client.get("/liquidations/heatmap", params={"symbol": f"BTC-{i:03d}" + "x" * 5000, "timeframe": "all"})
        assert r.status_code == 200 and len(r.content) < 200_000, r.status_code
        assert r.json()["meta"]["underlying"] == "BTC" and len(r.json()["meta"]["symbol"]) <= 64
    assert len(state._cache) <= before + 1
