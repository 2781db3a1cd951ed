"""Bitfinex: ``liq:global`` on the three real tardis-node frames (a 2020-06-30 BTC perpetual
trigger, a 2020-07-06 ETH market execution and its trigger), the documented examples
(marked ``DOC_``: the info message, subscribed answers, a market-execution row, a
derivatives status update), subscription answers, the REST history and derivatives status,
the live adapter against a local venue (record, replay) and a reconnect whose gap is filled
from ``liquidations/hist``."""

from __future__ import annotations

import json

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError
from liqmap.exchanges.bitfinex import Bitfinex
from liqmap.exchanges.contracts import ContractSizes
from liqmap.models import Gap, Liquidation, OpenInterest, Quarantined, Ticker
from localvenue import Send, WaitFor
from test_parse_fixtures import compact, tardis_messages
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill, live_record_replay

BFX_FIX = FIX / "bitfinex"


def _fix(name: str) -> str:
    return (BFX_FIX / name).read_text().strip()


def _real() -> list[list]:
    """The real frames as tardis recorded them: ``[chanId, rows, seq, ts, "liquidations", "global"]``."""
    return [r["message"] for r in tardis_messages("bitfinex-derivatives")]


def liquidation_frames() -> dict[str, list[str]]:
    """The three real ``liq:global`` frames, in recorded order (BTC trigger; ETH market
    execution, then the ETH trigger without a price)."""
    return {"bitfinex": [compact(m) for m in _real()]}


def test_real_frames_one_liquidation_per_position():
    """The BTC trigger is a long (+0.00268657 entered at 9135.97, liquidated at 9080 below
    it); the ETH market execution (IS_MATCH 1) is no event of its own, it lends 235.52 to
    the ETH trigger (-8.6007: a short entered at 222.25, liquidated above it)."""
    v = Bitfinex(contracts=ContractSizes())
    btc, match, eth = (v.parse(f, 1_600_000_000_000) for f in liquidation_frames()["bitfinex"])
    (b,) = btc
    assert (b.symbol, b.base, b.quote, b.side, b.order_side) == ("BTCF0:USTF0", "BTC", "USDT", "long", "sell")
    assert b.price == 9080 and b.quantity == 0.00268657 and b.value_usd == pytest.approx(24.3940556)
    assert b.timestamp == 1_593_522_802_742 and b.id == "bitfinex:143683674"
    assert match == []
    (e,) = eth
    assert (e.symbol, e.side, e.order_side, e.price, e.quantity) == ("ETHF0:USTF0", "short", "buy", 235.52, 8.6007)
    assert e.value_usd == pytest.approx(8.6007 * 235.52) and e.timestamp == 1_594_036_710_534 and e.id == "bitfinex:143679087"


def test_trigger_first_is_held_until_its_market_execution():
    """The same real ETH rows the other way round: the trigger has no price and is held;
    the execution completes it (the trigger's amount and time, the execution's price)."""
    v = Bitfinex(contracts=ContractSizes())
    _, match, trigger = liquidation_frames()["bitfinex"]
    assert v.parse(trigger, 5) == []
    (e,) = v.parse(match, 6)
    assert (e.quantity, e.price, e.timestamp, e.received_at, e.id) == (8.6007, 235.52, 1_594_036_710_534, 5, "bitfinex:143679087")
    assert v.parse(match, 7) == []  # a repeated execution is no new liquidation


def test_documented_example_is_a_market_execution():
    """DOCUMENTED EXAMPLE (ws-public-status): its row has IS_MATCH 1, a partial market
    execution of position 142397657 (tBSVUSD, a margin pair): no liquidation by itself."""
    v = Bitfinex(contracts=ContractSizes())
    assert v.parse(_fix("DOC_liq_update_market_execution.json"), 1) == []
    assert v.control(_fix("DOC_liq_update_market_execution.json")) is None


