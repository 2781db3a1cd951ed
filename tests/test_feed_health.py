"""Backoff (full jitter, cap) and health bookkeeping (uptime, latency) units."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import pytest

from liqmap.exchanges.registry import get_venue
from liqmap.feed.backoff import Backoff
from liqmap.feed.dispatch import RateLimitedLog
from liqmap.feed import dispatch as dispatch_mod
from liqmap.feed import health as health_mod
from liqmap.feed.health import HealthTracker
from localvenue import binance_forceorder_frames


def test_full_jitter_windows_and_cap():
    b = Backoff(base=0.5, cap=4.0, rng=random.Random(7))
    windows = [b.window(n) for n in range(6)]
    assert windows == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [b.next_delay() for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays[5:]) < 1.0 < max(delays[5:])  # full jitter: spread over [0, cap]
    b.reset()
    assert b.attempt == 0 and b.window() == 0.5
    assert Backoff(1, 60).window(10_000) == 60  # no overflow for huge attempt counts
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_uptime_counts_only_connected_time(monkeypatch):
    # a fake monotonic clock: real sleeps oversleep on a loaded machine and skew the ratio
    now = [1000.0]
    monkeypatch.setattr(health_mod, "time", SimpleNamespace(monotonic=lambda: now[0], time_ns=time.time_ns))
    t = HealthTracker("binance")
    t.start()
    t.register("usdm")
    now[0] += 10.0  # connecting
    t.set_connected("usdm", True)
    now[0] += 10.0
    t.set_connected("usdm", False)
    now[0] += 10.0
    s = t.status()
    assert s.uptime_pct == pytest.approx(100 / 3, abs=0.01)  # connected 10 s of 30 s
    assert s.is_connected is False and s.connections == {"usdm": "reconnecting"}


def test_latency_is_median_receipt_minus_exchange_time_on_real_events():
    v = get_venue("binance")
    t = HealthTracker("binance")
    frames = binance_forceorder_frames()
    for f in frames[:5]:
        evs = v.parse(f, 0)
        # receipt 150 ms after the exchange time of each real event
        t.on_events([type(e)(**{**{k: getattr(e, k) for k in e.__struct_fields__}, "received_at": e.timestamp + 150}) for e in evs])
    assert t.status().latency_ms == 150.0 and t.status().event_count == 5


def test_rate_limited_log_counts_suppressed(caplog, monkeypatch):
    # fake monotonic clock: a scheduler stall between the warn() calls must not change the result
    now = [1000.0]
    monkeypatch.setattr(dispatch_mod, "time", SimpleNamespace(monotonic=lambda: now[0]))
    log = RateLimitedLog(interval_s=0.05)
    with caplog.at_level("WARNING", logger="liqmap.feed"):
        assert log.warn("k", "a") is True
        now[0] += 0.049
        assert log.warn("k", "b") is False and log.warn("k", "c") is False
        now[0] += 0.011
        assert log.warn("k", "d") is True
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["k: a", "k: d (+2 similar in the last 0.05 s)"]


def test_every_counter_reaches_the_status_under_its_own_name():
    """The tracker's event counters (``COUNTERS``) are int fields of HealthStatus, start at 0
    and are copied into each status by name."""
    import msgspec

    fields = {f.name: f.type for f in msgspec.structs.fields(health_mod.HealthStatus)}
    assert all(fields[name] is int for name in health_mod.COUNTERS)
    tr = HealthTracker("binance")
    assert tr.counters() == dict.fromkeys(health_mod.COUNTERS, 0)
    for i, name in enumerate(health_mod.COUNTERS, start=1):
        setattr(tr, name, getattr(tr, name) + i)
    st = tr.status()
    assert {name: getattr(st, name) for name in health_mod.COUNTERS} == {
        name: i for i, name in enumerate(health_mod.COUNTERS, start=1)}
