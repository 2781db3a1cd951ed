"""REST polling: rate limits (429/418 + Retry-After), error backoff, token bucket.

The poller is venue-agnostic: it hands each response body to the venue parser like a
websocket frame. The local HTTP venue serves real Binance forceOrder frames
(tests/fixtures) as bodies so that success is visible as parsed, normalized events.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from liqmap.feed.adapter import ExchangeAdapter
from liqmap.feed.backoff import RateLimitPolicy
from liqmap.exchanges.registry import get_venue
from liqmap.feed.rest import TokenBucket, retry_after_s
from liqmap.models import Gap, Liquidation
from liqmap.settings import get_settings
from localvenue import LocalHttpVenue, Reply, binance_forceorder_frames, connected, wait_until

FRAMES = binance_forceorder_frames()
BinanceUSDM = type(get_venue("binance"))


class RestOnlyBinance(BinanceUSDM):
    """Real Binance parser and REST poll specs, websocket connections switched off."""

    def connections(self, symbols=None):
        return []


def rest_adapter(url, **kw):
    return ExchangeAdapter(RestOnlyBinance(), rest_url=url, symbols=["BTCUSDT"], backoff_base=0.05, backoff_cap=0.2,
                           listing=False, rate_limit=RateLimitPolicy(floor_s=0.05, ban_s=0.2), **kw)  # the polls alone: no instruments listing read first


async def poll_until_liquidation(http, poll_interval, what):
    """Run a REST-only adapter against ``http`` until its first Liquidation.

    Returns (adapter, events, pollers); pollers as they were before disconnect() dropped them.
    """
    adapter = rest_adapter(http.url, poll_interval=poll_interval)
    events = []
    adapter.add_listener(events.append)
    async with connected(adapter):
        await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what=what)
        pollers = list(adapter.pollers)
    return adapter, events, pollers


def frame_order(frame: str) -> dict:
    """The ``o`` object of a real forceOrder frame (read independently of the parser)."""
    msg = json.loads(frame)
    return msg.get("data", msg)["o"]


async def test_429_with_retry_after_is_honoured_then_succeeds():
    replies = [Reply(429, '{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "0.4"}), Reply(200, FRAMES[0])]
    async with LocalHttpVenue(replies) as http:
        adapter, events, (poller, *_) = await poll_until_liquidation(http, 0.05, "event after 429")
    (t0, path0), (t1, _) = http.requests[:2]
    assert path0 == "/fapi/v1/openInterest?symbol=BTCUSDT"  # venue path kept under the override host
    assert t1 - t0 >= 0.4  # waited at least Retry-After
    assert poller.rate_limited == 1 and poller.last_retry_after_s == pytest.approx(0.4)
    liq = next(e for e in events if isinstance(e, Liquidation))
    o = frame_order(FRAMES[0])  # a SELL order closes a long position (Binance forceOrder)
    assert (liq.symbol, liq.side, liq.quantity) == (o["s"], {"SELL": "long", "BUY": "short"}[o["S"]], float(o["q"]))
    h = adapter.health()
    assert h.error_count == 1 and h.message_count >= 1 and h.parse_errors == 0


async def test_418_without_retry_after_backs_off_and_recovers():
    replies = [Reply(418, '{"code":-1003,"msg":"banned"}'), Reply(500, "oops"), Reply(200, FRAMES[1])]
    async with LocalHttpVenue(replies) as http:
        adapter, events, _ = await poll_until_liquidation(http, 0.05, "event after errors")
    assert [e.symbol for e in events if isinstance(e, Liquidation)][0] == frame_order(FRAMES[1])["s"]
    assert adapter.health().error_count == 2


async def test_unparseable_body_counts_parse_error_and_polling_continues():
    replies = [Reply(200, "<html>maintenance</html>"), Reply(200, FRAMES[2])]
    async with LocalHttpVenue(replies) as http:
        adapter, events, _ = await poll_until_liquidation(http, 0.02, "event after bad body")
    assert adapter.health().parse_errors == 1  # only the first reply was not JSON
    assert [e.symbol for e in events if isinstance(e, Liquidation)][0] == frame_order(FRAMES[2])["s"]


async def test_token_bucket_spaces_requests_per_venue_budget():
    async with LocalHttpVenue([Reply(200, FRAMES[3])]) as http:
        # budget 600 weight/min = 10 requests/s; poll_interval 0 => the bucket alone paces requests
        adapter = rest_adapter(http.url, poll_interval=0.0, rest_limit_per_min=600)
        await adapter.connect()
        adapter.pollers[0].rest.bucket.tokens = 0.0  # burst spent before the first request
        await asyncio.sleep(0.55)
        n = len(http.requests)
        await adapter.disconnect()
    # ~5 at 10/s; without the bucket this loop would make hundreds. The upper bound is the
    # property under test; the lower bound only proves the bucket refills, and is loose
    # because a loaded 2-core machine may delay the poller's wake-ups (never speed them up).
    assert 2 <= n <= 6, n


async def test_token_bucket_wait_math():
    b = TokenBucket(capacity=2, refill_per_s=20)
    t = time.monotonic()
    await b.acquire()
    await b.acquire()
    waited = await b.acquire()  # empty: 1 token at 20/s = 50 ms
    # lower bound is the property; the upper one is loose (a loaded machine oversleeps)
    assert 0.04 <= time.monotonic() - t < 2.0 and 0 < waited < 0.06  # ~1 token at 20/s
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_retry_after_parsing():
    assert retry_after_s("7") == 7.0
    assert retry_after_s("0.25") == 0.25
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


def test_binance_poll_interval_is_venue_data_and_overridable():
    polls = get_venue("binance").rest_polls(["BTCUSDT", "ETHUSDT"])
    assert [p.interval_s for p in polls] == [get_settings().binance_poll_interval] * 2  # BINANCE_POLL_INTERVAL
    assert ExchangeAdapter("binance", rest=False).poll_interval is None  # each poll's own interval
    assert ExchangeAdapter("binance", poll_interval=3, rest=False).poll_interval == 3


async def test_poll_interval_applies_to_every_poll():
    async with LocalHttpVenue([Reply(200, FRAMES[4])]) as http:
        adapter = rest_adapter(http.url, poll_interval=0.1)
        await adapter.connect()
        await wait_until(lambda: len(http.requests) >= 3, what="3 polls")
        await adapter.disconnect()
    gaps = [b[0] - a[0] for a, b in zip(http.requests, http.requests[1:])]
    assert all(g >= 0.09 for g in gaps)


async def test_local_ws_url_without_rest_url_never_polls_the_real_venue():
    adapter = ExchangeAdapter("bitmex", ws_url="ws://127.0.0.1:9", max_retries=1, backoff_base=0.05)
    assert adapter.venue.rest_polls(None)  # BitMEX does declare a REST poll...
    async with connected(adapter):
        assert adapter.pollers == []  # ...but it is off against a loopback venue
        assert "REST polls off" in adapter.health().note


async def test_a_run_of_failed_polls_is_recorded_as_a_gap_of_that_series():
    """Answers, then 503s for longer than two intervals, then answers again: one Gap named by
    the poll (its series: open interest of BTCUSDT) from the last answer to the next."""
    replies = [Reply(200, FRAMES[0])] + [Reply(503, "busy")] * 4 + [Reply(200, FRAMES[1])]
    async with LocalHttpVenue(replies) as http:
        adapter = rest_adapter(http.url, poll_interval=0.05)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: any(isinstance(e, Gap) for e in events), what="gap after the 503s")
    (gap,) = [e for e in events if isinstance(e, Gap)]
    assert (gap.exchange, gap.connection, gap.reason) == ("binance", "oi:BTCUSDT", "rest")
    assert gap.end - gap.start >= 100  # the 503 run, at least two 50 ms intervals
    assert adapter.health().gaps == 1
    liqs = [e for e in events if isinstance(e, Liquidation)]
    assert liqs[0].timestamp <= liqs[-1].timestamp and len(liqs) >= 2
