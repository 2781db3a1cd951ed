"""Quiet streams (#16): heartbeat replies prove a socket alive but are not data; a
liquidation-only stream may be silent for long (no false gap); a stream that stays
silent past its kind's threshold is renewed make-before-break (no gap either)."""

from __future__ import annotations

import dataclasses

from liqmap.exchanges.base import Heartbeat
from liqmap.exchanges.binance import BinanceCoinM
from liqmap.exchanges.okx import OKX
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Gap, Liquidation
from localvenue import LocalWsVenue, Send, Silence, Sleep, WaitFor, connected, tardis_messages, wait_until
from venue_answers import BinanceAnswers, OkxAnswers

COINM = tardis_messages("binance-delivery")  # one real BTCUSD_200925 forceOrder (2020-07-13)
OKX_LIQ = [m for m in tardis_messages("okex-futures") if '"liquidation-orders"' in m]


def quick_heartbeat(cls, interval_s, **attrs):
    """The venue with a short heartbeat interval (and class attributes) for the test."""

    class Quick(cls):
        def connections(self, symbols=None):
            return [dataclasses.replace(c, heartbeat=Heartbeat(interval_s, c.heartbeat.message, c.heartbeat.is_pong))
                    for c in super().connections(symbols)]  # fmt: skip

    for k, v in attrs.items():
        setattr(Quick, k, v)
    return Quick()


async def test_coinm_force_order_only_connection_stays_quiet_without_a_false_gap():
    """Binance COIN-M ``!forceOrder@arr`` alone, silent for 6x the liveness watchdog: the
    LIST_SUBSCRIPTIONS answers keep it alive, they are not data, and nothing reconnects."""
    answers = BinanceAnswers()
    answers.streams = [["!forceOrder@arr"]]
    async with LocalWsVenue([[Send(COINM), Silence()]], answer=answers) as venue:
        adapter = ExchangeAdapter(quick_heartbeat(BinanceCoinM, 0.1), ws_url=venue.url, ws_timeout=0.5,
                                  backoff_base=0.05, rest=False, ping_interval_s=None)  # fmt: skip
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="the liquidation")
            await wait_until(lambda: (adapter.health().last_data_age_s or 0) > 3.0, what="3 s without data")
            h = adapter.health()
    assert venue.connection_count == 1 and h.gaps == 0 and h.reconnects == 0 and h.rotations == {}
    assert not [e for e in events if isinstance(e, Gap)]
    assert h.connections == {"coinm": "connected"} and (h.subscribed, h.requested) == (1, 1)
    assert h.last_message_age_s < 0.5 < h.last_data_age_s  # replies arrive, data does not
    assert len(answers.answered[0]) >= 10


async def test_silence_past_the_threshold_renews_the_stream_make_before_break():
    """OKX answers every ping with pong but its data went quiet: pongs do not count as data;
    after the (shortened) liquidation silence threshold the socket is renewed, no gap."""
    venue_obj = quick_heartbeat(OKX, 0.1, silence_s={"liquidations": 1.0})
    first = [WaitFor(1), Send(OKX_LIQ), Silence()]
    second = [WaitFor(1), Sleep(0.2), Send(OKX_LIQ)]
    async with LocalWsVenue([first, second], answer=OkxAnswers()) as venue:
        adapter = ExchangeAdapter(venue_obj, ws_url=venue.url, ws_timeout=5.0, backoff_base=0.05, rest=False,
                                  ping_interval_s=None, overlap_s=0.1)  # fmt: skip
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().rotations.get("silent") == 1, what="a silent rotation")
            await wait_until(lambda: len(venue.sent) > 1 and venue.sent[1] >= 1, what="data on the new socket")
            h = adapter.health()
    assert sum(m == "ping" for m in venue.messages(0)) >= 5  # pongs kept coming, still renewed
    assert h.gaps == 0 and not [e for e in events if isinstance(e, Gap)]
    assert h.connections == {"public": "connected"}
