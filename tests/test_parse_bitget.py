"""Bitget: the v3 ``liquidation`` parser on the real 2026-04 frame (and the documented example,
marked), the 2022 v1 session from cryptofeed, the subscribe plan, and the live adapter
against a local venue (reconnect, record, replay)."""

from __future__ import annotations

import json

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.bitget import Bitget, inst_type
from liqmap.exchanges.registry import get_venue
from liqmap.feed.subscriptions import SubscriptionTracker
from liqmap.models import Gap, Liquidation, OpenInterest, Ticker
from localvenue import Close, Send, WaitFor
from test_parse_fixtures import compact, parse_cryptofeed_session, tardis_messages, trade_prices
from venue_live import assert_replay_matches, live_record_replay

BITGET = FIX / "bitget"


def _fixture(name: str) -> str:
    text = (BITGET / name).read_text()
    return compact(json.loads(text)) if name.endswith(".json") else text


def liquidation_frames() -> dict[str, list[str]]:
    """The one real v3 liquidation push (tardis-node fixture, usdt-futures, 2026-04-28)."""
    return {"bitget": [compact(r["message"]) for r in tardis_messages("bitget-futures")]}


def test_real_frame_amount_is_quote_value_and_side_is_position():
    """APEUSDT/IPUSDT ``buy`` = long positions liquidated; amount / price gives the round
    lots 83.1 APE and 286.5 IP, so amount is the quote (USDT) value."""
    v = get_venue("bitget")
    (frame,) = liquidation_frames()["bitget"]
    ape, ip = v.parse(frame, 1_777_358_897_200)
    assert (ape.symbol, ape.base, ape.quote, ape.side, ape.order_side) == ("APEUSDT", "APE", "USDT", "long", "buy")
    assert ape.price == 0.1649 and ape.value_usd == 13.70319 and ape.quantity == pytest.approx(83.1)
    assert ape.timestamp == 1_777_358_886_549 and ape.received_at == 1_777_358_897_200
    assert ip.value_usd == 143.330431857868 and ip.quantity == pytest.approx(286.5)
    assert ip.id == "bitget:IPUSDT:1777358876983:buy:143.330431857868:0.500280739469"


def test_documented_example_push():
    """DOCUMENTED EXAMPLE (Liquidation-Channel page), not a recording: BTCUSDT buy."""
    (liq,) = get_venue("bitget").parse(_fixture("DOC_liquidation_push.json"), 1)
    assert liq.side == "long" and liq.price == 89000 and liq.value_usd == 37.722858
    assert liq.quantity == pytest.approx(37.722858 / 89000) and liq.timestamp == 1_736_371_332_162


def test_coin_and_usdc_futures_symbols():
    v = get_venue("bitget")
    frame = _fixture("DOC_liquidation_push.json").replace("usdt-futures", "coin-futures").replace("BTCUSDT", "BTCUSD")
    (liq,) = v.parse(frame, 1)
    assert (liq.base, liq.quote, liq.side) == ("BTC", "USD", "long")
    assert Bitget.base_quote("BTCPERP") == ("BTC", "USDC") and inst_type("ETHPERP") == "usdc-futures"
    assert inst_type("BTCUSD") == "coin-futures" and inst_type("BTCUSDT") == "usdt-futures"


def test_acks_pong_and_errors():
    v = get_venue("bitget")
    assert v.parse(_fixture("pong.txt"), 1) == [] and v.parse(_fixture("DOC_liquidation_subscribe_ack.json"), 1) == []
    for name in ("v3_error_30001_unknown_symbol.json", "v2_error_30001_unknown_symbol.json"):
        with pytest.raises(FrameError, match="30001"):
            v.parse(_fixture(name), 1)


def test_bad_row_keeps_the_good_one():
    frame = json.loads(liquidation_frames()["bitget"][0])
    frame["data"][0]["side"] = "sideways"
    events, err = safe_parse(get_venue("bitget"), compact(frame), 1)
    assert err and "sideways" in err and [e.symbol for e in events] == ["IPUSDT"]


def test_cryptofeed_v1_session():
    """The 2022 v1 ``mix`` session: trades (rows [ts, price, size, side]) and tickers with
    mark price and open interest parse without error; prices are DASH/UNI of 2022-04-07."""
    v = get_venue("bitget")
    events, counts, errors = parse_cryptofeed_session(v, "BITGET.ws.2.0.gz")
    prices = trade_prices(events)
    assert not errors, errors[:3]
    assert counts == {"Trade": 125, "Ticker": 217, "OpenInterest": 217}
    assert 113.3 <= min(prices["DASHUSDT"]) and max(prices["DASHUSDT"]) <= 113.9
    assert 9.96 <= min(prices["UNIUSDT"]) and max(prices["UNIUSDT"]) <= 10.01


