"""Regression: a ``Retry-After: inf`` header (a broken proxy or venue) parked the REST
poller forever (``asyncio.sleep(inf)``). Non-finite values are now invalid, so the poller
falls back to its capped backoff and recovers. Bodies are real Binance forceOrder frames
(tests/fixtures) served by the local HTTP venue."""

from __future__ import annotations

import pytest

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.feed.backoff import RateLimitPolicy
from liqmap.exchanges.registry import get_venue
from liqmap.feed.rest import retry_after_s
from liqmap.models import Liquidation
from localvenue import LocalHttpVenue, Reply, binance_forceorder_frames, connected, wait_until

FRAMES = binance_forceorder_frames()


class RestOnlyBinance(type(get_venue("binance"))):
    """Real Binance parser and REST poll specs, websocket connections switched off."""

    def connections(self, symbols=None):
        return []


async def poll_until_liquidation(url: str):
    adapter = ExchangeAdapter(RestOnlyBinance(), rest_url=url, symbols=["BTCUSDT"], backoff_base=0.05,
                              backoff_cap=0.2, poll_interval=0.05, listing=False, rate_limit=RateLimitPolicy(floor_s=0.05, ban_s=0.2))
    events = []
    adapter.add_listener(events.append)
    async with connected(adapter):
        await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="event after Retry-After: inf")
        pollers = list(adapter.pollers)
    return events, pollers


@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "nan"])
def test_non_finite_retry_after_is_invalid(value):
    assert retry_after_s(value) is None


@pytest.mark.timeout(20)
async def test_retry_after_inf_falls_back_to_backoff_and_recovers():
    replies = [Reply(429, '{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "inf"}), Reply(200, FRAMES[0])]
    async with LocalHttpVenue(replies) as http:
        events, (poller, *_) = await poll_until_liquidation(http.url)
    assert poller.rate_limited == 1 and poller.last_retry_after_s is None
    assert any(isinstance(e, Liquidation) for e in events)
