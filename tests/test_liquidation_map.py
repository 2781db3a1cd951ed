"""The liquidation map (``/liquidations/liquidation-map``, :mod:`liqmap.heatmap.liquidation_map`) on
the real Binance BTCUSDT history the demo ships (klines + open interest, December 2025): its tiers
add up to the served levels, longs lie below the price and shorts above, and the per-tier runs of
the engine the split's proportions come from are close to the served book."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import pytest
from fastapi.testclient import TestClient

from liqmap.api.app import create_app
from liqmap.api.routers import heatmap as heatmap_router
from liqmap.api.state import reading_state
from liqmap.heatmap.liquidation_map import liquidation_map
from liqmap.heatmap.model import default_warmup_ms, get_heatmap_timeseries, model_series
from liqmap.heatmap.params import load_params
from liqmap.heatmap.pipeline import run
from liqmap.serve.demo import seed_market_history

END = 1766953200000  # 2025-12-28 20:20 UTC, inside the demo's capture


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("lm") / "lm.duckdb")
    rows = seed_market_history(db)
    assert rows == {"klines_5m_history": 8928, "open_interest_history": 8928}
    c = duckdb.connect(db, read_only=True)
    yield c
    c.close()


def test_tiers_add_up_to_the_served_levels(con):
    m = liquidation_map(con, "BTCUSDT", END, bin_size=50)
    assert m["meta"]["tiers"] == ["25x", "50x", "100x"] and m["meta"]["time_ms"] == END
    served = get_heatmap_timeseries("BTCUSDT", END - 300_000, END, "5m", bin_size=50, con=con)
    col = {lv["price"]: (lv["long"], lv["short"]) for lv in served["data"][-1]["levels"]}
    got = {lv["price"]: (sum(lv["long"]), sum(lv["short"])) for lv in m["levels"]}
    assert set(got) == set(col) and len(got) > 100
    for p, (lo, sh) in col.items():  # each bin split in whole USD: off by at most one per tier
        assert abs(got[p][0] - lo) <= 3 and abs(got[p][1] - sh) <= 3, p
    price = m["meta"]["price"]
    assert all(lv["price"] < price for lv in m["levels"] if sum(lv["long"]) > 0)
    assert all(lv["price"] + 50 > price for lv in m["levels"] if sum(lv["short"]) > 0)
    near = [lv for lv in m["levels"] if abs(lv["price"] - price) < 0.02 * price]
    assert sum(lv["long"][2] for lv in near) > sum(lv["long"][0] for lv in near)  # 100x sits closer than 25x


def test_per_tier_books_are_close_to_the_served_book(con):
    """The one-tier runs the split's proportions come from add up to the served book to within a
    few percent (not exactly: the OI flows depend on the whole book's liquidations)."""
    served = load_params()
    p, step = served.params, served.step_ms
    series, _ = model_series(con, "BTCUSDT", END - step - default_warmup_ms(p), END, step)
    k = len(series) - 1
    full = run(p, series, snapshot_steps=[k]).snapshots[k]
    parts = [run(replace(p, ladder=((lev, w),)), series, snapshot_steps=[k]).snapshots[k] for lev, w in p.ladder]
    assert all(o == full[0] for o, _ in parts)  # the same grid window
    total = sum(lv for _, lv in parts)
    assert abs(total.sum() / full[1].sum() - 1) < 0.03
    big = full[1] > 0.01 * full[1].max()
    assert np.corrcoef(total[big], full[1][big])[0, 1] > 0.99


def test_endpoint(con):
    heatmap_router.clear_cache()
    with TestClient(create_app(reading_state(con))) as c:
        r = c.get("/liquidations/liquidation-map", params={"symbol": "btcusdt", "end_time": "2025-12-28T20:20:00Z",
                                                           "bin_size": 50})
        assert r.status_code == 200, r.text
        assert r.json() == liquidation_map(con, "BTCUSDT", END, bin_size=50)
        assert c.get("/liquidations/liquidation-map", params={"symbol": "BTCUSDT", "end_time": "2025-12-28T20:20:00Z",
                                                               "bin_size": 50}).headers["x-cache"] == "hit"
        assert c.get("/liquidations/liquidation-map", params={"symbol": "DOGEUSDT"}).status_code == 404
        old = c.get("/liquidations/liquidation-map", params={"symbol": "BTCUSDT", "end_time": "2020-01-01"})
        assert old.status_code == 404 and "2020-01-01T00:00:00.000Z" in old.text  # ISO times, not raw ms
