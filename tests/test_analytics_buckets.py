"""Time buckets (1 min / 1 h) on real liquidations vs a datetime-based regroup."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from conftest import NEOPARTH_1, NEOPARTH_2, PAULIUS, load_liquidations
from liqmap.analytics.buckets import HOUR_MS, MINUTE_MS, BucketAccumulator, bucket_start, time_buckets

UTC = dt.timezone.utc


def _trunc(ts: int, unit: str) -> int:
    d = dt.datetime.fromtimestamp(ts / 1000, UTC)
    d = d.replace(second=0, microsecond=0) if unit == "m" else d.replace(minute=0, second=0, microsecond=0)
    return int(d.timestamp() * 1000)


def test_bucket_start_examples():
    ts = 1737996866123  # 2025-01-27 16:54:26.123 UTC
    assert bucket_start(ts, MINUTE_MS) == _trunc(ts, "m")
    assert bucket_start(ts, HOUR_MS) == _trunc(ts, "h")
    assert bucket_start(_trunc(ts, "m"), MINUTE_MS) == _trunc(ts, "m")
    with pytest.raises(ValueError):
        bucket_start(ts, 0)
    with pytest.raises(ValueError):
        time_buckets([], 0)


@pytest.mark.parametrize("width,unit", [(MINUTE_MS, "m"), (HOUR_MS, "h")])
def test_time_buckets_match_datetime_regroup(width, unit):
    liqs = load_liquidations(NEOPARTH_1, NEOPARTH_2)
    exp = defaultdict(lambda: [0, 0.0])
    for x in liqs:
        a = exp[(_trunc(x.timestamp, unit), x.base, x.exchange, x.side)]
        a[0] += 1
        a[1] += x.value_usd
    got = time_buckets(liqs, width)
    assert len(got) == len(exp)
    for b in got:
        a = exp[(b.start, b.key, b.exchange, b.side)]
        assert b.count == a[0] and b.value_usd == pytest.approx(a[1])
        assert b.start <= b.first_ts <= b.last_ts < b.start + width
        assert b.price_low <= b.price_high
    assert sum(b.count for b in got) == len(liqs)
    if unit == "h":
        assert {b.start for b in got} == {_trunc(x.timestamp, "h") for x in liqs}


def test_key_by_symbol():
    liqs = load_liquidations(NEOPARTH_1)
    got = time_buckets(liqs, MINUTE_MS, key_by="symbol")
    assert {b.key for b in got} == {x.symbol for x in liqs}


def test_accumulator_equals_batch_and_prunes():
    liqs = load_liquidations(PAULIUS)
    acc = BucketAccumulator(MINUTE_MS, retain_ms=10**12)
    for x in liqs:
        acc.update(x)
    batch = time_buckets(liqs, MINUTE_MS)
    fields = lambda b: (b.start, b.key, b.exchange, b.side, b.count, round(b.value_usd, 6),  # noqa: E731
                        round(b.quantity, 9), b.price_low, b.price_high, b.first_ts, b.last_ts)
    assert [fields(b) for b in acc.buckets()] == [fields(b) for b in batch]
    small = BucketAccumulator(MINUTE_MS, retain_ms=5 * MINUTE_MS)
    for x in liqs:
        small.update(x)
    newest = bucket_start(max(x.timestamp for x in liqs), MINUTE_MS)
    assert small.buckets() and all(b.start > newest - 5 * MINUTE_MS for b in small.buckets())
    assert small.update(liqs[0]) is None and small.late_dropped == 1
