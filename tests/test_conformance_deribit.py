"""Deribit (#16, #14): every listed perpetual and future of every currency subscribed from
the ``get_instruments?currency=any&kind=future`` listing; subscribe answers listing the
channels got (a channel missing from ``result`` is refused and shown). Data: the real
BTC-PERPETUAL liquidation trades of tardis-node's tests."""

from __future__ import annotations

import json

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Liquidation
from localvenue import LocalWsVenue, Send, WaitFor, connected, tardis_messages, wait_until
from venue_answers import DeribitAnswers, LocalListing, deribit_instruments

FRAMES = tardis_messages("deribit")
FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, ping_interval_s=None)
LISTED = ["BTC-PERPETUAL", "BTC-27MAR26", "ETH-PERPETUAL", "ETH-26JUN26", "SOL_USDC-PERPETUAL", "XRP_USDC-PERPETUAL"]


async def test_all_market_is_every_listed_future_and_perpetual_and_missing_channels_are_refused():
    ws_listed = set(LISTED) - {"XRP_USDC-PERPETUAL"}  # listed by REST, unknown to this websocket
    routes = {"/api/v2/public/get_instruments?currency=any&kind=future&expired=false": deribit_instruments(LISTED)}
    async with LocalListing(routes) as rest, LocalWsVenue([[WaitFor(2), Send(FRAMES)]], answer=DeribitAnswers(ws_listed)) as venue:
        adapter = ExchangeAdapter("deribit", ws_url=venue.url, rest_url=rest.url, **FAST)
        adapter.venue.rest_polls = lambda symbols=None: []  # websocket only
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().subscribed == 10, what="10 channels")
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="liquidations")
            h = adapter.health()
    sent = [json.loads(m) for m in venue.messages(0)]
    assert sent[0]["method"] == "public/set_heartbeat"
    channels = [c for m in sent[1:] for c in m["params"]["channels"]]
    assert sorted(channels) == sorted(f"{k}.{n}.100ms" for n in LISTED for k in ("trades", "ticker"))
    liq_request = sent[1]["params"]["channels"]
    assert all(c.startswith("trades.") for c in liq_request)  # liquidation source alone
    assert h.listed == 6 and h.requested == 12
    assert h.rejected == {f"{k}.XRP_USDC-PERPETUAL.100ms": "not in the venue's subscribe result" for k in ("trades", "ticker")}
    assert h.connections == {"ws": "connected"}  # the other liquidation channels are acknowledged
