"""Websocket connection layer: real adapter code against a local venue replaying real frames.

Frames: the 42 real Binance ``!forceOrder@arr`` events (tests/fixtures). Faults are
injected by tests/localvenue.py; timeouts are tiny (watchdog 0.3 s, backoff base 0.05 s).
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest

from liqmap.feed.adapter import ExchangeAdapter, override_url
from liqmap.exchanges.registry import get_venue
from liqmap.feed import health as health_mod
from liqmap.models import Gap, Liquidation
from localvenue import (Close, Drop, LocalWsVenue, Send, Silence, Sleep, binance_forceorder_frames, connected,
                        wait_until)

FRAMES = binance_forceorder_frames()
FAST = dict(ws_timeout=0.3, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)


def expected_ids(frames):
    venue = get_venue("binance")
    ids = []
    for f in frames:
        ids += [e.id for e in venue.parse(f, 0)]
    return ids


def collect(adapter):
    out = []
    adapter.add_listener(out.append)
    return out


def liqs(events):
    return [e for e in events if isinstance(e, Liquidation)]


def test_fixture_has_42_frames():
    assert len(FRAMES) == 42


async def test_events_arrive_normalized_through_real_adapter():
    async with LocalWsVenue([[Send(FRAMES)]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        events = collect(adapter)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 42, what="42 liquidations")
    got = liqs(events)
    assert [e.id for e in got] == expected_ids(FRAMES)
    first = got[0]  # SOLUSDT SELL 41.87 @ ap 222.72, T 1759417432056
    assert (first.exchange, first.symbol, first.base, first.quote) == ("binance", "SOLUSDT", "SOL", "USDT")
    assert first.side == "long" and first.order_side == "SELL"
    assert first.quantity == pytest.approx(41.87) and first.price == pytest.approx(222.72)
    assert first.value_usd == pytest.approx(41.87 * 222.72)
    assert first.timestamp == 1759417432056
    assert first.received_at > first.timestamp  # stamped at receipt, ms UTC
    # the URL override kept the venue's stream path (subscription lives in the URL for Binance)
    assert venue.paths[0] == "/market/stream?streams=!forceOrder@arr"
    h = adapter.health()
    assert h.message_count == 42 and h.event_count == 42 and h.parse_errors == 0
    assert h.reconnects == 0 and h.gaps == 0
    assert h.latency_ms is not None and h.latency_ms > 0
    assert h.rest_liquidations is False and "no public REST liquidation" in h.note


async def test_drop_mid_stream_reconnects_resubscribes_and_emits_gap():
    first, second = FRAMES[:20], FRAMES[20:]
    async with LocalWsVenue([[Send(first), Sleep(0.05), Drop()], [Send(second)]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        events = collect(adapter)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 42, what="all 42 liquidations after reconnect")
            h = adapter.health()
    assert venue.connection_count == 2
    assert venue.paths == ["/market/stream?streams=!forceOrder@arr"] * 2  # re-subscribed on reconnect
    gaps = [e for e in events if isinstance(e, Gap)]
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.exchange, gap.connection, gap.reason) == ("binance", "usdm", "closed")
    last_before = liqs(events)[19].received_at
    first_after = liqs(events)[20].received_at
    assert gap.start >= last_before and gap.start <= gap.end <= first_after
    # gap sits between the two halves in the emitted order
    idx = events.index(gap)
    assert all(isinstance(e, Liquidation) for e in events[:idx]) and len(events[:idx]) == 20
    assert [e.id for e in liqs(events)] == expected_ids(FRAMES)
    assert h.reconnects == 1 and h.gaps == 1 and h.error_count >= 1
    assert h.is_connected


async def test_clean_server_close_is_also_a_gap():
    async with LocalWsVenue([[Send(FRAMES[:3]), Close()], [Send(FRAMES[3:6])]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        events = collect(adapter)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 6, what="6 liquidations")
    assert [g.reason for g in events if isinstance(g, Gap)] == ["closed"]


async def test_silent_stream_triggers_watchdog_reconnect():
    async with LocalWsVenue([[Send(FRAMES[:5]), Silence()], [Send(FRAMES[5:10])]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        events = collect(adapter)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 10, what="frames after watchdog reconnect")
            h = adapter.health()
    gaps = [e for e in events if isinstance(e, Gap)]
    assert [g.reason for g in gaps] == ["stale"]
    # the watchdog fired ~0.3 s after the last frame, not earlier
    assert gaps[0].end - gaps[0].start >= 300
    assert venue.connection_count == 2 and h.reconnects == 1


async def test_malformed_frames_are_counted_and_feed_continues(caplog):
    bad = ['{"e":"forceOrder","E":1,"o":', "not json at all", '{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"SIDEWAYS","p":"1","z":"1","T":1}}']
    script = [Send(FRAMES[:10] + bad + FRAMES[10:])]
    async with LocalWsVenue([script]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        events = collect(adapter)
        with caplog.at_level(logging.WARNING, logger="liqmap.feed"):
            async with connected(adapter):
                await wait_until(lambda: len(liqs(events)) >= 42, what="frames after malformed ones")
    h = adapter.health()
    assert h.parse_errors == 3
    assert h.message_count == 45 and h.reconnects == 0
    assert [e.id for e in liqs(events)] == expected_ids(FRAMES)
    # rate limited: 3 errors within 10 s produce ONE log line
    lines = [r for r in caplog.records if "parse error" in r.getMessage()]
    assert len(lines) == 1 and "binance/usdm" in lines[0].getMessage()


async def test_recorder_hook_sees_every_frame_exactly():
    frames = []
    async with LocalWsVenue([[Send(FRAMES[:5] + ["garbage"])]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, recorder=frames.append, **FAST)
        async with connected(adapter):
            await wait_until(lambda: len(frames) >= 6, what="6 recorded frames")
    assert [f.data for f in frames] == FRAMES[:5] + ["garbage"]
    assert {f.exchange for f in frames} == {"binance"} and {f.connection for f in frames} == {"usdm"}
    assert all(f.received_at > 1_700_000_000_000 for f in frames)


async def test_max_retries_gives_up_on_unreachable_venue():
    # bind and close a port so nothing listens there
    async with LocalWsVenue([[Silence()]]) as venue:
        url = venue.url
    adapter = ExchangeAdapter("binance", ws_url=url, max_retries=3, **FAST)
    async with connected(adapter):
        await wait_until(lambda: adapter.health().connections.get("usdm") == "gave_up", what="give up")
        h = adapter.health()
    assert h.error_count == 3 and not h.is_connected and h.gaps == 0


async def test_planned_rotation_opens_new_connection_before_closing_old():
    from liqmap.exchanges.base import ConnectionSpec

    venue_obj = get_venue("binance")

    class ShortLived(type(venue_obj)):
        def connections(self, symbols=None):
            spec = super().connections(symbols)[0]
            return [ConnectionSpec(spec.label, spec.url, spec.subscribe, spec.heartbeat, max_lifetime_s=0.4, stale_after_s=5)]

    async with LocalWsVenue([[Send(FRAMES[:5], gap_s=0.02)], [Send(FRAMES[5:10], gap_s=0.02)]]) as venue:
        adapter = ExchangeAdapter(ShortLived(), ws_url=venue.url, rotate_margin_s=0.2, overlap_s=0.1, **FAST)
        events = collect(adapter)
        async with connected(adapter):
            await wait_until(lambda: len(liqs(events)) >= 10, what="frames from the rotated connection")
            h = adapter.health()
    assert venue.connection_count >= 2
    assert [e for e in events if isinstance(e, Gap)] == []  # overlap => no coverage gap
    assert [e.id for e in liqs(events)][:10] == expected_ids(FRAMES[:10])
    assert h.parse_errors == 0


async def test_listener_gets_events_and_uptime(monkeypatch):
    # uptime on a fake monotonic clock (health module only): the handshake takes 0 fake seconds,
    # then 30 connected seconds pass, so the ratio cannot drift with the machine's load
    now = [1000.0]
    monkeypatch.setattr(health_mod, "time", SimpleNamespace(monotonic=lambda: now[0], time_ns=time.time_ns))
    async with LocalWsVenue([[Send(FRAMES[:4])]]) as venue:
        adapter = ExchangeAdapter("binance", ws_url=venue.url, **FAST)
        got = []
        adapter.add_listener(got.append)
        async with connected(adapter):
            await wait_until(lambda: len(got) >= 4, what="4 liquidations")
            now[0] += 30.0
            h = adapter.health()
    assert [e.id for e in got] == expected_ids(FRAMES[:4])
    assert h.is_connected and h.uptime_pct == 100.0
    assert adapter.health().is_connected is False  # after disconnect


def test_override_url_keeps_path_unless_given():
    assert override_url("wss://fstream.binance.com/market/stream?streams=a", "ws://127.0.0.1:9") == (
        "ws://127.0.0.1:9/market/stream?streams=a"
    )
    assert override_url("wss://api.hyperliquid.xyz/ws", "ws://127.0.0.1:9/x") == "ws://127.0.0.1:9/x"
    assert override_url("wss://a/b", None) == "wss://a/b"


def test_watchdog_precedence_param_then_env_then_venue_spec(monkeypatch):
    from liqmap.settings import get_settings

    spec_stale = get_venue("binance").connections(None)[0].stale_after_s
    assert ExchangeAdapter("binance", rest=False)._stale_after(spec_stale) == spec_stale
    assert ExchangeAdapter("binance", rest=False, ws_timeout=0.3)._stale_after(spec_stale) == 0.3
    monkeypatch.setenv("WS_TIMEOUT", "7")
    get_settings.cache_clear()
    try:
        assert ExchangeAdapter("binance", rest=False)._stale_after(spec_stale) == 7.0
    finally:
        monkeypatch.delenv("WS_TIMEOUT")
        get_settings.cache_clear()
