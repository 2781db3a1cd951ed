"""OKX parser on every OKX liquidation message in the tardis fixtures and the
cryptofeed 2022 session (tests/fixtures only)."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.contracts import ContractSizes, ContractSpec
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation
from test_parse_fixtures import compact, parse_cryptofeed_session, parse_ok, tardis_messages, trade_prices

OKX_IDS = ("okex-futures", "okex-swap")


def liquidation_frames() -> dict[str, list[str]]:
    """Real ``liquidation-orders`` frames (venue contract test, bench_parsers.py)."""
    msgs = [r["message"] for r in tardis_messages(*OKX_IDS)]
    return {"okx": [compact(m) for m in msgs if m.get("arg", {}).get("channel") == "liquidation-orders"]}


def test_every_tardis_okx_liquidation():
    v = get_venue("okx")
    recs = tardis_messages(*OKX_IDS)
    assert len(recs) == 7
    liqs = [e for r in recs for e in parse_ok(v, r["message"])]
    assert len(liqs) == 7 and all(isinstance(x, Liquidation) for x in liqs)
    for x in liqs:
        assert x.side in ("long", "short") and x.price > 0 and x.quantity > 0 and x.value_usd > 0
        if x.quote == "USD":  # inverse: value is whole contracts of 10/100 USD
            assert x.value_usd % 10 == 0
            assert x.quantity == pytest.approx(x.value_usd / x.price)
        else:
            assert x.value_usd == pytest.approx(x.quantity * x.price)
    assert len({x.id for x in liqs}) == 7


def test_hand_computed_okx():
    v = get_venue("okx")
    by_line = {r["source_line"]: parse_ok(v, r["message"]) for r in tardis_messages(*OKX_IDS)}
    # v5 liquidation-orders FUTURES XRP-USD-230929: side buy/posSide short, 39 contracts x 10 USD
    (xrp,) = by_line[1567]
    assert (xrp.symbol, xrp.side, xrp.base, xrp.quote) == ("XRP-USD-230929", "short", "XRP", "USD")
    assert xrp.value_usd == 390.0 and xrp.quantity == pytest.approx(390 / 0.55205)
    assert xrp.timestamp == 1680173247614
    # BTC-USDT-211231 40 contracts x 0.01 BTC = 0.4 BTC at 49674.2
    (lin,) = by_line[1544]
    assert lin.quantity == pytest.approx(0.4) and lin.value_usd == pytest.approx(19869.68)
    # v3 swap/liquidation type 3 (long) BTC-USDT-SWAP 30 contracts
    (v3,) = by_line[1830]
    assert v3.side == "long" and v3.quantity == pytest.approx(0.3) and v3.timestamp == 1608251468794
    # v3 futures type 4 -> short; BTC-USD inverse 8 x 100 USD
    (v3f,) = by_line[1444]
    assert v3f.side == "short" and v3f.value_usd == 800.0


def test_loaded_ctval_overrides_fallback():
    cs = ContractSizes([ContractSpec("okx", "XRP-USD-230929", "inverse", 100.0, "USD")])
    v = get_venue("okx", contracts=cs)
    (rec,) = [r for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    assert parse_ok(v, rec["message"])[0].value_usd == 3900.0


def test_liquidation_orders_doc_shape_with_posside_net():
    v = get_venue("okx")
    # shape of the documented push; net mode: side decides
    frame = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "details": [
            {"side": "sell", "posSide": "net", "bkPx": "60000", "sz": "3", "bkLoss": "0", "ccy": "", "ts": "1700000000000"},
            {"side": "buy", "posSide": "net", "bkPx": "60100", "sz": "1.5", "bkLoss": "0", "ccy": "", "ts": "1700000000001"}]}]}
    a, b = parse_ok(v, frame)
    assert (a.side, b.side) == ("long", "short")
    assert a.quantity == pytest.approx(0.03) and b.quantity == pytest.approx(0.015)
    assert v.parse(json.dumps(frame).encode(), 1)[0].id == a.id


def test_cryptofeed_okx_session():
    v = get_venue("okx")
    events, counts, errors = parse_cryptofeed_session(v, "OKX.ws.1.0.gz")
    prices = trade_prices(events)
    assert not errors, errors[:3]
    assert counts["Trade"] == 74 and counts["Ticker"] == 28
    spot = prices["BTC-USDT"]
    assert 30_220 <= min(spot) and max(spot) <= 30_252


def test_okx_errors_pong_and_rest_oi():
    v = get_venue("okx")
    assert v.parse("pong", 1) == []
    assert v.parse('{"event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"}}', 1) == []
    with pytest.raises(FrameError, match="60018"):
        v.parse('{"event":"error","code":"60018","msg":"channel doesnt exist"}', 1)
    with pytest.raises(FrameError):
        v.parse('{"arg":{"channel":"liquidation-orders"},"data":[{"instId":"BTC-USDT-SWAP","details":[{"side":"x","bkPx":"1","sz":"1","ts":"1"}]}]}', 1)
    body = '{"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","oi":"100","oiCcy":"1","oiUsd":"60000","ts":"1700000000000"}]}'
    (oi,) = v.parse(body, 2, "oi:SWAP")
    assert oi.open_interest == 1.0 and oi.open_interest_usd == 60000.0
    c = v.connections(["BTC-USDT-SWAP"])[0]
    assert c.url == "wss://ws.okx.com:8443/ws/v5/public" and c.heartbeat.message == "ping"
    assert c.heartbeat.interval_s < 30 and c.heartbeat.is_pong("pong")
    args = [t.request_arg for t in c.topics]
    assert {"channel": "liquidation-orders", "instType": "SWAP"} in args
    assert {"channel": "liquidation-orders", "instType": "FUTURES"} in args


def test_contract_update_after_start_is_used():
    """Sizes loaded after the venue started parsing (start-up fetch finishing late) apply at once."""
    cs = ContractSizes()
    v = get_venue("okx", contracts=cs)
    (rec,) = [r for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    assert parse_ok(v, rec["message"])[0].value_usd == 390.0  # fallback 10 USD
    cs.update([ContractSpec("okx", "XRP-USD-230929", "inverse", 100.0, "USD")])
    assert parse_ok(v, rec["message"])[0].value_usd == 3900.0


def test_native_symbols():
    assert get_venue("okx").native_symbols("BTC") == ["BTC-USDT-SWAP", "BTC-USD-SWAP"]
