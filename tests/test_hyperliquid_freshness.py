"""Hyperliquid liquidator accounts (issue #12 item 7; configuring and checking them is tested in
test_conformance_hyperliquid.py): a health warning when no liquidation arrived for longer than
the venue's ``liquidation_silence_s`` (24 h; here shortened to 0.4 s on an instance). The local
venue sends the real 2023 ETH trade frames (no liquidation), then a ``userFills`` frame rebuilt
from one of the 62 real liquidation fills (tests/test_parse_hyperliquid.py)."""

from __future__ import annotations

import json

from liqmap.exchanges.registry import get_venue
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Liquidation
from localvenue import LocalWsVenue, Send, Sleep, WaitFor, connected, hyperliquid_trade_frames, wait_until
from test_parse_hyperliquid import liquidation_frames

FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)


async def test_no_liquidation_for_longer_than_the_limit_warns_until_one_arrives():
    venue_obj = get_venue("hyperliquid")
    venue_obj.liquidation_silence_s = 0.4  # instead of 24 h
    fills = liquidation_frames()["hyperliquid (rebuilt fills)"]
    fill = next(f for f in fills if json.loads(f)["data"]["fills"][0]["coin"] != "ETH")
    script = [WaitFor(1), Send(hyperliquid_trade_frames(20)), Sleep(1.0), Send([fill])]
    async with LocalWsVenue([script]) as venue:
        adapter = ExchangeAdapter(venue_obj, ws_url=venue.url, **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            assert adapter.health().warnings == []  # just started
            await wait_until(lambda: adapter.health().warnings, timeout_s=3, what="the silence warning")
            (warning,) = adapter.health().warnings
            assert warning.startswith("no liquidation for") and "vaultDetails" in warning
            assert "LIQMAP_HYPERLIQUID_LIQUIDATORS" in warning
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), timeout_s=5, what="the fill")
            assert adapter.health().warnings == []  # a liquidation arrived: fresh again
            assert adapter.health().event_count >= 21
