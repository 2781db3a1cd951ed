"""Time buckets: liquidation totals per (time bucket, asset, exchange, side).

Buckets are aligned to the Unix epoch in UTC: a bucket of width ``w`` ms starts
at ``ts - ts % w`` (so 1-minute buckets start on whole minutes, 1-hour buckets
on whole hours). :func:`time_buckets` is the batch form; :class:`BucketAccumulator`
is the incremental (hot path) form with O(1) work per event.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Literal

import msgspec

from liqmap.models import Liquidation
from liqmap.units import HOUR_MS, MINUTE_MS  # noqa: F401 - HOUR_MS re-exported by liqmap.analytics

KeyBy = Literal["base", "symbol"]


def bucket_start(ts_ms: int, width_ms: int) -> int:
    """Start (ms UTC) of the epoch-aligned bucket of ``width_ms`` holding ``ts_ms``.

    Raises ValueError if ``width_ms <= 0``.
    """
    if width_ms <= 0:
        raise ValueError(f"width_ms must be positive, got {width_ms}")
    return ts_ms - ts_ms % width_ms


class TimeBucket(msgspec.Struct):
    """Totals of one (bucket, key, exchange, side).

    Fields: ``start`` (ms UTC, inclusive), ``width_ms``; ``key`` (base asset or
    venue symbol, see ``key_by``); ``exchange``; ``side`` (``long``/``short``);
    ``count``; ``value_usd`` (USD); ``quantity`` (base units); ``price_low`` /
    ``price_high`` (quote units, over the bucket's events); ``first_ts`` /
    ``last_ts`` (ms UTC).
    """

    start: int
    width_ms: int
    key: str
    exchange: str
    side: str
    count: int = 0
    value_usd: float = 0.0
    quantity: float = 0.0
    price_low: float = float("inf")
    price_high: float = 0.0
    first_ts: int = 0
    last_ts: int = 0

    def add(self, liq: Liquidation) -> None:
        """Fold one liquidation into this bucket (caller checks it belongs here)."""
        if self.count == 0:
            self.first_ts = self.last_ts = liq.timestamp
        else:
            if liq.timestamp < self.first_ts:
                self.first_ts = liq.timestamp
            if liq.timestamp > self.last_ts:
                self.last_ts = liq.timestamp
        self.count += 1
        self.value_usd += liq.value_usd
        self.quantity += liq.quantity
        if liq.price < self.price_low:
            self.price_low = liq.price
        if liq.price > self.price_high:
            self.price_high = liq.price


def _key(liq: Liquidation, key_by: KeyBy) -> str:
    return liq.base if key_by == "base" else liq.symbol


def time_buckets(
    liqs: Iterable[Liquidation], width_ms: int = MINUTE_MS, *, key_by: KeyBy = "base"
) -> list[TimeBucket]:
    """Bucket liquidations by (start, base or symbol, exchange, side).

    Args:
        liqs: events in any order.
        width_ms: bucket width, e.g. :data:`MINUTE_MS` or :data:`HOUR_MS`.
        key_by: ``"base"`` (BTC across BTCUSDT/BTCUSDC...) or ``"symbol"``.

    Returns: buckets sorted by (start, key, exchange, side). Raises ValueError
    for a non-positive width.
    """
    if width_ms <= 0:
        raise ValueError(f"width_ms must be positive, got {width_ms}")
    acc: dict[tuple[int, str, str, str], TimeBucket] = {}
    for liq in liqs:
        start = liq.timestamp - liq.timestamp % width_ms
        k = (start, _key(liq, key_by), liq.exchange, liq.side)
        b = acc.get(k)
        if b is None:
            b = acc[k] = TimeBucket(start, width_ms, k[1], liq.exchange, liq.side)
        b.add(liq)
    return [acc[k] for k in sorted(acc)]


class BucketAccumulator:
    """Incremental time buckets for a live stream (O(1) per event).

    Keeps buckets whose start is within ``retain_ms`` of the newest event time
    seen (default: 60 buckets). Older buckets are pruned when the newest
    bucket advances (amortized O(1): each bucket is created and pruned once).
    Events older than the retained horizon are counted in ``late_dropped``.
    """

    def __init__(self, width_ms: int = MINUTE_MS, *, retain_ms: int | None = None, key_by: KeyBy = "base"):
        if width_ms <= 0:
            raise ValueError(f"width_ms must be positive, got {width_ms}")
        self.width_ms = width_ms
        self.retain_ms = retain_ms if retain_ms is not None else 60 * width_ms
        self.key_by = key_by
        self._by_base = key_by == "base"
        self._buckets: dict[tuple[int, str, str, str], TimeBucket] = {}
        self._newest_start = -1
        self._order: deque[tuple[int, str, str, str]] = deque()  # keys in creation order
        self.late_dropped = 0

    def update(self, liq: Liquidation) -> TimeBucket | None:
        """Add one event; returns the bucket it landed in (None if too late)."""
        w = self.width_ms
        start = liq.timestamp - liq.timestamp % w
        if start > self._newest_start:
            self._newest_start = start
            self._prune()
        elif start <= self._newest_start - self.retain_ms:
            self.late_dropped += 1
            return None
        k = (start, liq.base if self._by_base else liq.symbol, liq.exchange, liq.side)
        b = self._buckets.get(k)
        ts = liq.timestamp
        if b is None:
            p = liq.price
            b = self._buckets[k] = TimeBucket(
                start, w, k[1], liq.exchange, liq.side, 1, liq.value_usd, liq.quantity, p, p, ts, ts
            )
            self._order.append(k)
            return b
        # inline of TimeBucket.add for an existing bucket (hot path)
        if ts < b.first_ts:
            b.first_ts = ts
        if ts > b.last_ts:
            b.last_ts = ts
        b.count += 1
        b.value_usd += liq.value_usd
        b.quantity += liq.quantity
        p = liq.price
        if p < b.price_low:
            b.price_low = p
        if p > b.price_high:
            b.price_high = p
        return b

    def _prune(self) -> None:
        # Buckets leave in creation order: O(1) amortized (each bucket is
        # created and pruned once). A bucket created late for an older minute
        # sits behind newer ones and is pruned when reached (slightly late).
        horizon = self._newest_start - self.retain_ms
        order, buckets = self._order, self._buckets
        while order and order[0][0] <= horizon:
            del buckets[order.popleft()]

    def buckets(self) -> list[TimeBucket]:
        """Retained buckets sorted by (start, key, exchange, side)."""
        return [self._buckets[k] for k in sorted(self._buckets)]
