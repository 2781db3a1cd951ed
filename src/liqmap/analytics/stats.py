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


class Totals(msgspec.Struct):
    """``count`` and ``value_usd`` (USD) of a group (a size tier, a base asset)."""

    count: int = 0
    value_usd: float = 0.0


class SideTotals(Totals):
    """:class:`Totals` plus the split by liquidated position side: ``long_count``,
    ``short_count``, ``long_usd``, ``short_usd`` (USD)."""

    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0


class ExchangeStats(SideTotals):
    """Per-venue :class:`SideTotals` and ``last_ts`` (ms UTC of the venue's newest event;
    None when empty)."""

    last_ts: int | None = None


class TimelineBucket(msgspec.Struct):
    """One epoch-aligned time bucket: ``t`` (start, ms UTC), ``long_usd``, ``short_usd`` (USD), ``count``."""

    t: int
    long_usd: float = 0.0
    short_usd: float = 0.0
    count: int = 0


class Stats(SideTotals):
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

    ``large_usd`` / ``institutional_usd`` are the size-tier thresholds (USD, the rule of
    :func:`~liqmap.analytics.sizing.size_tier`); ``bucket_ms`` the timeline bucket width (ms).
    Running sums live in local lists while the loop runs (about 0.6 us per event): the API
    calls this on up to an hour of events.

    Raises ValueError if ``top_n < 0``, ``bucket_ms <= 0`` or ``large_usd > institutional_usd``.
    """
    if top_n < 0:
        raise ValueError("top_n must be >= 0")
    if bucket_ms is not None and bucket_ms <= 0:
        raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
    size_tier(0.0, large_usd=large_usd, institutional_usd=institutional_usd)  # validates the thresholds
    # accumulators: [count, value_usd, long_count, long_usd, short_usd, last_ts] per venue,
    # [count, value_usd] per tier and base, [count, long_usd, short_usd] per timeline bucket
    tot = [0, 0.0, 0, 0.0, 0.0, None]
    by_ex: dict[str, list] = {}
    by_base: dict[str, list] = {}
    tiers = {t: [0, 0.0] for t in TIERS}
    t_inst, t_large, t_retail = tiers["institutional"], tiers["large"], tiers["retail"]
    timeline: dict[int, list] = {}
    heap: list[tuple[float, int, int, Liquidation]] = []
    first = None
    for seq, liq in enumerate(liqs):
        v = liq.value_usd
        ts = liq.timestamp
        is_long = liq.side == "long"
        ex = by_ex.get(liq.exchange)
        if ex is None:
            ex = by_ex[liq.exchange] = [0, 0.0, 0, 0.0, 0.0, ts]
        tot[0] += 1
        tot[1] += v
        ex[0] += 1
        ex[1] += v
        if is_long:
            tot[2] += 1
            tot[3] += v
            ex[2] += 1
            ex[3] += v
        else:
            tot[4] += v
            ex[4] += v
        if tot[5] is None or ts > tot[5]:
            tot[5] = ts
        if ts > ex[5]:
            ex[5] = ts
        if first is None or ts < first:
            first = ts
        tier = t_inst if v >= institutional_usd else t_large if v >= large_usd else t_retail  # size_tier's rule
        tier[0] += 1
        tier[1] += v
        b = by_base.get(liq.base)
        if b is None:
            b = by_base[liq.base] = [0, 0.0]
        b[0] += 1
        b[1] += v
        if bucket_ms is not None:
            t = ts // bucket_ms * bucket_ms
            bk = timeline.get(t)
            if bk is None:
                bk = timeline[t] = [0, 0.0, 0.0]
            bk[0] += 1
            bk[1 if is_long else 2] += v
        if top_n and (len(heap) < top_n or v >= heap[0][0]):
            # min-heap of (value, -ts, -seq): the smallest / latest is evicted first
            item = (v, -ts, -seq, liq)
            if len(heap) < top_n:
                heapq.heappush(heap, item)
            elif item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)
    return _finish(tot, first, by_ex, by_base, tiers, timeline, heap)


def _finish(tot: list, first: int | None, by_ex: dict, by_base: dict, tiers: dict, timeline: dict,
            heap: list) -> Stats:
    """:class:`Stats` from the accumulators of :func:`liquidation_stats`."""
    n, total, long_count, long_usd, short_usd, last = tot
    st = Stats(count=n, value_usd=total, long_count=long_count, short_count=n - long_count, long_usd=long_usd,
               short_usd=short_usd, first_ts=first, last_ts=last)
    st.by_exchange = {k: ExchangeStats(c, v, lc, c - lc, lu, su, lt)
                      for k, (c, v, lc, lu, su, lt) in sorted(by_ex.items())}
    if n:
        st.avg_value_usd = total / n
        st.long_share = long_usd / total if total else 0.0
        st.exchange_share = {k: (e.value_usd / total if total else 0.0) for k, e in st.by_exchange.items()}
    st.tiers = {t: Totals(c, v) for t, (c, v) in tiers.items()}
    st.by_base = {k: Totals(c, v) for k, (c, v) in by_base.items()}
    st.timeline = [TimelineBucket(t, lu, su, c) for t, (c, lu, su) in sorted(timeline.items())]
    st.largest = [it[3] for it in sorted(heap, key=lambda it: it[:3], reverse=True)]
    return st


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
