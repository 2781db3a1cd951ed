"""Hyperliquid liquidation-fill side rule on Hyperliquid's own published records.

The 62 liquidations in ``hyperliquid_historical_data/liquidations.csv`` each
have a fill of the liquidated user within 5 s in ``non_mm_trades.csv.gz``
(PROVENANCE.md). We rebuild a ``userFills`` frame from that real fill (coin,
side, px, sz, time are the recorded values; the ``liquidation`` object is our
reconstruction from the liquidation record, since 2023 records predate it).
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.hyperliquid import LIQUIDATOR, LIQUIDATORS
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation, OpenInterest, Trade
from test_parse_fixtures import FIX

HL = FIX / "hyperliquid_historical_data"


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _liquidation_fills() -> list[tuple[dict, dict]]:
    with open(HL / "liquidations.csv") as fh:
        liqs = list(csv.DictReader(fh))
    fills: dict[str, list[dict]] = {}
    with gzip.open(HL / "non_mm_trades.csv.gz", "rt") as fh:
        for row in csv.DictReader(fh):
            fills.setdefault(row["user"], []).append(row)
    out = []
    for liq in liqs:
        t = _ms(liq["time"])
        cands = [f for f in fills.get(liq["user"], []) if abs(_ms(f["time"]) - t) <= 5000]
        best = min(cands, key=lambda f: abs(float(f["px"]) * float(f["sz"]) - float(liq["liquidated_ntl_pos"])))
        out.append((liq, best))
    return out


def _frame(user: str, fill: dict, liquidated: str, side: str) -> str:
    return json.dumps({"channel": "userFills", "data": {"user": user, "fills": [{
        "coin": fill["coin"], "px": fill["px"], "sz": fill["sz"], "side": side, "time": _ms(fill["time"]),
        "liquidation": {"liquidatedUser": liquidated, "markPx": fill["px"], "method": "market"}}]}})


def liquidation_frames() -> dict[str, list[str]]:
    """``userFills`` frames rebuilt from the 62 real liquidation fills (no recorded
    WsFill with a liquidation object exists; see the module docstring) -- venue
    contract test, bench_parsers.py."""
    frames = [_frame(liq["user"], fill, liq["user"], "A" if fill["side"] == "Ask" else "B")
              for liq, fill in _liquidation_fills()]
    return {"hyperliquid (rebuilt fills)": frames}


def test_62_real_liquidation_fills_both_perspectives():
    v = get_venue("hyperliquid")
    pairs = _liquidation_fills()
    assert len(pairs) == 62
    ratios = []
    for liq, fill in pairs:
        side = "A" if fill["side"] == "Ask" else "B"
        (own,) = v.parse(_frame(liq["user"], fill, liq["user"], side), 1)
        # The same fill seen from the counterparty (the other side of the trade).
        (other,) = v.parse(_frame(LIQUIDATOR, fill, liq["user"], "B" if side == "A" else "A"), 2)
        assert isinstance(own, Liquidation)
        assert own.side == ("long" if side == "A" else "short")
        assert other.side == own.side and other.id == own.id  # id does not depend on perspective/receipt
        px, sz = float(fill["px"]), float(fill["sz"])
        assert (own.price, own.quantity, own.base, own.quote) == (px, sz, fill["coin"], "USDC")
        assert own.value_usd == pytest.approx(px * sz)
        ratios.append(own.value_usd / float(liq["liquidated_ntl_pos"]))
        assert own.timestamp == _ms(fill["time"])
    # Most liquidations are one fill worth the liquidated notional (+-1 %); the rest
    # were split over several fills (or positions), so one fill is a part of it.
    assert sum(0.98 < r < 1.02 for r in ratios) >= 50 and max(ratios) < 1.02


def test_plain_fill_snapshot_trades_ctx_and_errors():
    v = get_venue("hyperliquid")
    snap = {"channel": "userFills", "data": {"isSnapshot": True, "user": LIQUIDATOR, "fills": [
        {"coin": "ETH", "px": "1655.5", "sz": "0.0452", "side": "A", "time": 1677510146000, "hash": "0xab", "tid": 7}]}}
    assert v.parse(json.dumps(snap), 1) == []  # no liquidation object: liquidator unwinding, not a liquidation
    snap["data"]["fills"][0]["liquidation"] = {"liquidatedUser": "0x3b69", "markPx": "1655", "method": "backstop"}
    (liq,) = v.parse(json.dumps(snap), 1)
    assert liq.id == "hyperliquid:0xab:7" and liq.side == "short" and liq.status == "backstop"
    trades = {"channel": "trades", "data": [{"coin": "ETH", "side": "B", "px": "1658.8", "sz": "0.0452",
                                             "hash": "0x1", "time": 1677510252000, "tid": 42, "users": ["a", "b"]}]}
    (t,) = v.parse(json.dumps(trades), 3)
    assert isinstance(t, Trade) and t.side == "buy" and t.id == "hyperliquid:ETH:1677510252000:42"  # (time, coin, tid)
    ctx = {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": {"openInterest": "100", "markPx": "1650",
                                                                        "oraclePx": "1651", "funding": "0.0001"}}}
    oi, tick = v.parse(json.dumps(ctx), 1677510260000)  # no time in the frame: receipt time
    assert isinstance(oi, OpenInterest) and oi.open_interest_usd == 165000.0 and tick.mark_price == 1650.0
    assert v.parse('{"channel":"pong"}', 1) == []
    assert v.parse('{"channel":"user","data":{"liquidation":{"lid":1,"liquidator":"0x","liquidated_user":"0x"}}}', 1) == []
    with pytest.raises(FrameError):
        v.parse('{"channel":"error","data":"bad subscription"}', 1)
    topics = v.connections()[0].topics
    subs = [json.loads(v.subscribe_request([t], i)) for i, t in enumerate(topics)]
    assert {"method": "subscribe", "subscription": {"type": "userFills", "user": LIQUIDATOR}} in subs
    assert sum(t.key.startswith("userFills:") for t in topics) == len(LIQUIDATORS) == 5


def test_native_symbols():
    assert get_venue("hyperliquid").native_symbols("BTC") == ["BTC"]


def test_auto_deleveraging_fills_are_not_liquidations():
    """The same real fills (rebuilt frames, module docstring) seen by a liquidator vault:
    a fill marked ``dir: Auto-Deleveraging``, or whose liquidatedUser is a liquidator vault
    (the vault itself being deleveraged), is dropped and counted; the others are kept."""
    v = get_venue("hyperliquid")
    pairs = _liquidation_fills()[:6]
    kept = dropped = 0
    for i, (liq, fill) in enumerate(pairs):
        frame = json.loads(_frame(LIQUIDATORS[1], fill, liq["user"], "B"))
        f = frame["data"]["fills"][0]
        if i % 3 == 1:
            f["dir"] = "Auto-Deleveraging"
        elif i % 3 == 2:
            f["liquidation"]["liquidatedUser"] = LIQUIDATORS[1]
        got = v.parse(json.dumps(frame), 1)
        kept += len(got)
        dropped += not got
    assert (kept, dropped, v.adl_fills) == (2, 4, 4)


def test_liquidator_list_is_configurable_within_the_user_limit():
    from liqmap.exchanges.hyperliquid import Hyperliquid

    assert get_venue("hyperliquid", liquidators=[LIQUIDATOR]).liquidators == (LIQUIDATOR,)
    with pytest.raises(ValueError, match="1 to 10"):
        Hyperliquid(liquidators=[f"0x{i:040x}" for i in range(11)])
