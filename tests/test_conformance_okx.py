"""OKX against a local venue that answers like OKX (#16): per-arg acks echoing ``id``, the
real 60018 rejection of an unlisted instrument, the 64008 restart notice, the port-443
fallback. Data: the real v5 ``liquidation-orders`` frame of tardis-node's tests."""

from __future__ import annotations

import json

from liqmap.exchanges.okx import OKX, WS_URL, WS_URL_443
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Gap, Liquidation
from localvenue import Close, LocalWsVenue, Send, Sleep, WaitFor, connected, tardis_messages, wait_until
from venue_answers import OKX_NOTICE, OkxAnswers

LIQ = [m for m in tardis_messages("okex-futures") if '"liquidation-orders"' in m]
FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None, overlap_s=0.2)


def events_of(adapter):
    out = []
    adapter.add_listener(out.append)
    return out


async def test_unlisted_instrument_is_rejected_alone_and_the_liquidation_topic_stays_subscribed():
    answers = OkxAnswers(listed={"BTC-USDT-SWAP"})
    async with LocalWsVenue([[WaitFor(2), Send(LIQ)]], answer=answers) as venue:
        adapter = ExchangeAdapter("okx", ws_url=venue.url, symbols=["BTC-USDT-SWAP", "HYPE-USD-SWAP"], **FAST)
        events = events_of(adapter)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().rejections >= 5, what="5 rejections")
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="the liquidation")
            h = adapter.health()
    first = json.loads(venue.messages(0)[0])
    assert [a["channel"] for a in first["args"]] == ["liquidation-orders", "liquidation-orders"]  # alone
    assert first["id"] and all(json.loads(m).get("id") for m in venue.messages(0))
    # 2 liquidation-orders + 5 per swap (trades, tickers, mark-price, open-interest, funding-rate)
    assert h.requested == 12 and h.subscribed == 7
    assert set(h.rejected) == {f"{c}:HYPE-USD-SWAP"
                               for c in ("trades", "tickers", "mark-price", "open-interest", "funding-rate")}
    assert all(r.startswith("60018: Subscribe failed") for r in h.rejected.values())
    assert h.connections == {"public": "connected"} and h.is_connected and h.parse_errors == 0


async def test_restart_notice_rotates_make_before_break_without_a_gap():
    """64008 on the first socket: the second is subscribed before the first closes."""
    first = [WaitFor(1), Send(LIQ[:1]), Sleep(0.2), Send([OKX_NOTICE]), Sleep(3.0), Close(1001)]
    second = [WaitFor(1), Sleep(0.3), Send(LIQ[1:] or LIQ[:1])]
    async with LocalWsVenue([first, second], answer=OkxAnswers()) as venue:
        adapter = ExchangeAdapter("okx", ws_url=venue.url, **FAST)
        events = events_of(adapter)
        async with connected(adapter):
            await venue.wait_connections(2)
            await wait_until(lambda: len(venue.sent) > 1 and venue.sent[1] >= 1, what="data on the new socket")
            await wait_until(lambda: adapter.health().rotations.get("restart") == 1, what="rotation")
            h = adapter.health()
    assert not [e for e in events if isinstance(e, Gap)] and h.gaps == 0 and h.reconnects == 0
    assert len([e for e in events if isinstance(e, Liquidation)]) >= 1
    assert h.connections == {"public": "connected"} and h.subscribed == h.requested == 2
    # the new socket was subscribed (both liquidation topics acked) while the old was open
    assert len(venue.messages(1)) >= 1 and "liquidation-orders" in venue.messages(1)[0]


async def test_unanswered_liquidation_topic_is_not_ok_even_with_pongs():
    """A venue that answers pings but never acknowledges: never "connected"."""
    class Quick(OKX):
        ack_timeout_s = 0.2

    async with LocalWsVenue([[WaitFor(1)]], responder=lambda m: "pong" if m == "ping" else None) as venue:
        adapter = ExchangeAdapter(Quick(), ws_url=venue.url, **FAST)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().connections.get("public") == "unsubscribed", what="unsubscribed")
            await wait_until(lambda: len(venue.messages(0)) >= 5, what="5 requests")
            h = adapter.health()
    assert not h.is_connected and h.subscribed == 0 and h.requested == 2
    assert all("no answer after 3 attempts" in r for r in h.rejected.values())
    assert len(venue.messages(0)) == 5  # one request, then each topic alone twice more


def test_documented_websocket_url_first_port_443_as_fallback():
    spec = OKX().connections()[0]
    assert spec.url == WS_URL == "wss://ws.okx.com:8443/ws/v5/public"
    assert tuple(spec.fallback_urls) == (WS_URL_443,) == ("wss://ws.okx.com/ws/v5/public",)
    assert OKX().rest_url == "https://openapi.okx.com" and OKX.rest_fallbacks == ("https://www.okx.com",)
    assert OKX().rest_polls()[0].fallback_urls[0].startswith("https://www.okx.com/")


async def test_connection_falls_back_when_the_first_url_refuses():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"ws://127.0.0.1:{s.getsockname()[1]}/ws/v5/public"  # bound, not listening: refused
    async with LocalWsVenue([[WaitFor(1), Send(LIQ[:1])]], answer=OkxAnswers()) as venue:
        class Local(OKX):
            def connections(self, symbols=None):
                import dataclasses

                return [dataclasses.replace(c, url=dead, fallback_urls=(venue.url + "/ws/v5/public",))
                        for c in super().connections(symbols)]  # fmt: skip

        adapter = ExchangeAdapter(Local(), **FAST)
        events = events_of(adapter)
        async with connected(adapter):
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="data via the fallback")
            h = adapter.health()
            s.close()
    assert venue.paths == ["/ws/v5/public"] and h.is_connected
