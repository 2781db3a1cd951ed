"""Kraken Futures: ``trade`` rows of ``type: liquidation`` on the real 2020 frames (tardis-node
fixtures), the real 2021 session (per-product acks, snapshots, fills), units per contract
type, the subscribe protocol, the live adapter (record, replay) and a gap filled from the
public execution history."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.kraken_futures import KrakenFutures
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation, OpenInterest, Ticker
from localvenue import Send, WaitFor
from test_parse_fixtures import compact, cryptofeed_frames, tardis_messages
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill, live_record_replay

KRAKEN = FIX / "kraken_futures"
TARDIS_ID = "cryptofacilities (Kraken Futures)"


def liquidation_frames() -> dict[str, list[str]]:
    """The two real ``trade`` liquidations (PI_XRPUSD sell, PI_ETHUSD buy; 2020-07-01)."""
    return {"kraken_futures": [compact(r["message"]) for r in tardis_messages(TARDIS_ID)]}


def test_real_liquidations_inverse_usd_contracts():
    """PI_ contracts are 1 USD: 12000 contracts at 0.1736 are 12000 USD = 69124 XRP; the
    taker sold, so the liquidated (taker) position was long."""
    v = get_venue("kraken_futures", contracts=ContractSizes())
    xrp, eth = (v.parse(f, 1_593_620_900_000) for f in liquidation_frames()["kraken_futures"])
    liq, trade = xrp
    assert (liq.symbol, liq.base, liq.quote, liq.side, liq.order_side) == ("PI_XRPUSD", "XRP", "USD", "long", "sell")
    assert liq.value_usd == 12000 and liq.quantity == pytest.approx(12000 / 0.1736) and liq.timestamp == 1_593_561_965_283
    assert trade.liquidation and trade.id == liq.id == "kraken_futures:PI_XRPUSD:3ee209b8-bc9f-4ed5-965b-8c6208b26411"
    assert eth[0].side == "short" and eth[0].value_usd == 250 and eth[0].quantity == pytest.approx(250 / 231.6)


def test_linear_pf_contracts_from_instruments():
    """A PF_ (flexible_futures) product counts base coins x contractSize (the documented
    instruments fields); the same trade shape valued as a linear contract."""
    cs = ContractSizes()
    cs.load_response("kraken_futures", json.dumps({"result": "success", "instruments": [
        {"symbol": "PF_XRPUSD", "type": "flexible_futures", "contractSize": 1, "tradeable": True},
        {"symbol": "PI_XRPUSD", "type": "futures_inverse", "contractSize": 1, "tradeable": True}]}))  # fmt: skip
    v = get_venue("kraken_futures", contracts=cs)
    frame = json.loads(liquidation_frames()["kraken_futures"][0])
    liq, _ = v.parse(compact(dict(frame, product_id="PF_XRPUSD")), 1)
    assert liq.quantity == 12000 and liq.value_usd == pytest.approx(12000 * 0.1736)
    assert KrakenFutures.base_quote("PF_XBTUSD") == ("BTC", "USD") and KrakenFutures.base_quote("FI_ETHUSD_210730") == ("ETH", "USD")


def test_cryptofeed_session_fills_snapshots_and_acks():
    """The real 2021 session: 30 per-product acks, 10 snapshots of 100 trades + 3 fills, no errors."""
    v = get_venue("kraken_futures", contracts=ContractSizes())
    counts, ctrl, errors, prices = Counter(), Counter(), [], {}
    for recv, text in cryptofeed_frames("KRAKEN_FUTURES.ws.1.0.gz"):
        c = v.control(text)
        if c is not None:
            ctrl[c.kind] += 1
        events, err = safe_parse(v, text, recv)
        if err:
            errors.append(err)
        for e in events:
            counts[type(e).__name__] += 1
            prices.setdefault(e.symbol, []).append(e.price)
    assert not errors and ctrl == {"ack": 30} and counts == {"Trade": 1003}
    assert 32_100 < min(prices["FI_XBTUSD_210730"]) and max(prices["FI_XBTUSD_210730"]) < 32_600


def test_control_errors_and_alerts():
    v = KrakenFutures()
    ack = v.control('{"event":"subscribed","feed":"trade","product_ids":["PI_XRPUSD"]}')
    assert ack.kind == "ack" and ack.keys == ("trade:PI_XRPUSD",)
    assert v.control((KRAKEN / "DOC_error_invalid_product.json").read_text()).kind == "reject"
    alert = v.control((KRAKEN / "live_alert_invalid_product.json").read_text())
    assert alert.kind == "reject" and "trade:NOT_REAL" in alert.keys
    assert v.control('{"event":"subscribed","feed":"heartbeat"}') is None
    assert v.control(liquidation_frames()["kraken_futures"][0]) is None
    with pytest.raises(FrameError, match="alert"):
        v.parse((KRAKEN / "live_alert_invalid_product.json").read_text(), 1)
    (spec,) = v.connections(["PI_XBTUSD"])
    assert spec.subscribe == ('{"event":"subscribe","feed":"heartbeat"}',) and spec.heartbeat.is_pong('{"feed":"heartbeat","time":1}')
    assert json.loads(v.subscribe_request(list(spec.topics[:1]), 1)) == {"event": "subscribe", "feed": "trade", "product_ids": ["PI_XBTUSD"]}


def test_ticker_documented_example():
    """DOCUMENTED EXAMPLE of the ticker feed (PI_XBTUSD): open interest 30,072,580 USD
    contracts at mark 21979.69."""
    example = {"time": 1676393235406, "product_id": "PI_XBTUSD", "funding_rate": -6.2604214e-11, "feed": "ticker",
               "index": 21984.54, "last": 21983.5, "openInterest": 30072580.0, "markPrice": 21979.68641534714}  # fmt: skip
    oi, t = get_venue("kraken_futures", contracts=ContractSizes()).parse(compact(example), 1_676_393_235_500)
    assert isinstance(oi, OpenInterest) and oi.open_interest_usd == 30072580.0
    assert oi.open_interest == pytest.approx(30072580.0 / 21979.68641534714)
    assert isinstance(t, Ticker) and t.mark_price == pytest.approx(21979.686) and t.index_price == 21984.54


def _execution_body(frame: dict, token: str | None = None) -> str:
    """The documented ``executions`` schema (get-public-execution-events) around the values
    of a REAL trade; the taker order's ``orderType`` is ``Liquidation`` (the documented
    enum), its direction the trade's side."""
    side = frame["side"].capitalize()
    order = {"uid": "taker-order", "tradeable": frame["product_id"], "direction": side, "quantity": str(frame["qty"]),
             "timestamp": frame["time"], "limitPrice": str(frame["price"]), "orderType": "Liquidation",
             "reduceOnly": True, "lastUpdateTimestamp": frame["time"]}  # fmt: skip
    maker = dict(order, uid="maker-order", direction="Buy" if side == "Sell" else "Sell", orderType="Limit", reduceOnly=False)
    ex = {"uid": frame["uid"], "makerOrder": maker, "takerOrder": order, "timestamp": frame["time"],
          "quantity": str(frame["qty"]), "price": str(frame["price"]), "markPrice": str(frame["price"]),
          "limitFilled": False, "usdValue": str(frame["qty"])}  # fmt: skip
    body = {"len": 1, "elements": [{"uid": "e1", "timestamp": frame["time"], "event": {"Execution": {"execution": ex}}}]}
    if token:
        body["continuationToken"] = token
    return compact(body)


