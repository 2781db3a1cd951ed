"""Every named adapter against a local venue: URL override, subscribe, real frames in,
normalized events out (BitMEX, Deribit incl. in-band heartbeat, Hyperliquid, Binance COIN-M)."""

from __future__ import annotations

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.exchanges.registry import get_venue
from liqmap.models import Liquidation, Trade
from test_parse_fixtures import T0
from localvenue import (
    LocalWsVenue,
    Send,
    WaitFor,
    bitmex_insert_frames,
    connected,
    hyperliquid_trade_frames,
    tardis_messages,
    wait_until,
)

FAST = dict(ws_timeout=2.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)
# Deribit's documented heartbeat probe (https://docs.deribit.com/#public-set_heartbeat)
DERIBIT_TEST_REQUEST = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'


async def run(adapter, venue, n, kind=Liquidation):
    events = []
    adapter.add_listener(events.append)
    async with connected(adapter):
        await wait_until(lambda: len([e for e in events if isinstance(e, kind)]) >= n, what=f"{n} events")
        return events, adapter.health()


async def test_bitmex_real_liquidation_rows():
    frames = bitmex_insert_frames()
    parser = get_venue("bitmex")  # one instance: the parser keeps small state between frames
    expected = [e.id for f in frames for e in parser.parse(f, T0)]
    async with LocalWsVenue([[WaitFor(1), Send(frames)]]) as venue:
        events, h = await run(ExchangeAdapter("bitmex", ws_url=venue.url, **FAST), venue, len(expected))
    # the BitMEX parser may hold a row until it knows a price, so compare as sets
    got = [e.id for e in events if isinstance(e, Liquidation)]
    assert len(got) == len(expected) == 117 and sorted(got) == sorted(expected)
    assert '"liquidation"' in venue.messages(0)[0]
    assert all(e.timestamp == e.received_at for e in events)  # BitMEX rows carry no time
    assert h.parse_errors == 0 and h.latency_ms is None  # no exchange time -> no latency sample


async def test_deribit_answers_test_request_and_parses_liquidation_trades():
    frames = tardis_messages("deribit")
    async with LocalWsVenue([[WaitFor(2), Send([DERIBIT_TEST_REQUEST] + frames)]]) as venue:
        adapter = ExchangeAdapter("deribit", ws_url=venue.url, **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: any('"public/test"' in m for m in venue.messages(0)), what="public/test reply")
            await wait_until(lambda: len([e for e in events if isinstance(e, (Trade, Liquidation))]) >= 2, what="2 trades")
            h = adapter.health()
    sent = venue.messages(0)
    assert '"public/set_heartbeat"' in sent[0] and '"public/subscribe"' in sent[1]
    assert h.parse_errors == 0
    liq = [e for e in events if isinstance(e, Liquidation)]
    assert liq and {e.symbol for e in liq} == {"BTC-PERPETUAL"}


async def test_hyperliquid_ws_url_override():
    frames = hyperliquid_trade_frames(20)
    async with LocalWsVenue([[WaitFor(1), Send(frames)]]) as venue:
        adapter = ExchangeAdapter("hyperliquid", ws_url=venue.url, **FAST)
        events, h = await run(adapter, venue, 20, kind=Trade)
    assert venue.paths[0] == "/ws"
    assert '"subscribe"' in venue.messages(0)[0]
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) == 20 and {e.exchange for e in trades} == {"hyperliquid"}
    assert trades[0].symbol == "ETH" and trades[0].price == 1655.5 and trades[0].side == "sell"


async def test_binance_coinm_real_delivery_frame():
    frames = tardis_messages("binance-delivery")
    async with LocalWsVenue([[Send(frames)]]) as venue:
        events, h = await run(ExchangeAdapter("binance_coinm", ws_url=venue.url, **FAST), venue, 1)
    liq = [e for e in events if isinstance(e, Liquidation)]
    assert liq[0].exchange == "binance_coinm" and liq[0].quote == "USD"
    assert venue.paths[0].startswith("/stream?streams=")