def test_v3_ticker_trade_and_kline_documented_shapes():
    """DOCUMENTED SHAPES of the v3 ticker / publicTrade / kline pushes (values made up by
    the docs): mark, funding and open interest; trade sizes; a candle closes at its end."""
    v = get_venue("bitget")
    ticker = {"action": "snapshot", "arg": {"instType": "usdt-futures", "topic": "ticker", "symbol": "BTCUSDT"},
              "data": [{"lastPrice": "100000", "markPrice": "99990", "indexPrice": "99980", "fundingRate": "0.0001",
                        "openInterest": "12.5"}], "ts": 1736371332162}  # fmt: skip
    oi, t = v.parse(compact(ticker), 1)
    assert isinstance(oi, OpenInterest) and oi.open_interest == 12.5 and oi.open_interest_usd == 12.5 * 99990
    assert isinstance(t, Ticker) and t.mark_price == 99990 and t.funding_rate == 0.0001
    trade = {"action": "snapshot", "arg": {"instType": "coin-futures", "topic": "publicTrade", "symbol": "BTCUSD"},
             "data": [{"p": "100000", "S": "buy", "T": "1736348770627", "v": "500", "i": "126"}], "ts": 1}  # fmt: skip
    (tr,) = v.parse(compact(trade), 1)
    assert tr.value_usd == 500 and tr.quantity == 0.005 and tr.id == "bitget:BTCUSD:126"  # COIN-futures: v in USD
    kline = {"action": "update", "arg": {"instType": "usdt-futures", "topic": "kline", "symbol": "BTCUSDT", "interval": "1m"},
             "data": [{"start": "1736370600000", "open": "1", "high": "2", "low": "0.5", "close": "1.5", "volume": "3",
                       "turnover": "4"}], "ts": 1736370660000}  # fmt: skip
    (k,) = v.parse(compact(kline), 1)
    assert k.interval == "1m" and k.close_time == 1736370659999 and k.closed
    kline["ts"] = 1736370659000
    assert not v.parse(compact(kline), 1)[0].closed


def test_subscribe_plan():
    """Tracked topics: liquidation per product type in a request of its own, <= 10 args a
    request, ticker/publicTrade/kline per symbol under its product type."""
    v = Bitget()
    (c,) = v.connections(["BTCUSDT", "ETHPERP", "BTCUSD", "SOLUSDT"])
    reqs = [json.loads(v.subscribe_request(list(r.topics), r.id))["args"] for r in SubscriptionTracker(c.topics, v.limits).plan(0.0)]
    assert reqs[0] == [{"instType": t, "topic": "liquidation"} for t in ("usdt-futures", "coin-futures", "usdc-futures")]
    assert all(len(a) <= 10 for a in reqs) and sum(len(a) for a in reqs[1:]) == 12
    assert {"instType": "usdc-futures", "topic": "ticker", "symbol": "ETHPERP"} in reqs[1]
    assert c.url == "wss://ws.bitget.com/v3/ws/public" and c.heartbeat.message == "ping" and c.heartbeat.interval_s < 30
    assert c.heartbeat.is_pong(_fixture("pong.txt")) and c.max_lifetime_s == 23.5 * 3600


def test_control_reads_acks_and_real_errors():
    """The documented ack names its topic; the real v3 and v2 errors (2026-09 probe) name the
    refused arg, in the form the topics carry."""
    v = Bitget()
    ack = v.control(_fixture("DOC_liquidation_subscribe_ack.json"))
    assert ack.kind == "ack" and ack.keys == ("liquidation:usdt-futures",)
    for name in ("v3_error_30001_unknown_symbol.json", "v2_error_30001_unknown_symbol.json"):
        rej = v.control(_fixture(name))
        assert rej.kind == "reject" and rej.keys == ("books:usdt-futures:NOPEUSDT",) and "30001" in rej.reason
    assert v.control(_fixture("pong.txt")) is None and v.control(liquidation_frames()["bitget"][0]) is None
    (t,) = [t for t in v.connections(["BTCUSDT"])[0].topics if t.kind == "tickers"]
    assert t.key == "ticker:usdt-futures:BTCUSDT"


async def test_live_adapter_reconnects_resubscribes_records_and_replays(tmp_path):
    """A local venue acks like Bitget, pushes the real frame, then closes; the adapter
    reconnects, subscribes again, records a Gap; replaying the recording gives the
    same liquidations."""
    ack = _fixture("DOC_liquidation_subscribe_ack.json")
    (frame,) = liquidation_frames()["bitget"]
    scripts = [[WaitFor(1), Send([ack, frame]), Close()], [WaitFor(1), Send([ack, _fixture("pong.txt")])]]

    def done(events):
        return len([e for e in events if isinstance(e, Liquidation)]) == 2 and any(isinstance(e, Gap) for e in events)

    run = await live_record_replay("bitget", scripts, done, tmp_path, server_until=lambda srv: srv.sent[1:] == [2],
                                 health_until=lambda h: h.subscribed == 1)
    assert run.server.connection_count == 2
    for i in (0, 1):
        assert json.loads(run.server.messages(i)[0])["args"][0] == {"instType": "usdt-futures", "topic": "liquidation"}
    assert run.health.parse_errors == 0 and run.health.reconnects == 1 and run.health.subscribed >= 1
    assert {e.symbol for e in run.liquidations()} == {"APEUSDT", "IPUSDT"}
    assert_replay_matches(run)
