"""Deribit parser on the tardis liquidation trades and the cryptofeed 2021 session."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation, OpenInterest, Trade
from test_parse_fixtures import compact, parse_cryptofeed_session, parse_ok, tardis_messages
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill


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


def _history_body(trades: list[dict], has_more: bool = False) -> str:
    """The documented REST shape of get_last_trades_by_currency_and_time around REAL
    trade rows (https://docs.deribit.com/api-reference/market-data/public-get_last_trades_by_currency_and_time)."""
    return compact({"jsonrpc": "2.0", "id": 1, "result": {"trades": trades, "has_more": has_more}})


def test_history_requests_and_paging():
    v = get_venue("deribit")
    (page,) = v.history(1_584_058_044_100, 1_584_058_070_000, ["BTC-PERPETUAL"], "ws")
    assert "currency=BTC&kind=future&start_timestamp=1584058044100&end_timestamp=1584058070000" in page.url
    assert [p.tag for p in v.history(1, 2)] == ["BTC", "ETH", "USDC", "USDT"]
    assert [p.tag for p in v.history(1, 2, ["SOL_USDC-PERPETUAL", "ETH-PERPETUAL"])] == ["ETH", "USDC"]
    rows = [m["params"]["data"][0] for m in (r["message"] for r in tardis_messages("deribit"))]
    nxt = v.history_next(page, _history_body(rows, has_more=True), 1_584_058_044_100)
    assert nxt is not None and "start_timestamp=1584058067675&" in nxt.url  # from the newest trade on
    assert v.history_next(page, _history_body(rows, has_more=False), 1_584_058_044_100) is None


async def test_reconnect_gap_filled_from_trade_history(tmp_path, monkeypatch):
    """The real 2020-03-13 BTC-PERPETUAL liquidation trades: the first arrives live, the
    connection drops, the second happened inside the gap and arrives from the REST trade
    history (which also repeats the first: dropped by window and id); the gap is reported
    filled and stored filled; replaying the recording gives the same liquidations."""
    msgs = [r["message"] for r in tardis_messages("deribit")]
    rows = [m["params"]["data"][0] for m in msgs]
    gap = (rows[0]["timestamp"] + 50, rows[1]["timestamp"] + 2_000)
    run, rest = await live_gap_backfill(
        "deribit", [compact(msgs[0])], [], [_history_body(rows)], gap, tmp_path, monkeypatch, symbols=["BTC-PERPETUAL"]
    )
    liqs = run.liquidations()
    assert [(e.id, e.side) for e in liqs] == [("deribit:BTC-PERPETUAL:66460463", "long"), ("deribit:BTC-PERPETUAL:66460626", "long")]
    gaps = [e for e in run.events if isinstance(e, Gap)]
    assert [(g.start, g.end, g.filled) for g in gaps] == [(gap[0], gap[1], False), (gap[0], gap[1], True)]
    assert len(rest.requests) == 1 and "get_last_trades_by_currency_and_time?currency=BTC" in rest.requests[0][1]
    assert run.health.gaps_filled == 1 and run.health.backfilled == 2  # the trade and its liquidation
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)
