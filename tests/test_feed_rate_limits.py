"""Rate limits on the websocket handshake (and the REST floor): a venue answering HTTP 429 /
418 is not asked again before its ``Retry-After``, never sooner than the floor.

The local venue refuses the first handshakes with the status, then upgrades and sends the
real Binance ``!forceOrder@arr`` frames (tests/fixtures). Backoff is tiny (10-20 ms), so a
connect path that ignored the status would retry within milliseconds (the issue measured
20-140 ms against the real code before the fix).
"""

from __future__ import annotations

import pytest

from liqmap.exchanges.registry import get_venue
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.feed.backoff import RateLimitPolicy
from liqmap.models import Liquidation
from localvenue import LocalHttpVenue, LocalWsVenue, Reply, Send, binance_forceorder_frames, connected, wait_until

FRAMES = binance_forceorder_frames()
POLICY = RateLimitPolicy(floor_s=0.3, ban_s=0.8)
FAST = dict(ws_timeout=5.0, backoff_base=0.01, backoff_cap=0.02, rest=False, ping_interval_s=None, rate_limit=POLICY)


def liqs(events):
    return [e for e in events if isinstance(e, Liquidation)]


def test_policy_honours_retry_after_with_a_floor():
    p = RateLimitPolicy(floor_s=5.0, ban_s=120.0)
    assert p.wait_s(429, 30.0, 0.1) == 30.0  # the venue's wait
    assert p.wait_s(429, 0.0, 0.1) == 5.0  # "Retry-After: 0" -> the floor
    assert p.wait_s(429, None, 0.1) == 5.0  # absent: backoff, at least the floor
    assert p.wait_s(429, None, 9.0) == 9.0
    assert p.wait_s(418, None, 0.1) == 120.0  # a ban without Retry-After: two minutes
    assert p.wait_s(418, 600.0, 0.1) == 600.0


async def run_until_events(venue, n=42, timeout_s=8.0):
    adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
    events = []
    adapter.add_listener(events.append)
    async with connected(adapter):
        await wait_until(lambda: len(liqs(events)) >= n, timeout_s=timeout_s, what=f"{n} liquidations")
        health = adapter.health()
    return events, health


@pytest.mark.timeout(30)
async def test_handshake_429_waits_retry_after_then_streams():
    async with LocalWsVenue([[Send(FRAMES)]], refuse=[(429, {"Retry-After": "1"})]) as venue:
        events, h = await run_until_events(venue)
    t = venue.handshakes
    assert len(t) == 2 and t[1] - t[0] >= 1.0  # not a millisecond retry
    got = liqs(events)
    assert len(got) == 42 and got[0].symbol == "SOLUSDT"  # the real first frame, after the wait
    assert h.rate_limited == 1 and h.error_count >= 1 and "429" in h.note


@pytest.mark.timeout(30)
async def test_retry_after_zero_waits_the_floor_and_418_without_header_waits_the_ban():
    refuse = [(429, {"Retry-After": "0"}), (418, {})]
    async with LocalWsVenue([[Send(FRAMES)]], refuse=refuse) as venue:
        _events, h = await run_until_events(venue)
    t = venue.handshakes
    assert len(t) == 3
    assert t[1] - t[0] >= POLICY.floor_s  # "Retry-After: 0" is not "now"
    assert t[2] - t[1] >= POLICY.ban_s  # a 418 without Retry-After waits the ban
    assert h.rate_limited == 2


@pytest.mark.timeout(30)
async def test_other_handshake_errors_keep_the_fast_backoff():
    """A 503 is not a rate limit: the ordinary backoff applies (the floor is for 429/418 only)."""
    async with LocalWsVenue([[Send(FRAMES)]], refuse=[(503, {}), (503, {})]) as venue:
        _events, h = await run_until_events(venue)
    t = venue.handshakes
    assert len(t) == 3 and t[2] - t[0] < POLICY.floor_s
    assert h.rate_limited == 0


class RestOnlyBinance(type(get_venue("binance"))):
    """Real Binance parser and REST poll specs, websocket connections switched off."""

    def connections(self, symbols=None):
        return []


@pytest.mark.timeout(20)
async def test_rest_retry_after_zero_waits_the_floor():
    replies = [Reply(429, '{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "0"}), Reply(200, FRAMES[0])]
    async with LocalHttpVenue(replies) as http:
        adapter = ExchangeAdapter(RestOnlyBinance(), rest_url=http.url, symbols=["BTCUSDT"], backoff_base=0.01,
                                  backoff_cap=0.02, poll_interval=0.05, listing=False, rate_limit=POLICY)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: liqs(events), what="event after the 429")
            h = adapter.health()
    (t0, _), (t1, _) = http.requests[:2]
    assert t1 - t0 >= POLICY.floor_s and h.rate_limited == 1


@pytest.mark.timeout(30)
async def test_gap_backfill_waits_the_floor_after_a_429(tmp_path, monkeypatch):
    """The real 2020-03-13 Deribit liquidation trades (tests/test_parse_deribit.py): the gap's
    history request is answered 429 with "Retry-After: 0" first; the retry waits the floor."""
    from test_parse_deribit import _history_body
    from test_parse_fixtures import compact, tardis_messages
    from venue_live import live_gap_backfill

    msgs = [r["message"] for r in tardis_messages("deribit")]
    rows = [m["params"]["data"][0] for m in msgs]
    gap = (rows[0]["timestamp"] + 50, rows[1]["timestamp"] + 2_000)
    limited = Reply(429, '{"error":{"code":10028,"message":"too_many_requests"}}', {"Retry-After": "0"})
    run, rest = await live_gap_backfill("deribit", [compact(msgs[0])], [], [limited, _history_body(rows)], gap,
                                        tmp_path, monkeypatch, symbols=["BTC-PERPETUAL"], rate_limit=POLICY)
    (t0, _), (t1, _) = rest.requests[:2]
    assert t1 - t0 >= POLICY.floor_s
    assert run.health.gaps_filled == 1 and run.health.rate_limited == 1
    assert [e.id for e in run.liquidations()][-1] == "deribit:BTC-PERPETUAL:66460626"  # from the history


@pytest.mark.timeout(30)
async def test_a_429_reaches_the_metrics():
    """The handshake refused with 429 counts in ``/metrics`` as ``liqmap_rate_limited_total``
    (it was only in ``/health``), through the aggregator's per-venue totals; a later, lower
    total (a restarted feed) never makes the counter go down."""
    from liqmap.api.metrics import Metrics
    from liqmap.feed.aggregator import ExchangeAggregator

    async with LocalWsVenue([[Send(FRAMES)]], refuse=[(429, {"Retry-After": "1"})]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        agg = ExchangeAggregator(["binance"], adapter_overrides={"binance": adapter})
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 42, timeout_s=8.0, what="42 liquidations")
            totals = agg.rate_limited()
    assert totals == {"binance": 1}
    m = Metrics()
    m.set_rate_limited(totals)
    m.set_rate_limited({"binance": 0})
    text = m.render().decode()
    assert 'liqmap_rate_limited_total{exchange="binance"} 1.0' in text
