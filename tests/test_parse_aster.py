"""Aster: Binance's parser on Aster's real ``!forceOrder@arr`` frame, Aster's endpoints and
limits, and the live adapter against a local venue (record + replay)."""

from __future__ import annotations

import json

import pytest

from conftest import FIX
from liqmap.exchanges.aster import Aster
from liqmap.exchanges.binance import LIST_SUBSCRIPTIONS, BinanceUSDM
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation
from localvenue import Send, WaitFor
from test_parse_fixtures import compact
from venue_live import assert_replay_matches, live_record_replay

ASTER = FIX / "aster"


def _frame() -> str:
    return compact(json.loads((ASTER / "forceOrder_sell_2026-09-18.json").read_text()))


def _combined(raw: str) -> str:
    """The same event inside the documented combined-stream wrapper (what the adapter reads)."""
    return f'{{"stream":"!forceOrder@arr","data":{raw}}}'


def liquidation_frames() -> dict[str, list[str]]:
    """The one real Aster liquidation (fstream.asterdex.com, 2026-09-18), as captured
    from the raw stream."""
    return {"aster": [_frame()]}


def test_aster_shares_binances_parser():
    assert issubclass(Aster, BinanceUSDM) and Aster._parse is BinanceUSDM._parse


def test_real_force_order_values():
    """PAIRUSDT SELL: z 28448 filled at ap 0.0044461 above the limit p 0.0040681 (a forced
    SELL of a long fills at or above its limit), last fill l 12417 is not the size."""
    v = get_venue("aster")
    for frame in (_frame(), _combined(_frame())):
        (liq,) = v.parse(frame, 1_789_672_621_600)
        assert isinstance(liq, Liquidation) and liq.exchange == "aster"
        assert (liq.symbol, liq.base, liq.quote, liq.side, liq.order_side) == ("PAIRUSDT", "PAIR", "USDT", "long", "SELL")
        assert liq.price == 0.0044461 and liq.quantity == 28448
        assert liq.value_usd == pytest.approx(28448 * 0.0044461)
        assert liq.timestamp == 1_789_672_621_550 and liq.status == "FILLED"
        assert liq.id == "aster:PAIRUSDT:1789672621550:SELL:28448.0:0.0040681"


def test_acks_and_list_subscriptions_reply_are_not_events():
    v = get_venue("aster")
    for name in ("list_subscriptions_reply.json", "DOC_subscribe_response.json"):
        assert v.parse(compact(json.loads((ASTER / name).read_text())), 1) == []


def test_connections_follow_asters_limits():
    v = Aster()
    (c,) = v.connections()
    assert c.url == "wss://fstream.asterdex.com/stream?streams=!forceOrder@arr"
    assert c.max_lifetime_s == 23.5 * 3600
    assert c.heartbeat.message == LIST_SUBSCRIPTIONS == c.ack_probe and c.heartbeat.interval_s == 60.0
    assert c.topics_in_url and [t.key for t in c.topics] == ["!forceOrder@arr"]
    ack = v.control((ASTER / "list_subscriptions_reply.json").read_text())
    assert ack.kind == "ack" and ack.keys == ("!forceOrder@arr",)  # the real reply acknowledges the stream
    assert v.control(_frame()) is None
    # 70 symbols x 4 streams + forceOrder = 281 streams: two connections of <= 200; the 70
    # bookTicker streams on a third (Binance keeps them apart; Aster serves them on the same URL)
    conns = v.connections([f"S{i}USDT" for i in range(70)])
    counts = [c.url.split("streams=")[1].count("/") + 1 for c in conns]
    assert counts == [200, 81, 70] and conns[0].url.startswith("wss://fstream.asterdex.com/stream?streams=!forceOrder@arr/")
    assert conns[2].url.startswith("wss://fstream.asterdex.com/stream?streams=s0usdt@bookTicker/")
    assert v.rest_polls(["BTCUSDT"]) == [] and "open_interest" not in v.capabilities


async def test_live_adapter_record_and_replay(tmp_path):
    """The real frame from a local server: the adapter subscribes through the URL path,
    emits the liquidation, records it; replay gives the same liquidation back."""
    raw = _frame()
    reply = (ASTER / "list_subscriptions_reply.json").read_text()
    run = await live_record_replay(
        "aster", [[Send([reply, raw])], [WaitFor(1)]], lambda ev: any(isinstance(e, Liquidation) for e in ev), tmp_path
    )
    assert run.server.paths[0] == "/stream?streams=!forceOrder@arr"
    assert run.health.parse_errors == 0 and run.health.message_count >= 2
    (liq,) = run.liquidations()
    assert liq.exchange == "aster" and liq.side == "long" and liq.quantity == 28448
    assert_replay_matches(run)