def test_history_rows_and_paging():
    frame = tardis_messages(TARDIS_ID)[0]["message"]
    v = KrakenFutures(contracts=ContractSizes())
    liq, trade = v.parse(_execution_body(frame), 1)
    assert liq.id == "kraken_futures:PI_XRPUSD:3ee209b8-bc9f-4ed5-965b-8c6208b26411" and liq.side == "long"
    assert trade.liquidation and liq.value_usd == 12000
    (page,) = v.history(1_593_561_960_000, 1_593_561_970_000, ["PI_XRPUSD"])
    assert page.url.endswith("/api/history/v3/market/PI_XRPUSD/executions?since=1593561960000&before=1593561970000&sort=asc")
    nxt = v.history_next(page, _execution_body(frame, token="abc="), 0)
    assert nxt.url.endswith("&continuation_token=abc%3D") and v.history_next(page, _execution_body(frame), 0) is None


async def test_live_adapter_record_replay(tmp_path):
    """The real session's greeting and acks, then the real liquidations, from a local venue."""
    hello = [t for _, t in cryptofeed_frames("KRAKEN_FUTURES.ws.1.0.gz") if t.startswith('{"event"')][:3]
    run = await live_record_replay(KrakenFutures(contracts=ContractSizes()),
                                   [[WaitFor(2), Send(hello + liquidation_frames()["kraken_futures"])]],
                                   lambda ev: len([e for e in ev if isinstance(e, Liquidation)]) == 2, tmp_path,
                                   symbols=["PI_XRPUSD", "PI_ETHUSD"])  # fmt: skip
    sent = [json.loads(m) for m in run.server.messages(0)]
    assert sent[0] == {"event": "subscribe", "feed": "heartbeat"}
    assert {"event": "subscribe", "feed": "trade", "product_ids": ["PI_XRPUSD", "PI_ETHUSD"]} in sent
    assert run.health.parse_errors == 0
    assert_replay_matches(run)


async def test_reconnect_gap_filled_from_execution_history(tmp_path, monkeypatch):
    """The ETH liquidation arrives live; the connection drops; the XRP liquidation happened
    inside the gap and comes from the execution history (documented schema around the real
    trade); the gap is filled."""
    xrp, eth = (r["message"] for r in tardis_messages(TARDIS_ID))
    gap = (xrp["time"] - 5_000, xrp["time"] + 5_000)
    run, rest = await live_gap_backfill(KrakenFutures(contracts=ContractSizes()), [compact(eth)], [],
                                        [_execution_body(xrp)], gap, tmp_path, monkeypatch, n_subscribe=2,
                                        symbols=["PI_XRPUSD"])  # fmt: skip
    assert [(e.symbol, e.side) for e in run.liquidations()] == [("PI_ETHUSD", "short"), ("PI_XRPUSD", "long")]
    assert [g.filled for g in run.events if isinstance(g, Gap)] == [False, True]
    assert [p.split("?")[0] for _, p in rest.requests] == ["/api/history/v3/market/PI_XRPUSD/executions"]
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)
