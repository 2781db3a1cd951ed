"""Summary statistics over a set of liquidations (pure, one pass).

:func:`liquidation_stats` is what ``GET /liquidations/stats`` answers from the in-memory tier
(:mod:`liqmap.storage.reads`); the DuckDB tier computes the same figures in SQL
(:func:`liqmap.storage.duckdb_reads.stats`). Orders match the SQL: events are summed in the
order given (the in-memory tier passes them in ``(timestamp, id)`` order).
"""

from __future__ import annotations

import heapq
from typing import Iterable

import msgspec

from liqmap.analytics.sizing import TIERS, size_tier
from liqmap.models import Liquidation
from liqmap.units import INSTITUTIONAL_USD, LARGE_USD


class ExchangeStats(msgspec.Struct):
    """Per-venue totals: ``count``, ``value_usd`` (USD), long/short counts and USD, ``last_ts``
    (ms UTC of the venue's newest event; None when empty)."""

    count: int = 0
    value_usd: float = 0.0
    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    last_ts: int | None = None


class Totals(msgspec.Struct):
    """``count`` and ``value_usd`` (USD) of a group (a size tier, a base asset)."""

    count: int = 0
    value_usd: float = 0.0


class TimelineBucket(msgspec.Struct):
    """One epoch-aligned time bucket: ``t`` (start, ms UTC), ``long_usd``, ``short_usd`` (USD), ``count``."""

    t: int
    long_usd: float = 0.0
    short_usd: float = 0.0
    count: int = 0


class Stats(msgspec.Struct):
    """Summary of a set of liquidations.

    Fields:
        count, value_usd: number of events and total notional (USD).
        long_count, short_count, long_usd, short_usd: split by liquidated
            position side.
        long_share: long_usd / value_usd (0.0 when empty).
        avg_value_usd: value_usd / count (0.0 when empty).
        exchange_share: venue -> share of value_usd in [0, 1] (sums to 1).
        by_exchange: venue -> :class:`ExchangeStats`.
        largest: the ``top_n`` largest events by value_usd, largest first
            (ties: earlier timestamp first, then earlier in the input).
        first_ts, last_ts: ms UTC (None when empty).
        tiers: size tier (:data:`liqmap.analytics.sizing.TIERS`) -> :class:`Totals`, every tier present.
        by_base: base asset -> :class:`Totals`.
        timeline: :class:`TimelineBucket` per ``bucket_ms`` bucket holding events, by start
            (empty when no ``bucket_ms`` was given).
    """

    count: int = 0
    value_usd: float = 0.0
    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    long_share: float = 0.0
    avg_value_usd: float = 0.0
    exchange_share: dict[str, float] = msgspec.field(default_factory=dict)
    by_exchange: dict[str, ExchangeStats] = msgspec.field(default_factory=dict)
    largest: list[Liquidation] = msgspec.field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None
    tiers: dict[str, Totals] = msgspec.field(default_factory=lambda: {t: Totals() for t in TIERS})
    by_base: dict[str, Totals] = msgspec.field(default_factory=dict)
    timeline: list[TimelineBucket] = msgspec.field(default_factory=list)


def liquidation_stats(
    liqs: Iterable[Liquidation],
    top_n: int = 10,
    *,
    large_usd: float = LARGE_USD,
    institutional_usd: float = INSTITUTIONAL_USD,
    bucket_ms: int | None = None,
) -> Stats:
    """Compute :class:`Stats` in one pass (O(n log top_n)).

    ``large_usd`` / ``institutional_usd`` are the size-tier thresholds (USD,
    :func:`~liqmap.analytics.sizing.size_tier`); ``bucket_ms`` the timeline bucket width (ms).

    Raises ValueError if ``top_n < 0``, ``bucket_ms <= 0`` or ``large_usd > institutional_usd``.
    """
    if top_n < 0:
        raise ValueError("top_n must be >= 0")
    if bucket_ms is not None and bucket_ms <= 0:
        raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
    size_tier(0.0, large_usd=large_usd, institutional_usd=institutional_usd)  # validates the thresholds
    st = Stats()
    heap: list[tuple[float, int, int, Liquidation]] = []
    timeline: dict[int, TimelineBucket] = {}
    for seq, liq in enumerate(liqs):
        _add(st, liq, large_usd, institutional_usd)
        if bucket_ms is not None:
            t = liq.timestamp // bucket_ms * bucket_ms
            b = timeline.get(t)
            if b is None:
                b = timeline[t] = TimelineBucket(t)
            b.count += 1
            if liq.side == "long":
                b.long_usd += liq.value_usd
            else:
                b.short_usd += liq.value_usd
        if top_n:
            # min-heap of (value, -ts, -seq): the smallest / latest is evicted first
            item = (liq.value_usd, -liq.timestamp, -seq, liq)
            if len(heap) < top_n:
                heapq.heappush(heap, item)
            elif item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)
    if st.count:
        st.avg_value_usd = st.value_usd / st.count
        st.long_share = st.long_usd / st.value_usd if st.value_usd else 0.0
        total = st.value_usd
        st.exchange_share = {
            k: (e.value_usd / total if total else 0.0) for k, e in sorted(st.by_exchange.items())
        }
        st.by_exchange = dict(sorted(st.by_exchange.items()))
    st.largest = [it[3] for it in sorted(heap, key=lambda it: it[:3], reverse=True)]
    st.timeline = [timeline[t] for t in sorted(timeline)]
    return st


