"""HTX swaps: ``liquidation_orders`` on the real 2026-09 USDT-M frame and the real 2020
coin-M / USDT-M frames (tardis-node fixtures), the documented examples (marked), gzip
frames, the ping/pong heartbeat, subscription answers, open interest, and the live adapter
against a local venue that gzips every frame (record, replay)."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.htx import HTX
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation, OpenInterest
from localvenue import Send, WaitFor
from test_parse_fixtures import compact, tardis_messages
from venue_live import assert_replay_matches, live_record_replay

HTX_FIX = FIX / "htx"


def _fix(name: str) -> str:
    return (HTX_FIX / name).read_text()


def liquidation_frames() -> dict[str, list[str]]:
    """The real USDT-M push (ETH-USDT, 2026-09-18; stored gunzipped, as the feed records it)."""
    return {"htx": [compact(json.loads(_fix("liq_notify_eth_usdt_2026-09-18.json")))]}


def test_real_usdt_margined_push():
    """direction buy + offset close = a short closed; amount 5 ETH = 500 contracts x 0.01,
    trade_turnover 12231.3 USDT = 5 x 2446.26."""
    (liq,) = get_venue("htx", contracts=ContractSizes()).parse(liquidation_frames()["htx"][0], 1_789_670_297_300)
    assert (liq.symbol, liq.base, liq.quote, liq.side, liq.order_side) == ("ETH-USDT", "ETH", "USDT", "short", "buy")
    assert liq.quantity == 5 and liq.value_usd == 12231.3 and liq.price == 2446.26
    assert liq.timestamp == 1_789_670_297_212 and liq.id == "htx:ETH-USDT:1789670297212:buy:500.0:2446.26"


def test_real_2020_coin_margined_frames_use_contract_sizes():
    """2020 coin-M frames carry no amount: volume x contract_size USD (ETH 10, BSV 10)."""
    v = get_venue("htx", contracts=ContractSizes())
    eth, bsv = (v.parse(compact(r["message"]), 1)[0] for r in tardis_messages("huobi-dm-swap"))
    assert (eth.symbol, eth.side, eth.value_usd) == ("ETH-USD", "short", 2310.0)
    assert eth.quantity == pytest.approx(2310 / 229.95)
    assert (bsv.side, bsv.value_usd) == ("long", 30.0)
    cs = ContractSizes()
    cs.load_response("htx", json.dumps({"status": "ok", "data": [{"contract_code": "ETH-USD", "contract_size": 10.0, "contract_status": 1}]}))
    assert get_venue("htx", contracts=cs).parse(compact(tardis_messages("huobi-dm-swap")[0]["message"]), 1)[0].value_usd == 2310.0


def test_documented_examples():
    """DOCUMENTED EXAMPLES (huobiapi/docs 2021): coin-M 173 contracts x 100 USD at 17102.9
    = 1.0115 BTC (the example's own amount); USDT-M 624 contracts = 0.624 BTC."""
    v = get_venue("htx", contracts=ContractSizes())
    (coin,) = v.parse(_fix("DOC_liq_notify_coin_swap.json"), 1)
    assert coin.value_usd == 17300 and coin.quantity == pytest.approx(1.011524361365616) and coin.side == "short"
    (usdt,) = v.parse(_fix("DOC_liq_notify_usdt_swap.json"), 1)
    assert usdt.side == "long" and usdt.quantity == 0.624 and usdt.value_usd == 10421.6736


def test_gzip_ping_pong_and_answers():
    v = HTX()
    ping = _fix("DOC_notification_ping.json")
    assert v.frame_text(gzip.compress(ping.encode())) == ping
    assert v.auto_reply(ping) == _fix("DOC_notification_pong.json").strip()  # the ts echoed as text
    assert v.auto_reply('{"op":"ping","ts":1492420473058}') == '{"op":"pong","ts":1492420473058}'
    with pytest.raises(ValueError):
        v.frame_text(b"\x1f\x8b\x08garbage")
    ack = v.control(_fix("sub_ack_wildcard.json"))
    assert ack.kind == "ack" and ack.keys == ("public.*.liquidation_orders",) and ack.request == "airates-liq"
    assert v.control(_fix("sub_error_2014_repeated.json")).kind == "ack"  # repeated subscription: not a fault
    rej = v.control('{"op":"sub","cid":"3","topic":"public.*.liquidation_orders","err-code":2002,"err-msg":"invalid topic"}')
    assert rej.kind == "reject" and rej.request == "3"
    assert v.parse(ping, 1) == [] and v.control(liquidation_frames()["htx"][0]) is None
    with pytest.raises(FrameError, match="2002"):
        v.parse('{"op":"sub","cid":"3","topic":"x","err-code":2002,"err-msg":"invalid topic"}', 1)


def test_connections_and_open_interest():
    v = HTX()
    lin, inv = v.connections()
    assert (lin.label, lin.url, inv.label, inv.url) == (
        "linear", "wss://api.hbdm.com/linear-swap-notification", "inverse", "wss://api.hbdm.com/swap-notification")
    assert HTX.connection_label(url=inv.url) == "inverse" and HTX.connection_label(url=lin.url) == "linear"
    assert json.loads(v.subscribe_request(list(lin.topics), 7)) == {"op": "sub", "cid": "7", "topic": "public.*.liquidation_orders"}
    body = {"status": "ok", "ts": 1789670297000,
            "data": [{"symbol": "ETH", "contract_code": "ETH-USDT", "volume": 500, "amount": 5, "value": 12231.3}]}  # fmt: skip
    (oi,) = v.parse(compact(body), 1, "oi:linear")  # the documented swap_open_interest fields
    assert isinstance(oi, OpenInterest) and oi.open_interest == 5 and oi.open_interest_usd == 12231.3
    assert [p.url for p in v.rest_polls()] == ["https://api.hbdm.com/linear-swap-api/v1/swap_open_interest",
                                               "https://api.hbdm.com/swap-api/v1/swap_open_interest"]  # fmt: skip


async def test_live_adapter_gzip_frames_record_replay(tmp_path):
    """A local venue gzips every frame like HTX: the sub answer, a ping (answered with the
    same ts) and the real push; the recording holds text and replays to the same events."""
    gz = [gzip.compress(t.encode()) for t in (_fix("sub_ack_wildcard.json"), _fix("DOC_notification_ping.json"),
                                              liquidation_frames()["htx"][0])]  # fmt: skip
    run = await live_record_replay(HTX(contracts=ContractSizes(), margins=("linear",)), [[WaitFor(1), Send(gz)]],
                                   lambda ev: any(isinstance(e, Liquidation) for e in ev), tmp_path,
                                   server_until=lambda srv: len(srv.messages(0)) >= 2)  # fmt: skip
    sent = run.server.messages(0)
    assert json.loads(sent[0])["topic"] == "public.*.liquidation_orders" and sent[1] == '{"op":"pong","ts":"1492420473058"}'
    assert run.server.paths[0] == "/linear-swap-notification" and run.health.parse_errors == 0
    assert_replay_matches(run)
