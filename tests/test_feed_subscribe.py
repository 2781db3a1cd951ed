"""Subscribe / heartbeat / auto-reply behaviour of the connection layer, driven by the
real Bybit and OKX venue specs against local venues replaying real frames."""

from __future__ import annotations

import dataclasses
import json

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.exchanges.base import Heartbeat
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation
from localvenue import Drop, LocalWsVenue, Send, Sleep, WaitFor, connected, tardis_messages, wait_until

BYBIT = tardis_messages("bybit")
FAST = dict(ws_timeout=2.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)
SYMBOLS = ["BTCUSDT", "GALAUSDT", "PIPPINUSDT"]  # linear only -> one connection
# Bybit's documented pong reply (https://bybit-exchange.github.io/docs/v5/ws/connect)
BYBIT_PONG = '{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}'


def liquidation_rows(frames: list[str]) -> int:
    """Rows in the ``data`` of real liquidation frames (a dict or a list of them), counted from JSON."""
    n = 0
    for f in frames:
        data = json.loads(f)["data"]
        n += len(data) if isinstance(data, list) else 1
    return n


def fast_heartbeat(venue, interval_s):
    """Same venue, same specs, heartbeat interval shortened for the test."""

    class Fast(type(venue)):
        def connections(self, symbols=None):
            return [
                dataclasses.replace(s, heartbeat=Heartbeat(interval_s, s.heartbeat.message, s.heartbeat.is_pong))
                for s in super().connections(symbols)
            ]

    return Fast()


async def test_bybit_subscribes_again_after_reconnect():
    expected = get_venue("bybit").connections(SYMBOLS)[0].subscribe
    scripts = [[WaitFor(len(expected)), Send(BYBIT[:4]), Sleep(0.05), Drop()], [WaitFor(len(expected)), Send(BYBIT[4:])]]
    async with LocalWsVenue(scripts) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, symbols=SYMBOLS, **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: len([e for e in events if isinstance(e, Liquidation)]) >= 10, what="10 bybit liquidations")
            h = adapter.health()
    assert venue.connection_count == 2
    assert venue.received[0][: len(expected)] == list(expected)
    assert venue.received[1][: len(expected)] == list(expected)  # resubscribed
    assert venue.paths == ["/v5/public/linear"] * 2
    assert [(g.exchange, g.connection) for g in events if isinstance(g, Gap)] == [("bybit", "linear")]
    assert h.reconnects == 1 and h.event_count == 10


async def test_app_heartbeat_is_sent_and_pongs_are_not_parse_errors():
    venue_obj = fast_heartbeat(get_venue("bybit"), 0.05)
    async with LocalWsVenue([[WaitFor(1), Send(BYBIT)]], responder=lambda m: BYBIT_PONG if '"ping"' in m else None) as venue:
        adapter = ExchangeAdapter(venue_obj, ws_url=venue.url, symbols=SYMBOLS, **FAST)
        async with connected(adapter):
            await wait_until(lambda: venue.messages(0).count('{"op":"ping"}') >= 3, what="3 heartbeats")
            await wait_until(lambda: adapter.health().message_count >= len(BYBIT) + 3, what="pongs received")
            h = adapter.health()
    assert h.parse_errors == 0 and h.event_count == liquidation_rows(BYBIT) == 10


async def test_okx_text_ping_heartbeat_and_pong():
    venue_obj = fast_heartbeat(get_venue("okx"), 0.05)
    okx = tardis_messages("okex-swap")
    async with LocalWsVenue([[WaitFor(1), Send(okx)]], responder=lambda m: "pong" if m == "ping" else None) as venue:
        adapter = ExchangeAdapter(venue_obj, ws_url=venue.url, **FAST)
        async with connected(adapter):
            await wait_until(lambda: venue.messages(0).count("ping") >= 2, what="text pings")
            await wait_until(lambda: adapter.health().message_count >= len(okx) + 2, what="pongs")
            h = adapter.health()
    assert h.parse_errors == 0 and h.event_count == liquidation_rows(okx) == 2


async def test_auto_reply_answers_in_band_heartbeat_requests():
    """Venue.auto_reply is called for every text frame and its answer sent back."""
    base = get_venue("okx")

    class Replying(type(base)):
        def auto_reply(self, data):
            return "ack:" + data[:12] if data.startswith('{"table"') else None

    okx = tardis_messages("okex-swap")  # v3 frames start with {"table"
    async with LocalWsVenue([[WaitFor(1), Send(okx)]]) as venue:
        adapter = ExchangeAdapter(Replying(), ws_url=venue.url, **FAST)
        async with connected(adapter):
            await wait_until(lambda: sum(m.startswith("ack:") for m in venue.messages(0)) == 2, what="2 auto replies")
    assert [m for m in venue.received[0] if m.startswith("ack:")] == ['ack:{"table":"sw'] * 2


async def test_many_subscribe_messages_are_paced():
    import time

    from liqmap.feed.connection import SUBSCRIBE_BURST, SUBSCRIBE_PACE_S

    base = get_venue("okx")
    one = base.subscribe_request(base.connections(None)[0].topics[:1], 1)

    class Many(type(base)):
        def connections(self, symbols=None):
            return [dataclasses.replace(s, subscribe=[one] * (SUBSCRIBE_BURST + 2), topics=()) for s in super().connections(symbols)]

    async with LocalWsVenue([[WaitFor(SUBSCRIBE_BURST + 2)]]) as venue:
        adapter = ExchangeAdapter(Many(), ws_url=venue.url, **FAST)
        t0 = time.monotonic()
        async with connected(adapter):
            await wait_until(lambda: len(venue.messages(0)) == SUBSCRIBE_BURST + 2, what="all subscribes")
            elapsed = time.monotonic() - t0
    assert elapsed >= (SUBSCRIBE_BURST + 1) * SUBSCRIBE_PACE_S * 0.9
