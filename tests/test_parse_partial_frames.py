"""A frame with one bad liquidation row keeps its good rows: the parser raises
FrameError with ``partial`` events, the feed and the replay runner count the
error AND emit those events (built on real recorded frames, one row corrupted)."""

from __future__ import annotations

import copy
import gzip
import json


from liqmap.exchanges.base import safe_parse
from liqmap.exchanges.registry import get_venue
from liqmap.feed.dispatch import FrameHandler
from liqmap.feed.health import HealthTracker
from liqmap.replay.runner import ReplayRunner
from test_parse_fixtures import T0, bitmex_insert_rows, parse_ok, tardis_messages


def _bybit_multi_row_frame() -> dict:
    (rec,) = [r for r in tardis_messages("bybit") if r["source_line"] == 6910]  # 2021 BTCUSD, several rows
    return rec["message"]


def test_bybit_bad_row_keeps_the_others():
    v = get_venue("bybit")
    frame = _bybit_multi_row_frame()
    good = parse_ok(v, frame)
    assert len(good) >= 3
    bad = copy.deepcopy(frame)
    bad["data"][1]["price"] = ""  # one unreadable price
    events, err = safe_parse(v, json.dumps(bad), 1)
    assert err is not None and "1 bad row(s)" in err and "row 1" in err
    assert [e.id for e in events] == [e.id for i, e in enumerate(good) if i != 1]
    assert [e.value_usd for e in events] == [e.value_usd for i, e in enumerate(good) if i != 1]


def test_okx_empty_bkpx_detail_keeps_the_others():
    (rec,) = [r for r in tardis_messages("okex-swap", "okex-futures") if r["source_line"] == 1567]
    v = get_venue("okx")
    (real,) = parse_ok(v, rec["message"])
    frame = copy.deepcopy(rec["message"])
    detail = frame["data"][0]["details"][0]
    frame["data"][0]["details"] = [dict(detail, bkPx=""), detail]  # an empty bkPx beside the real detail
    events, err = safe_parse(v, json.dumps(frame), 2)
    assert err is not None and "bkPx" in err
    assert [(e.id, e.value_usd, e.side) for e in events] == [(real.id, real.value_usd, real.side)]


def test_bitmex_bad_row_keeps_the_others():
    v = get_venue("bitmex")
    rows = [r for r in bitmex_insert_rows() if r["symbol"] == "XBTUSD"][:3]
    data = [{k: r[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")} for r in rows]
    data[0]["side"] = "Sideways"
    events, err = safe_parse(v, json.dumps({"table": "liquidation", "action": "insert", "data": data}), T0)
    assert err is not None and "Sideways" in err
    assert [e.id for e in events] == ["bitmex:" + r["orderID"] for r in rows[1:]]


def test_feed_handler_counts_and_emits_partial():
    emitted = []
    tracker = HealthTracker("bybit")
    handler = FrameHandler(get_venue("bybit"), tracker, emitted.append)
    bad = copy.deepcopy(_bybit_multi_row_frame())
    bad["data"][0]["side"] = "Up"
    out = handler.handle("linear", json.dumps(bad))
    assert tracker.parse_errors == 1
    assert len(out) == len(bad["data"]) - 1 and emitted == out


def test_replay_runner_counts_and_yields_partial(tmp_path):
    bad = copy.deepcopy(_bybit_multi_row_frame())
    bad["data"][0]["qty"] = "-5"
    path = tmp_path / "bybit.jsonl.gz"
    with gzip.open(path, "wt") as f:  # liqmap's own recording format
        f.write(json.dumps({"exchange": "bybit", "connection": "linear", "received_at": 1632123300000,
                            "data": json.dumps(bad)}) + "\n")
    runner = ReplayRunner([path])
    events = list(runner.iter_events())
    assert runner.stats.parse_errors["bybit"] == 1
    assert len(events) == len(bad["data"]) - 1