def test_symbol_grammar():
    assert Bitfinex.base_quote("BTCF0:USTF0") == ("BTC", "USDT")
    assert Bitfinex.base_quote("tBTCF0:EUTF0") == ("BTC", "EUR")
    assert Bitfinex.base_quote("tBSVUSD") == ("BSV", "USD") and Bitfinex.base_quote("DOGE:UST") == ("DOGE", "USDT")
    assert Bitfinex.native_symbols("ETH") == ["ETHF0:USTF0"]
    with pytest.raises(FrameError):
        Bitfinex.base_quote("BTCUSDT")
    listing = '[["BTCF0:USTF0","ETHF0:USTF0","BTCF0:EUTF0"]]'  # the configs endpoint's shape
    assert Bitfinex.listed_symbols(listing) == ["BTCF0:USTF0", "ETHF0:USTF0", "BTCF0:EUTF0"]
    assert [(s.size, s.quote) for s in Bitfinex.contract_specs(listing)] == [(1.0, "USDT"), (1.0, "USDT"), (1.0, "EUR")]


def test_non_usd_quote_valued_with_the_venues_own_price():
    """HAND-BUILT rows (the real BTC trigger's fields on an EURt perpetual): unvalued (stored
    apart) until a USD price of EUR is seen on the venue, then valued with it."""
    v = Bitfinex(contracts=ContractSizes())
    row = _real()[0][1][0]
    eur = compact([1, [[*row[:4], "tBTCF0:EUTF0", *row[5:]]]])
    (q,) = v.parse(eur, 1)
    assert isinstance(q, Quarantined) and q.reason == "unvalued"
    v.parse(compact([1, [["pos", 9, row[2], None, "tEURF0:USTF0", 100.0, 1.1, None, 0, 1, None, 1.1]]]), 1)
    (liq,) = v.parse(compact([1, [[*row[:1], 10, *row[2:4], "tBTCF0:EUTF0", *row[5:]]]]), 1)
    assert liq.quote == "EUR" and liq.value_usd == pytest.approx(9080 * 0.00268657 * 1.1)


def test_control_answers():
    v = Bitfinex()
    ack = v.control(_fix("DOC_subscribed_liq_global.json"))
    assert ack.kind == "ack" and ack.keys == ("status:liq:global",) and ack.carries_data
    assert v.control(_fix("DOC_subscribed_deriv.json")).keys == ("status:deriv:tBTCF0:USTF0",)
    assert v.control(_fix("DOC_info.json")) is None and v.parse(_fix("DOC_info.json"), 1) == []
    dup = '{"event":"error","msg":"subscribe: dup","code":10301,"channel":"status","key":"liq:global"}'
    assert v.control(dup).kind == "ack"
    rej = v.control('{"event":"error","msg":"symbol: invalid","code":10300,"channel":"trades","symbol":"tXYZF0:USTF0"}')
    assert rej.kind == "reject" and rej.keys == ("trades:tXYZF0:USTF0",) and "10300" in rej.reason
    assert v.control('{"event":"info","code":20051,"msg":"Stopping. Please try to reconnect"}').kind == "restart"
    assert v.parse('[91684,"hb"]', 1) == []
    spec = v.connections(["BTCF0:USTF0"])[0]
    assert spec.heartbeat.is_pong('[91684,"hb"]') and not spec.heartbeat.is_pong(liquidation_frames()["bitfinex"][0])
    assert [json.loads(v.subscribe_request([t], 1)) for t in spec.topics] == [
        {"event": "subscribe", "channel": "status", "key": "liq:global"},
        {"event": "subscribe", "channel": "trades", "symbol": "tBTCF0:USTF0"},
        {"event": "subscribe", "channel": "status", "key": "deriv:tBTCF0:USTF0"}]  # fmt: skip
    with pytest.raises(FrameError, match="10300"):
        v.parse('{"event":"error","msg":"x","code":10300}', 1)


