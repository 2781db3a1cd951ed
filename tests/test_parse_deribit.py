"""Deribit parser on the tardis liquidation trades and the cryptofeed 2021 session."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation, OpenInterest, Trade
from test_parse_fixtures import compact, parse_cryptofeed_session, parse_ok, tardis_messages


def liquidation_frames() -> dict[str, list[str]]:
    """Real trade frames carrying liquidation flags (venue contract test, bench_parsers.py)."""
    return {"deribit": [compact(r["message"]) for r in tardis_messages("deribit")]}


def test_tardis_T_and_M():
    v = get_venue("deribit")
    t_msg, m_msg = (r["message"] for r in tardis_messages("deribit"))
    liq, trade = parse_ok(v, t_msg)
    # "T": taker (direction sell) was liquidated -> long; 1120 USD at 4469.5
    assert isinstance(liq, Liquidation) and isinstance(trade, Trade) and trade.liquidation
    assert (liq.side, liq.value_usd, liq.price) == ("long", 1120.0, 4469.5)
    assert liq.quantity == pytest.approx(1120 / 4469.5)
    assert liq.timestamp == 1584058044032 and liq.id == "deribit:BTC-PERPETUAL:66460463"
    liq, trade = parse_ok(v, m_msg)
    # "M": maker liquidated; taker bought, so the maker sold -> long
    assert (liq.side, liq.value_usd, trade.side) == ("long", 2500.0, "buy")


def test_MT_gives_two_and_plain_trade_gives_trade():
    v = get_venue("deribit")
    msg = tardis_messages("deribit")[0]["message"]
    both = json.loads(json.dumps(msg))
    both["params"]["data"][0]["liquidation"] = "MT"
    a, b, t = parse_ok(v, both)
    assert {a.side, b.side} == {"long", "short"} and a.id != b.id and a.id.endswith((":long", ":short"))
    plain = json.loads(json.dumps(msg))
    del plain["params"]["data"][0]["liquidation"]
    (t,) = parse_ok(v, plain)
    assert isinstance(t, Trade) and not t.liquidation


def test_linear_amount_is_coins():
    v = get_venue("deribit")
    msg = json.loads(json.dumps(tardis_messages("deribit")[0]["message"]))
    msg["params"]["data"][0]["instrument_name"] = "BTC_USDC-PERPETUAL"
    msg["params"]["data"][0]["amount"] = 0.5
    liq, _ = parse_ok(v, msg)
    assert (liq.base, liq.quote, liq.quantity) == ("BTC", "USDC", 0.5)
    assert liq.value_usd == pytest.approx(0.5 * 4469.5)


def test_heartbeat_auto_reply_and_acks():
    v = get_venue("deribit")
    hb = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'
    reply = json.loads(v.auto_reply(hb))
    assert reply["method"] == "public/test"
    assert v.auto_reply('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}') is None
    assert v.parse(hb, 1) == []
    assert v.parse('{"jsonrpc":"2.0","id":2,"result":["trades.BTC-PERPETUAL.100ms"]}', 1) == []
    with pytest.raises(FrameError):
        v.parse('{"jsonrpc":"2.0","id":2,"error":{"code":10028,"message":"too_many_requests"}}', 1)
    subs = [json.loads(s) for s in v.connections()[0].subscribe]
    assert subs[0]["method"] == "public/set_heartbeat" and subs[0]["params"]["interval"] == 30


def test_cryptofeed_deribit_session():
    v = get_venue("deribit")
    events, counts, errors = parse_cryptofeed_session(v, "DERIBIT.ws.1.0.gz")
    for e in events:
        if isinstance(e, OpenInterest) and e.base == "BTC":
            assert 32_000 < e.open_interest_usd / e.open_interest < 32_500  # valued at index
    assert not errors, errors[:3]
    assert counts["Ticker"] == 89 and counts["OpenInterest"] == 89


def test_native_symbols():
    assert get_venue("deribit").native_symbols("BTC") == ["BTC-PERPETUAL"]
