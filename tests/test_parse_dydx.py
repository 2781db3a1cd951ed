"""dYdX v4: ``v4_trades`` LIQUIDATED on the real 2026-09 frame (and the documented example,
marked), the REST trades page, markets (open interest, oracle price), the subscribe
protocol (32 topics a connection, errors named from their text), the live adapter against a
local venue (record, replay) and a gap filled from the trades history."""

from __future__ import annotations

import json

import pytest

from conftest import FIX
from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.dydx import DYDX
from liqmap.exchanges.registry import get_venue
from liqmap.feed.listing import split_spec
from liqmap.models import Gap, Liquidation, OpenInterest, Ticker, Trade
from localvenue import Send, WaitFor
from test_parse_fixtures import compact, cryptofeed_frames
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill, live_record_replay

DYDX_FIX = FIX / "dydx"


def _fix(name: str) -> str:
    return (DYDX_FIX / name).read_text()


def liquidation_frames() -> dict[str, list[str]]:
    """The real v4_trades push with one LIQUIDATED trade (2026-09-17; its connection_id
    was replaced by "x" by the capture's authors)."""
    return {"dydx": [_fix("ws_v4_trades_liquidated_2026-09-17.json")]}


def test_real_liquidated_trade():
    """SELL LIQUIDATED 0.0004 BTC at 75974: the taker was the liquidated long."""
    liq, trade = get_venue("dydx").parse(liquidation_frames()["dydx"][0], 1_789_652_387_600)
    assert isinstance(liq, Liquidation) and isinstance(trade, Trade)
    assert (liq.symbol, liq.base, liq.quote, liq.side, liq.order_side, liq.status) == ("BTC-USD", "BTC", "USD", "long", "SELL", "LIQUIDATED")
    assert liq.price == 75974 and liq.quantity == 0.0004 and liq.value_usd == pytest.approx(30.3896)
    assert liq.timestamp == 1_789_652_387_542  # 2026-09-17T13:39:47.542Z
    assert liq.id == trade.id == "dydx:BTC-USD:064e89330000000200000002" and trade.liquidation and trade.side == "sell"


def test_documented_example_two_liquidated_buys():
    """DOCUMENTED EXAMPLE (websocket-documentation.md, 2023 UUID ids; as printed it is cut
    off and not valid JSON: trailing commas, no closing braces): two LIQUIDATED BUYs
    (shorts), two LIMIT trades."""
    text = _fix("DOC_v4_trades_channel_data_liquidated.json")
    assert safe_parse(get_venue("dydx"), text, 1)[1] is not None
    fixed = text.rstrip().removesuffix(",").replace("},\n    ]", "}\n    ]") + "\n  }\n}"
    events = get_venue("dydx").parse(fixed, 1)
    liqs = [e for e in events if isinstance(e, Liquidation)]
    assert [(e.side, e.quantity) for e in liqs] == [("short", 0.000100431), ("short", 0.000000004)]
    assert len([e for e in events if isinstance(e, Trade)]) == 4


def test_rest_trades_page_shape():
    """The real REST page (2026-09; spliced by its authors: rows of different markets) under
    a history label: LIQUIDATED rows are liquidations, DELEVERAGED only a trade."""
    v = get_venue("dydx")
    events = v._trade_rows("XYZ-USD", json.loads(_fix("rest_trades_page_mixed_2026-09.json"))["trades"], 1)
    liqs = [e for e in events if isinstance(e, Liquidation)]
    assert [(e.side, e.quantity, e.price) for e in liqs] == [("long", 660.0, 1.276), ("short", 14.7, 1.4731)]
    adl = [e for e in events if isinstance(e, Trade) and e.id.endswith("0000000200000009")]
    assert adl and not adl[0].liquidation
    with pytest.raises(FrameError, match="without a market"):
        v.parse(_fix("rest_trades_page_mixed_2026-09.json"), 1, "rest")


def test_markets_open_interest_and_oracle_price():
    """DOCUMENTED EXAMPLE of the v4_markets subscribed answer (= /v4/perpetualMarkets):
    open interest in base units valued at the oracle price; the listing is its ACTIVE markets."""
    v = get_venue("dydx")
    body = _fix("DOC_v4_markets_subscribed.json")
    ctrl = v.control(body)
    assert ctrl.kind == "ack" and ctrl.keys == ("v4_markets",) and ctrl.carries_data
    oi = {e.symbol: e for e in v.parse(body, 1_680_568_159_000) if isinstance(e, OpenInterest)}
    assert oi["BTC-USD"].open_interest == 1891.473716288
    assert oi["BTC-USD"].open_interest_usd == pytest.approx(1891.473716288 * 27752.92)
    rest = compact(json.loads(body)["contents"])
    assert DYDX.listed_symbols(rest) == ["BTC-USD", "ETH-USD"]
    upd = {"type": "channel_data", "channel": "v4_markets", "id": "v4_markets",
           "contents": {"oraclePrices": {"BTC-USD": {"oraclePrice": "27760", "effectiveAt": "2023-04-04T00:29:19.353Z"}}}}  # fmt: skip
    (t,) = v.parse(compact(upd), 2)
    assert isinstance(t, Ticker) and t.mark_price == 27760 and t.timestamp == 1_680_568_159_353