def _add(st: Stats, liq: Liquidation, large_usd: float, institutional_usd: float) -> None:
    """Fold one event into the totals, venue, tier and base groups of ``st``."""
    v = liq.value_usd
    ts = liq.timestamp
    st.count += 1
    st.value_usd += v
    ex = st.by_exchange.get(liq.exchange)
    if ex is None:
        ex = st.by_exchange[liq.exchange] = ExchangeStats()
    ex.count += 1
    ex.value_usd += v
    if ex.last_ts is None or ts > ex.last_ts:
        ex.last_ts = ts
    if liq.side == "long":
        st.long_count += 1
        st.long_usd += v
        ex.long_count += 1
        ex.long_usd += v
    else:
        st.short_count += 1
        st.short_usd += v
        ex.short_count += 1
        ex.short_usd += v
    if st.first_ts is None or ts < st.first_ts:
        st.first_ts = ts
    if st.last_ts is None or ts > st.last_ts:
        st.last_ts = ts
    tier = st.tiers[size_tier(v, large_usd=large_usd, institutional_usd=institutional_usd)]
    tier.count += 1
    tier.value_usd += v
    base = st.by_base.get(liq.base)
    if base is None:
        base = st.by_base[liq.base] = Totals()
    base.count += 1
    base.value_usd += v


#: ``/liquidations/stats`` lists the largest underlyings, at most this many
TOP_BASES = 20
_FLOAT_FIELDS = ("price", "quantity", "value_usd")


def liquidation_row(liq: Liquidation) -> dict:
    """One liquidation as the API returns it: the struct's fields, ``price`` / ``quantity`` /
    ``value_usd`` as floats (a parser may hand integers, the DuckDB columns are DOUBLE)."""
    row = msgspec.structs.asdict(liq)
    for f in _FLOAT_FIELDS:
        row[f] = float(row[f])
    return row


def stats_body(st: Stats, bucket_ms: int) -> dict:
    """The JSON body of ``GET /liquidations/stats`` (without ``meta``) from :class:`Stats`.

    ``{count, total_usd, long_usd, short_usd, long_count, short_count, long_share (None when
    total is 0), first_ms, last_ms, by_exchange: [{exchange, count, value_usd, long_usd,
    short_usd, share, last_ms}] (largest USD first, ties by name), tiers: {retail, large,
    institutional: {count, value_usd}}, largest (row or None), by_underlying: [{base, count,
    value_usd}] (top :data:`TOP_BASES` by USD, ties by name), bucket_ms, timeline: [{t,
    long_usd, short_usd, count}]}``; USD, ms UTC.
    """
    total = st.value_usd
    by_ex = sorted(st.by_exchange.items(), key=lambda kv: (-kv[1].value_usd, kv[0]))
    bases = sorted(st.by_base.items(), key=lambda kv: (-kv[1].value_usd, kv[0]))[:TOP_BASES]
    return {
        "count": st.count,
        "total_usd": float(total),
        "long_usd": float(st.long_usd),
        "short_usd": float(st.short_usd),
        "long_count": st.long_count,
        "short_count": st.short_count,
        "long_share": (st.long_usd / total) if total else None,
        "first_ms": st.first_ts,
        "last_ms": st.last_ts,
        "by_exchange": [
            {"exchange": e, "count": x.count, "value_usd": x.value_usd, "long_usd": x.long_usd,
             "short_usd": x.short_usd, "share": (x.value_usd / total) if total else None, "last_ms": x.last_ts}
            for e, x in by_ex
        ],
        "tiers": {t: {"count": st.tiers[t].count, "value_usd": st.tiers[t].value_usd} for t in TIERS},
        "largest": liquidation_row(st.largest[0]) if st.largest else None,
        "by_underlying": [{"base": b, "count": x.count, "value_usd": x.value_usd} for b, x in bases],
        "bucket_ms": bucket_ms,
        "timeline": [{"t": b.t, "long_usd": b.long_usd, "short_usd": b.short_usd, "count": b.count}
                     for b in st.timeline],
    }
