"""BitMEX parser on the 117 real liquidation inserts, the tardis frames, and the
cryptofeed 2021 session + recorded instrument/active response."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.registry import get_venue
from liqmap.models import OpenInterest, Trade
from liqmap.symbols import split_symbol
from test_parse_fixtures import T0, bitmex_insert_rows, compact, cryptofeed_rest, parse_cryptofeed_session, parse_ok, tardis_messages


def liquidation_frames() -> dict[str, list[str]]:
    """The 117 recorded ``liquidation`` rows, each as the insert frame the websocket
    sends (venue contract test, bench_parsers.py)."""
    keys = ("orderID", "symbol", "side", "price", "leavesQty")
    return {"bitmex": [compact({"table": "liquidation", "action": "insert", "data": [{k: r[k] for k in keys}]})
                       for r in bitmex_insert_rows()]}


def _insert(row: dict) -> dict:
    return {"table": "liquidation", "action": "insert",
            "data": [{k: row[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")}]}


def test_all_117_inserts():
    v = get_venue("bitmex", contracts=ContractSizes())
    rows = bitmex_insert_rows()
    out = []
    for i, row in enumerate(rows):
        out += parse_ok(v, _insert(row), 1_573_700_000_000 + i)
    assert len(out) == 117  # ETHUSD rows before the first XBTUSD row were held, then released
    by_id = {x.id: x for x in out}
    assert len(by_id) == 117
    sides = Counter()
    for row in rows:
        liq = by_id["bitmex:" + row["orderID"]]
        assert liq.side == ("long" if row["side"] == "Sell" else "short")
        assert liq.price == row["price"] and liq.timestamp == liq.received_at
        sides[liq.side] += 1
        if row["symbol"] in ("XBTUSD", "XBTZ19", "XBTH20"):  # inverse, 1 USD / contract
            assert liq.base == "BTC" and liq.value_usd == row["leavesQty"]
            assert liq.quantity == pytest.approx(row["leavesQty"] / row["price"])
        if row["symbol"] == "XBTUSD":
            assert 8382 <= liq.price <= 8540.5
    assert sides == {"long": 72, "short": 45}


def test_quanto_ethusd_hand_computed():
    v = get_venue("bitmex", contracts=ContractSizes())
    rows = bitmex_insert_rows()
    xbt = next(r for r in rows if r["symbol"] == "XBTUSD")
    parse_ok(v, _insert(xbt))
    eth = rows[0]  # ETHUSD Sell 5250 @ 186.7
    (liq,) = parse_ok(v, _insert(eth))
    # 5250 contracts x 100 sat x 186.7 = 0.98017500 XBT, valued at the last XBTUSD price seen
    assert liq.value_usd == pytest.approx(5250 * 100e-8 * 186.7 * xbt["price"])
    assert liq.quantity == pytest.approx(liq.value_usd / 186.7)
    assert (liq.base, liq.quote, liq.side) == ("ETH", "USD", "long")


def test_tardis_insert_and_delete():
    v = get_venue("bitmex", contracts=ContractSizes())
    ins, dele = (r["message"] for r in tardis_messages("bitmex"))
    # the tardis record carries no time at all: replayed at receipt time 0 (1970) it is not
    # stored at 1970 but rejected by the gate (before BitMEX's launch) and counted
    assert parse_ok(v, ins, 0) == [] and v.gate.rejected["timestamp"] == 1
    (liq,) = parse_ok(v, ins, T0 + 777)
    assert (liq.side, liq.value_usd, liq.timestamp) == ("short", 9214.0, T0 + 777)
    assert liq.id == "bitmex:dd9cea25-207c-0dab-15b5-b88da776f500"
    assert parse_ok(v, dele) == []
    partial = dict(ins, action="partial")
    assert parse_ok(v, partial, T0 + 999)[0].id == liq.id  # resend after reconnect: same id
    assert parse_ok(v, dict(ins, action="update")) == []


def test_cryptofeed_session_and_instruments():
    cs = ContractSizes()
    assert cs.load_response("bitmex", cryptofeed_rest("BITMEX.0.gz")) == 34
    v = get_venue("bitmex", contracts=cs)
    events, counts, errors = parse_cryptofeed_session(v, "BITMEX.ws.1.0.gz")
    xbt = []
    for e in events:
        if isinstance(e, Trade) and e.symbol == "XBTUSD":
            xbt.append(e.price)
            assert e.value_usd == pytest.approx(e.quantity * e.price, rel=1e-3)
    assert not errors, errors[:3]
    assert counts["Trade"] >= 17 and 32175 <= min(xbt) and max(xbt) <= 32187
    events, err = safe_parse(v, cryptofeed_rest("BITMEX.0.gz"), 5, "instrument")
    assert err is None
    oi = {e.symbol: e for e in events if isinstance(e, OpenInterest)}
    assert oi["XBTUSD"].open_interest_usd == 574_264_600
    assert oi["XBTUSD"].open_interest == pytest.approx(574_264_600 / 32184.89)


def test_symbols_errors_pong():
    assert split_symbol("bitmex", "XBTUSD") == ("BTC", "USD")
    assert split_symbol("bitmex", "ADAZ19") == ("ADA", "BTC")
    assert split_symbol("bitmex", "XBTZ19") == ("BTC", "USD")
    assert split_symbol("bitmex", "ETHUSDU21") == ("ETH", "USD")
    v = get_venue("bitmex", contracts=ContractSizes())
    assert v.parse("pong", 1) == []
    with pytest.raises(FrameError):
        v.parse('{"table":"liquidation","action":"insert","data":[{"orderID":"x","symbol":"XBTUSD","side":"Sell","price":-1,"leavesQty":5}]}', 1)
    with pytest.raises(FrameError):
        v.parse('{"status":400,"error":"Unknown table"}', 1)
    c = v.connections()[0]
    assert c.heartbeat.message == "ping" and c.topics[0].key == "liquidation"


def _usdt_linear_instrument(symbol: str, utp: float, mark: float) -> bytes:
    """A ``/api/v1/instrument/active`` row for a USDT-margined linear perpetual, with the
    fields ``BitMEX.contract_specs`` reads (typ FFWCSX, not inverse/quanto,
    underlyingToPositionMultiplier; https://www.bitmex.com/api/explorer/#/Instrument)."""
    return json.dumps([{"symbol": symbol, "typ": "FFWCSX", "quoteCurrency": "USDT", "isInverse": False,
                        "isQuanto": False, "multiplier": round(1e6 / utp),
                        "underlyingToPositionMultiplier": utp, "markPrice": mark}]).encode()


def test_usdt_linear_fallback_sizes_not_one_coin():
    # The old fallback took 1 coin per XBTUSDT contract: 1e6 x too large. BitMEX's XBTUSDT is
    # 0.000001 XBT per contract (underlyingToPositionMultiplier 1,000,000).
    v = get_venue("bitmex", contracts=ContractSizes())
    (liq,) = parse_ok(v, _insert({"orderID": "a1", "symbol": "XBTUSDT", "side": "Sell", "price": 60_000.0,
                                  "leavesQty": 2_500_000}), T0 + 10)
    assert liq.quantity == pytest.approx(2.5) and liq.value_usd == pytest.approx(150_000.0)
    assert (liq.base, liq.quote, liq.side) == ("BTC", "USDT", "long")
    (eth,) = parse_ok(v, _insert({"orderID": "a2", "symbol": "ETHUSDT", "side": "Buy", "price": 2_000.0,
                                  "leavesQty": 300_000}), T0 + 11)
    assert eth.quantity == pytest.approx(3.0) and eth.value_usd == pytest.approx(6_000.0)


def test_unknown_usdt_contract_held_until_instruments_load():
    cs = ContractSizes()
    v = get_venue("bitmex", contracts=cs)
    row = {"orderID": "p1", "symbol": "PEPEUSDT", "side": "Sell", "price": 0.00001, "leavesQty": 40}
    assert parse_ok(v, _insert(row), T0 + 20) == []  # size unknown: held, not guessed
    assert parse_ok(v, _insert(dict(row, orderID="p2")), T0 + 21) == []
    # the 60 s instrument poll brings the spec (here: 1 contract = 1,000 PEPE)
    events, err = safe_parse(v, _usdt_linear_instrument("PEPEUSDT", 0.001, 0.00001), T0 + 22, "instrument")
    assert err is None
    liqs = [e for e in events if e.__class__.__name__ == "Liquidation"]
    assert [x.id for x in liqs] == ["bitmex:p1", "bitmex:p2"]  # held order kept
    assert liqs[0].quantity == pytest.approx(40_000.0) and liqs[0].timestamp == T0 + 20
    assert liqs[0].value_usd == pytest.approx(0.4)
    # once known, new ones go straight through
    (p3,) = parse_ok(v, _insert(dict(row, orderID="p3")), T0 + 23)
    assert p3.quantity == pytest.approx(40_000.0)


def test_native_symbols():
    assert get_venue("bitmex").native_symbols("BTC") == ["XBTUSD", "XBTUSDT"]