def test_control_and_connections():
    v = DYDX()
    (spec,) = v.connections([f"M{i}-USD" for i in range(40)])
    parts = split_spec(spec, v.limits)
    assert [len(p.topics) for p in parts] == [32, 32, 17] and parts[1].label == "ws-2"
    assert json.loads(v.subscribe_request([spec.topics[1]], 1)) == {"type": "subscribe", "channel": "v4_trades", "id": "M0-USD"}
    assert json.loads(v.subscribe_request([spec.topics[0]], 1)) == {"type": "subscribe", "channel": "v4_markets"}
    err = v.control(compact({"type": "error", "message": "Invalid subscription id for channel: (v4_trades-XYZ-USD)",
                             "connection_id": "c", "message_id": 3}))  # fmt: skip
    assert err.kind == "reject" and err.keys == ("v4_trades:XYZ-USD",)
    lim = v.control(compact({"type": "error", "message": "Per-connection subscription limit reached for v4_trades (limit=32).",
                             "connection_id": "c", "message_id": 4}))  # fmt: skip
    assert lim.kind == "reject" and lim.keys == ()
    sub = dict(json.loads(liquidation_frames()["dydx"][0]), type="subscribed")
    ack = v.control(compact(sub))
    assert ack.keys == ("v4_trades:BTC-USD",) and ack.carries_data
    assert v.control(liquidation_frames()["dydx"][0]) is None and v.parse(_fix("DOC_connected.json"), 1) == []


def test_history_pages():
    v = DYDX()
    (page,) = v.history(1_789_652_386_000, 1_789_652_388_000, ["BTC-USD"], "ws")
    assert page.url.endswith("/v4/trades/perpetualMarket/BTC-USD?limit=1000&createdBeforeOrAt=2026-09-17T13%3A39%3A48.000Z")
    full = json.dumps({"trades": [json.loads(liquidation_frames()["dydx"][0])["contents"]["trades"][0]] * 1000})
    nxt = v.history_next(page, full, 1_789_652_386_000)
    assert nxt is not None and "createdBeforeOrAt=2026-09-17T13%3A39%3A47.542Z" in nxt.url
    assert v.history_next(page, full, 1_789_652_388_000) is None


async def test_live_adapter_record_replay(tmp_path):
    """A local venue greets like dYdX (the real `connected` frame of the 2021 session: the
    envelope is v4's), then pushes the real v4 liquidation; record, replay."""
    connected = next(t for _, t in cryptofeed_frames("DYDX.ws.1.0.gz") if '"type":"connected"' in t)
    run = await live_record_replay(DYDX(), [[Send([connected]), WaitFor(2), Send(liquidation_frames()["dydx"])]],
                                   lambda ev: any(isinstance(e, Liquidation) for e in ev), tmp_path,
                                   symbols=["BTC-USD"])  # fmt: skip
    sent = [json.loads(m) for m in run.server.messages(0)]
    assert {"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"} in sent
    assert run.health.parse_errors == 0
    assert_replay_matches(run)


async def test_reconnect_gap_filled_from_trades_history(tmp_path, monkeypatch):
    """The connection drops before the real liquidation; it happened inside the gap and
    arrives from the REST trades history (the documented REST shape around the real row)."""
    row = json.loads(liquidation_frames()["dydx"][0])["contents"]["trades"][0]
    gap = (1_789_652_386_000, 1_789_652_390_000)
    run, rest = await live_gap_backfill(DYDX(), [_fix("DOC_connected.json")], [], [compact({"trades": [row]})], gap,
                                        tmp_path, monkeypatch, symbols=["BTC-USD"])  # fmt: skip
    (liq,) = run.liquidations()
    assert liq.id == "dydx:BTC-USD:064e89330000000200000002" and liq.timestamp == 1_789_652_387_542
    assert [g.filled for g in run.events if isinstance(g, Gap)] == [False, True]
    assert [p.split("?")[0] for _, p in rest.requests] == ["/v4/trades/perpetualMarket/BTC-USD"]
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)
