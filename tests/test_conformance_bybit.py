"""Bybit against a local venue that answers like Bybit (#16, #14): one answer per request
echoing ``req_id``, the real rejection shape for a request naming an unlisted symbol, a
connection that goes quiet after a rejection; symbols validated against (and all-market
coverage taken from) the paged instruments listing, refreshed without a restart.
Data: the real v5 ``allLiquidation`` frame of tardis-node's tests (PIPPINUSDT)."""

from __future__ import annotations

import json

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Gap, Liquidation
from localvenue import LocalWsVenue, Send, Silence, Sleep, WaitFor, connected, tardis_messages, wait_until
from venue_answers import BybitAnswers, LocalListing, bybit_instruments

LIQ = [m for m in tardis_messages("bybit") if '"allLiquidation.' in m]  # PIPPINUSDT, 2025-02-25
FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None, overlap_s=0.2)


def liqs(events):
    return [e for e in events if isinstance(e, Liquidation)]


async def test_partly_invalid_request_rejected_as_a_whole_valid_topics_still_subscribed_after_quiet_socket():
    """HYPEUSD (the guessed inverse contract of "HYPE") is not listed: Bybit refuses each
    request naming it as a whole, and (third-party report) the socket then goes quiet while
    still answering; the feed retries BTCUSD's topics alone, renews the socket without
    HYPEUSD (no gap), and BTCUSD's liquidations flow."""
    inverse = [m for m in tardis_messages("bybit") if '"liquidation.BTCUSD"' in m]  # real, 2020-2021
    answers = BybitAnswers(listed={"BTCUSD"})
    quiet = [WaitFor(1), Silence()]  # answers requests, never sends data
    fine = [WaitFor(1), Sleep(0.2), Send(inverse)]
    async with LocalWsVenue([quiet, fine], answer=answers) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, symbols=["BTCUSD", "HYPEUSD"], **FAST)
        events = []
        adapter.add_listener(events.append)
        await adapter.connect()
        try:
            await wait_until(lambda: len(liqs(events)) >= 2, timeout_s=10, what="liquidations after the rotation")
            h = adapter.health()
        finally:
            await adapter.disconnect()
    assert venue.paths == ["/v5/public/inverse"] * 2 and h.rotations == {"rejection": 1}
    assert not [e for e in events if isinstance(e, Gap)] and h.gaps == 0
    assert h.rejected["allLiquidation.HYPEUSD"] == "error:handler not found,topic:allLiquidation.HYPEUSD"
    assert set(h.rejected) == {"allLiquidation.HYPEUSD", "publicTrade.HYPEUSD", "tickers.HYPEUSD"}
    assert (h.subscribed, h.requested) == (3, 6) and h.connections == {"inverse": "connected"}
    renewed = [a for m in venue.messages(1) for a in json.loads(m).get("args", [])]
    assert sorted(renewed) == ["allLiquidation.BTCUSD", "publicTrade.BTCUSD", "tickers.BTCUSD"]
    assert {e.symbol for e in liqs(events)} == {"BTCUSD"}


async def test_one_bad_linear_symbol_rotates_its_socket_and_keeps_the_others():
    answers = BybitAnswers(listed={"PIPPINUSDT", "BTCUSDT"})
    async with LocalWsVenue([[WaitFor(1), Silence()], [WaitFor(1), Sleep(0.2), Send(LIQ)]], answer=answers) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, symbols=["BTCUSDT", "NOPEUSDT", "PIPPINUSDT"], **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: liqs(events), timeout_s=10, what="liquidations on the new socket")
            # the data can overtake the last acknowledgements of the renewed socket
            await wait_until(lambda: adapter.health().subscribed == 6, timeout_s=10, what="6 acknowledged topics")
            h = adapter.health()
    first = json.loads(venue.messages(0)[0])
    assert first["args"] == ["allLiquidation.BTCUSDT", "allLiquidation.NOPEUSDT", "allLiquidation.PIPPINUSDT"]
    assert first["req_id"]
    # after the rejection: the two valid liquidation topics were sent alone, then the socket rotated
    assert h.rotations == {"rejection": 1} and h.gaps == 0 and venue.connection_count == 2
    new_args = [a for m in venue.messages(1) for a in json.loads(m).get("args", [])]
    assert "allLiquidation.NOPEUSDT" not in new_args and "allLiquidation.PIPPINUSDT" in new_args
    assert set(h.rejected) == {"allLiquidation.NOPEUSDT", "publicTrade.NOPEUSDT", "tickers.NOPEUSDT"}
    assert (h.subscribed, h.requested) == (6, 9) and h.connections == {"linear": "connected"}


async def test_listing_filters_symbols_and_all_market_comes_from_it_refreshed_without_restart():
    listing = {"linear": ["BTCUSDT", "PIPPINUSDT"]}
    routes = {
        "/v5/market/instruments-info?category=linear&status=Trading&limit=1000&cursor=p2":
            lambda: bybit_instruments("linear", listing["linear"][1:]),
        "/v5/market/instruments-info?category=linear": lambda: bybit_instruments("linear", listing["linear"][:1], "p2"),
        "/v5/market/instruments-info?category=inverse": lambda: bybit_instruments("inverse", ["BTCUSD"]),
    }
    answers = BybitAnswers(listed={"BTCUSDT", "PIPPINUSDT", "BTCUSD", "ETHUSDT"})
    async with LocalListing(routes) as rest, LocalWsVenue([[WaitFor(1), Sleep(0.2), Send(LIQ)]], answer=answers) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, rest_url=rest.url, listing=True, listing_refresh_s=0.3, **FAST)
        adapter.venue.rest_polls = lambda symbols=None: []  # listing only, no OI polls
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().subscribed == 6, what="6 topics of 3 listed symbols")
            listing["linear"] = ["BTCUSDT", "ETHUSDT", "PIPPINUSDT"]  # a new listing
            await wait_until(lambda: adapter.health().subscribed == 8, what="the new listing subscribed")
            await wait_until(lambda: liqs(events), what="data")
            h = adapter.health()
    assert any("cursor=p2" in p for p in rest.requests)  # the second page was read
    assert venue.connection_count == 2  # linear + inverse, no restart for the new listing
    sent = [a for i in range(2) for m in venue.messages(i) for a in json.loads(m).get("args", [])]
    assert {"allLiquidation.BTCUSDT", "allLiquidation.PIPPINUSDT", "allLiquidation.BTCUSD", "allLiquidation.ETHUSDT"} <= set(sent)
    assert h.listed == 4 and h.rejected == {} and h.is_connected


async def test_symbols_the_listing_lacks_are_not_requested():
    routes = {"/v5/market/instruments-info?category=linear": bybit_instruments("linear", ["BTCUSDT", "HYPEUSDT"]),
              "/v5/market/instruments-info?category=inverse": bybit_instruments("inverse", ["BTCUSD"])}
    async with LocalListing(routes) as rest, LocalWsVenue([[WaitFor(1)]], answer=BybitAnswers()) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, rest_url=rest.url, listing=True,
                                  symbols=["HYPEUSDT", "HYPEUSD", "HYPEPERP"], **FAST)  # the guess of "HYPE"
        async with connected(adapter):
            await wait_until(lambda: adapter.health().subscribed == 3, what="HYPEUSDT topics")
            h = adapter.health()
    assert h.not_listed == ["HYPEUSD", "HYPEPERP"] and h.requested == 3 and venue.connection_count == 1
    assert all("HYPEUSDT" in a for m in venue.messages(0) for a in json.loads(m).get("args", []))
