"""Summary statistics over a set of liquidations (pure, one pass)."""

from __future__ import annotations

import heapq
from typing import Iterable

import msgspec

from liqmap.models import Liquidation


class ExchangeStats(msgspec.Struct):
    """Per-venue totals: ``count``, ``value_usd`` (USD), long/short counts and USD."""

    count: int = 0
    value_usd: float = 0.0
    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0


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
            (ties: earlier timestamp first).
        first_ts, last_ts: ms UTC (None when empty).
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


def liquidation_stats(liqs: Iterable[Liquidation], top_n: int = 10) -> Stats:
    """Compute :class:`Stats` in one pass (O(n log top_n)).

    Raises ValueError if ``top_n < 0``.
    """
    if top_n < 0:
        raise ValueError("top_n must be >= 0")
    st = Stats()
    heap: list[tuple[float, int, int, Liquidation]] = []
    seq = 0
    for liq in liqs:
        v = liq.value_usd
        st.count += 1
        st.value_usd += v
        ex = st.by_exchange.get(liq.exchange)
        if ex is None:
            ex = st.by_exchange[liq.exchange] = ExchangeStats()
        ex.count += 1
        ex.value_usd += v
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
        if st.first_ts is None or liq.timestamp < st.first_ts:
            st.first_ts = liq.timestamp
        if st.last_ts is None or liq.timestamp > st.last_ts:
            st.last_ts = liq.timestamp
        if top_n:
            # min-heap of (value, -ts, -seq): the smallest / latest is evicted first
            item = (v, -liq.timestamp, -seq, liq)
            if len(heap) < top_n:
                heapq.heappush(heap, item)
            elif item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)
        seq += 1
    if st.count:
        st.avg_value_usd = st.value_usd / st.count
        st.long_share = st.long_usd / st.value_usd if st.value_usd else 0.0
        total = st.value_usd
        st.exchange_share = {
            k: (e.value_usd / total if total else 0.0) for k, e in sorted(st.by_exchange.items())
        }
        st.by_exchange = dict(sorted(st.by_exchange.items()))
    st.largest = [it[3] for it in sorted(heap, key=lambda it: it[:3], reverse=True)]
    return st