def test_derivatives_status_websocket_and_rest():
    """DOCUMENTED EXAMPLE: the deriv status update (mapped through its subscribed answer on
    the same connection) and the REST row, which is [KEY] + the same fields."""
    v = Bitfinex(contracts=ContractSizes())
    assert v.parse(_fix("DOC_subscribed_deriv.json"), 1, "public") == []
    oi, tk = v.parse(_fix("DOC_deriv_status_update.json"), 2, "public")
    assert isinstance(oi, OpenInterest) and isinstance(tk, Ticker)
    assert (oi.symbol, oi.open_interest, oi.timestamp) == ("BTCF0:USTF0", 246502.09001551, 1_596_124_822_000)
    assert oi.open_interest_usd == pytest.approx(246502.09001551 * 0.7664)
    assert (tk.mark_price, tk.last_price, tk.index_price, tk.funding_rate) == (0.7664, 0.896, 0.771995, -0.01381344)
    with pytest.raises(FrameError):  # the same update on a connection that never subscribed it
        v.parse(_fix("DOC_deriv_status_update.json"), 2, "other")
    row = ["tBTCF0:USTF0", *json.loads(_fix("DOC_deriv_status_update.json"))[1]]
    rest = v.parse(compact([row]), 3, "status")
    assert [(type(e), e.symbol) for e in rest] == [(OpenInterest, "BTCF0:USTF0"), (Ticker, "BTCF0:USTF0")]
    assert v.rest_polls()[0].url == "https://api-pub.bitfinex.com/v2/status/deriv?keys=ALL"


def test_history_requests_and_rows():
    """The REST history: the feed's rows, each wrapped in a list (both shapes read)."""
    v = Bitfinex(contracts=ContractSizes())
    (page,) = v.history(1_594_036_700_000, 1_594_036_720_000)
    assert page.url == ("https://api-pub.bitfinex.com/v2/liquidations/hist"
                        "?start=1594036700000&end=1594036720000&limit=500&sort=1")  # fmt: skip
    rows = [m[1][0] for m in _real()]
    body = compact([[r] for r in rows])
    assert v.history_next(page, body, 0) is None  # a short page ends the window
    assert [e.id for e in v.parse(body, 1)] == ["bitfinex:143683674", "bitfinex:143679087"]
    assert [e.id for e in Bitfinex(contracts=ContractSizes()).parse(compact(rows), 1)] == ["bitfinex:143683674", "bitfinex:143679087"]
    full = compact([[rows[1]]] * 500)  # a full page (the same row repeated): the next one starts 1 ms on
    nxt = v.history_next(page, full, 0)
    assert nxt is not None and "start=1594036710543&" in nxt.url


async def test_live_adapter_record_replay(tmp_path):
    """The local venue sends the documented info message and subscribed answer, then the
    three real frames and a heartbeat; the adapter subscribes liq:global, emits the two
    liquidations, and the recording replays to the same events."""
    frames = [_fix("DOC_info.json"), _fix("DOC_subscribed_liq_global.json"), *liquidation_frames()["bitfinex"], '[91684,"hb"]']
    run = await live_record_replay(Bitfinex(contracts=ContractSizes()), [[WaitFor(1), Send(frames)]],
                                   lambda ev: sum(isinstance(e, Liquidation) for e in ev) >= 2, tmp_path)  # fmt: skip
    assert json.loads(run.server.messages(0)[0]) == {"event": "subscribe", "channel": "status", "key": "liq:global"}
    assert [e.id for e in run.liquidations()] == ["bitfinex:143683674", "bitfinex:143679087"]
    assert run.health.parse_errors == 0
    assert_replay_matches(run)


async def test_reconnect_gap_filled_from_liquidations_history(tmp_path, monkeypatch):
    """The connection drops; the real BTC trigger happened inside the gap and arrives from
    liquidations/hist (the REST shape around the real row), once, and the gap is filled."""
    row = _real()[0][1][0]
    gap = (1_593_522_800_000, 1_593_522_805_000)
    run, rest = await live_gap_backfill(Bitfinex(contracts=ContractSizes()), [_fix("DOC_info.json")], [],
                                        [compact([[row]])], gap, tmp_path, monkeypatch)  # fmt: skip
    (liq,) = run.liquidations()
    assert liq.id == "bitfinex:143683674" and liq.side == "long" and liq.timestamp == 1_593_522_802_742
    assert [g.filled for g in run.events if isinstance(g, Gap)] == [False, True]
    assert [p.split("?")[0] for _, p in rest.requests] == ["/v2/liquidations/hist"]
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)
