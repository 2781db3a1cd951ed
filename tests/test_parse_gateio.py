"""Gate futures: ``futures.public_liquidates`` and the ``liq_orders`` history on the
DOCUMENTED EXAMPLES (no real Gate liquidation frame exists in any corpus we have: see
tests/fixtures/PROVENANCE.md), the real 2023 cryptofeed session (acks, candles, books),
contract sizes, the subscribe protocol, the live adapter (decimal-size header, record,
replay) and a reconnect whose gap is filled from the history."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.gateio import GateIO
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation
from localvenue import Send, WaitFor
from test_parse_fixtures import compact, cryptofeed_frames
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill, live_record_replay

GATE = FIX / "gateio"


def _doc(name: str) -> str:
    return (GATE / name).read_text()


def liquidation_frames() -> dict[str, list[str]]:
    """DOCUMENTED EXAMPLE, not a recording: the 2026-08-20 aggregated push (two rows,
    row ``time`` in ms). The ``liq_orders`` history body is tested below."""
    return {"gateio (documented example)": [compact(json.loads(_doc("DOC_public_liquidates_update_zh_2026-08-20.json")))]}


def test_documented_push_values():
    """BTC_USDT, sizes -124.5 and -10.5 contracts (sell orders: longs liquidated) of
    0.0001 BTC at 215.1 / 215.2; row ``time`` is ms."""
    v = get_venue("gateio", contracts=ContractSizes())
    a, b = v.parse(liquidation_frames()["gateio (documented example)"][0], 1)
    assert (a.symbol, a.base, a.quote, a.side, a.order_side) == ("BTC_USDT", "BTC", "USDT", "long", "sell")
    assert a.price == 215.1 and a.quantity == pytest.approx(0.01245) and a.value_usd == pytest.approx(0.01245 * 215.1)
    assert a.timestamp == 1_541_486_601_123 and b.timestamp == 1_541_486_601_456
    assert a.id == "gateio:BTC_USDT:1541486601:-124.5:215.1" and b.quantity == pytest.approx(0.00105)


def test_older_shapes_time_ms_and_seconds():
    """The pre-2026-08 documented example (``time_ms``, price as a JSON number) is not
    valid JSON as printed (trailing comma): one counted error; fixed, it parses, and a
    row ``time`` in seconds (the older zh example) is read as seconds."""
    v = get_venue("gateio", contracts=ContractSizes())
    events, err = safe_parse(v, _doc("DOC_public_liquidates_update_en_2026-05.json"), 1)
    assert events == [] and "JSON" in err
    fixed = _doc("DOC_public_liquidates_update_en_2026-05.json").replace('"BTC_USDT",\n', '"BTC_USDT"\n')
    (liq,) = v.parse(fixed, 1)
    assert liq.timestamp == 1_541_486_601_123 and liq.side == "long" and liq.price == 215.1
    secs = json.loads(liquidation_frames()["gateio (documented example)"][0])
    secs["result"] = [dict(secs["result"][0], time=1541486601, size="124")]
    (short,) = v.parse(compact(secs), 1)
    assert short.timestamp == 1_541_486_601_000 and short.side == "short" and short.order_side == "buy"


def test_history_row_has_the_live_rows_id():
    """A ``liq_orders`` row (documented example: order_size -600 at order_price 3405,
    time in seconds) gets the id a live row of the same order gets."""
    v = get_venue("gateio", contracts=ContractSizes())
    (rest,) = v.parse(_doc("DOC_rest_liq_orders.json"), 1)
    assert rest.side == "long" and rest.price == 3405 and rest.quantity == pytest.approx(0.06)
    assert rest.timestamp == 1_548_654_951_000 and rest.id == "gateio:BTC_USDT:1548654951:-600:3405"
    live = {"channel": "futures.public_liquidates", "event": "update", "time": 1548654951,
            "result": [{"price": "3405", "size": "-600", "time": 1548654951731, "contract": "BTC_USDT"}]}  # fmt: skip
    assert v.parse(compact(live), 2)[0].id == rest.id


def test_contract_sizes_and_held_rows():
    """Contracts from the documented ``/futures/usdt/contracts`` body; a contract whose
    size is unknown is held, not guessed, and valued once the contracts load."""
    assert [(s.symbol, s.kind, s.size, s.quote) for s in GateIO.contract_specs(_doc("DOC_rest_contracts_usdt.json"))] == [
        ("BTC_USDT", "linear", 0.0001, "USDT")]
    assert GateIO.listed_symbols(_doc("DOC_rest_contracts_usdt.json")) == ["BTC_USDT"]
    cs = ContractSizes()
    v = get_venue("gateio", contracts=cs)
    frame = json.loads(liquidation_frames()["gateio (documented example)"][0])
    frame["result"] = [dict(r, contract="PEPE_USDT") for r in frame["result"]]
    assert v.parse(compact(frame), 1) == []  # held
    cs.load_response("gateio", json.dumps([{"name": "PEPE_USDT", "type": "direct", "quanto_multiplier": "10000"}]))
    released = v.parse(_doc("DOC_futures_pong.json"), 2)
    assert [(e.symbol, e.quantity) for e in released] == [("PEPE_USDT", 1_245_000.0), ("PEPE_USDT", 105_000.0)]
    inverse = GateIO.contract_specs(json.dumps([{"name": "BTC_USD", "type": "inverse", "quanto_multiplier": "0"}]))
    assert [(s.kind, s.size, s.quote) for s in inverse] == [("inverse", 1.0, "USD")]


def test_control_acks_errors_and_upgrade_notice():
    v = GateIO()
    req = json.loads(v.subscribe_request([v.connections()[0].topics[0]], 7))
    assert (req["channel"], req["event"], req["payload"], req["id"]) == ("futures.public_liquidates", "subscribe", ["!all"], 7)
    ack = json.loads(_doc("DOC_public_liquidates_subscribe_ack.json"))
    assert v.control(compact(dict(ack, id=7))).kind == "ack" and v.control(compact(dict(ack, id=7))).request == "7"
    rej = v.control(compact(json.loads(_doc("DOC_subscribe_error.json"))))
    assert rej.kind == "reject" and rej.request == "1" and rej.reason.startswith("2: ")
    assert v.control(_doc("DOC_service_upgrade_notice.json")).kind == "restart"
    assert v.control(liquidation_frames()["gateio (documented example)"][0]) is None
    assert v.parse(_doc("DOC_service_upgrade_notice.json"), 1) == [] and v.parse(_doc("DOC_futures_pong.json"), 1) == []
    with pytest.raises(FrameError, match="Alert sub"):
        v.parse(_doc("DOC_subscribe_error.json"), 1)


def test_connections_per_settle():
    v = GateIO()
    usdt, btc = v.connections(["BTC_USDT", "BTC_USD", "ETH_USDT"])
    assert (usdt.label, usdt.url, btc.label, btc.url) == ("usdt", "wss://fx-ws.gateio.ws/v4/ws/usdt", "btc", "wss://fx-ws.gateio.ws/v4/ws/btc")
    assert usdt.headers == {"X-Gate-Size-Decimal": "1"} and usdt.heartbeat.is_pong(_doc("DOC_futures_pong.json"))
    assert [t.key for t in btc.topics] == ["futures.public_liquidates:!all", "futures.tickers:BTC_USD",
                                          "futures.trades:BTC_USD", "futures.candlesticks:1m_BTC_USD"]  # fmt: skip
    assert len(usdt.topics) == 7 and GateIO.connection_label(url=btc.url) == "btc"


def test_history_pages():
    v = GateIO()
    pages = v.history(1_700_000_000_500, 1_700_007_300_000, None, "btc")
    assert [p.url.split("/api/v4/")[1] for p in pages] == [
        "futures/btc/liq_orders?from=1700000000&to=1700003600&limit=1000",
        "futures/btc/liq_orders?from=1700003600&to=1700007200&limit=1000",
        "futures/btc/liq_orders?from=1700007200&to=1700007300&limit=1000"]  # fmt: skip
    full = json.dumps([{"time": 1700003000 + i % 50, "contract": "BTC_USD", "order_size": "-1", "order_price": "1"}
                       for i in range(1000)])  # fmt: skip
    nxt = v.history_next(pages[0], full, 1_700_000_000_500)
    assert nxt is not None and "from=1700000000&to=1700003000&" in nxt.url
    assert v.history_next(pages[0], _doc("DOC_rest_liq_orders.json"), 1) is None


def test_cryptofeed_usdt_session():
    """The real 2023 USDT-settled session: 22 acks, order-book frames, one candle (volume 0)."""
    v = get_venue("gateio", contracts=ContractSizes())
    counts, errors = Counter(), []
    for recv, text in cryptofeed_frames("GATEIO_FUTURES.ws.1.0.gz"):
        events, err = safe_parse(v, text, recv)
        if err:
            errors.append(err)
        counts.update(type(e).__name__ for e in events)
        if v.control(text) is not None:
            counts["ack"] += 1
    assert not errors and counts == {"ack": 22, "Kline": 1}


async def test_live_adapter_header_record_replay(tmp_path):
    """Against a local server: the handshake carries X-Gate-Size-Decimal, the subscribe
    request is Gate's, the real acks and the documented push come back as events, and
    replaying the recording gives them again."""
    acks = [t for _, t in cryptofeed_frames("GATEIO_FUTURES.ws.1.0.gz") if '"event":"subscribe"' in t][:2]
    push = liquidation_frames()["gateio (documented example)"][0]
    run = await live_record_replay(GateIO(contracts=ContractSizes(), settles=("usdt",)), [[WaitFor(1), Send(acks + [push])]],
                                   lambda ev: len([e for e in ev if isinstance(e, Liquidation)]) == 2, tmp_path)  # fmt: skip
    assert run.server.paths[0] == "/v4/ws/usdt" and run.server.headers[0].get("x-gate-size-decimal") == "1"
    sub = json.loads(run.server.messages(0)[0])
    assert sub["channel"] == "futures.public_liquidates" and sub["payload"] == ["!all"]
    assert run.health.parse_errors == 0
    assert_replay_matches(run)


async def test_reconnect_gap_filled_from_liq_orders(tmp_path, monkeypatch):
    """DOCUMENTED EXAMPLES: the push's rows arrive live, the connection drops; the REST
    example's liquidation (inside the gap) arrives from ``liq_orders``; the gap is filled."""
    push = liquidation_frames()["gateio (documented example)"][0]
    gap = (1_548_654_950_000, 1_548_654_960_000)  # on the feed's clock: the REST row is inside
    venue = GateIO(contracts=ContractSizes(), settles=("usdt",))
    run, rest = await live_gap_backfill(venue, [push], [], [_doc("DOC_rest_liq_orders.json")], gap, tmp_path, monkeypatch)
    assert [e.timestamp for e in run.liquidations()] == [1_541_486_601_123, 1_541_486_601_456, 1_548_654_951_000]
    assert [g.filled for g in run.events if isinstance(g, Gap)] == [False, True]
    assert [p for _, p in rest.requests] == ["/api/v4/futures/usdt/liq_orders?from=1548654950&to=1548654960&limit=1000"]
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)
