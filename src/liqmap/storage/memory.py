"""L1 tier: in-process ring buffers of the most recent liquidations.

:class:`MemoryStore` keeps, per symbol (or per base asset, ``key_by="base"``),
the events of the last ``window_ms`` (default 60 s) of **event time**, plus a
bounded cross-symbol ``recent_all`` deque for the live feed. It is a cache: no
I/O, nothing persisted; the DuckDB/Redis/PostgreSQL tiers hold history.

Clock and eviction: the clock is the watermark = the largest
``Liquidation.timestamp`` added so far (or a later ``now_ms`` passed to a
read). An event leaves its ring once its timestamp is ``<= clock -
window_ms``. Eviction is lazy and per ring: on ``add`` for that ring, and on
every read of that ring, so each event is evicted once (O(1) amortized per
event). Rings evict in arrival order, so a slightly out-of-order event may
stay up to its lateness longer; an event already older than the window when it
arrives is not stored in its ring (``late_dropped``) but still appears in
``recent_all``.

Window statistics are running sums updated on append/evict -- reads never scan
the ring: count, value_usd, quantity, long/short counts and USD, per-exchange
count and USD. Sums are reset to exact zero when a ring empties, so float drift
cannot accumulate across quiet periods.

Bound: each ring also holds at most ``max_events`` (default 10,000) events;
beyond that the oldest are evicted early (``overflow_evicted``) and the stats
then describe the kept events. Binance sends at most one liquidation per
symbol per second, so a 60 s ring normally holds <= 60 events per venue.

Memory (``memory_bytes``): the sum of ``sys.getsizeof`` over every object
reachable from one ring -- the ring object, its deque, each Liquidation struct
and each of its field values, and the per-exchange counters -- each object
counted once per call. Strings shared with other rings (``"binance"``) are
counted in each ring that holds them, so the figure is an upper bound of that
ring's own share. ``benchmarks/bench_hot_path.py`` measures it on the real
Binance fixtures (figures in ``benchmarks/RESULTS.md``); most of a ring's bytes
are the events themselves, which are shared with the other tiers in a live process.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Literal

import msgspec

from liqmap.models import Liquidation
from liqmap.units import MINUTE_MS

KeyBy = Literal["symbol", "base"]


class ExchangeWindow(msgspec.Struct):
    """Per-venue window totals: ``count``, ``value_usd`` (USD)."""

    count: int = 0
    value_usd: float = 0.0


class WindowStats(msgspec.Struct):
    """Statistics of one ring's current window.

    Fields: ``key`` (symbol or base), ``window_ms``, ``count``, ``value_usd``
    (USD), ``quantity`` (base units), ``long_count``, ``short_count``,
    ``long_usd``, ``short_usd``, ``by_exchange`` (venue -> ExchangeWindow),
    ``first_ts`` / ``last_ts`` (ms UTC of the oldest/newest event in the ring
    in arrival order; None when empty), ``as_of`` (clock used, ms UTC).
    """

    key: str
    window_ms: int
    count: int = 0
    value_usd: float = 0.0
    quantity: float = 0.0
    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    by_exchange: dict[str, ExchangeWindow] = msgspec.field(default_factory=dict)
    first_ts: int | None = None
    last_ts: int | None = None
    as_of: int | None = None


class _Ring:
    """State of one ring; appends are inlined in :meth:`MemoryStore.add`."""

    __slots__ = ("q", "count", "value", "quantity", "long_count", "long_usd", "short_usd", "by_ex", "max_ts")

    def __init__(self) -> None:
        self.q: deque[Liquidation] = deque()
        self.count = 0
        self.value = 0.0
        self.quantity = 0.0
        self.long_count = 0
        self.long_usd = 0.0
        self.short_usd = 0.0
        self.by_ex: dict[str, list] = {}  # exchange -> [count, value_usd]
        self.max_ts = -(2**63)  # newest timestamp ever pushed

    def pop(self) -> None:
        liq = self.q.popleft()
        v = liq.value_usd
        self.count -= 1
        if not self.q:
            self.value = self.quantity = self.long_usd = self.short_usd = 0.0
            self.long_count = 0
            self.by_ex.clear()
            return
        self.value -= v
        self.quantity -= liq.quantity
        if liq.side == "long":
            self.long_count -= 1
            self.long_usd -= v
        else:
            self.short_usd -= v
        e = self.by_ex[liq.exchange]
        if e[0] == 1:
            del self.by_ex[liq.exchange]
        else:
            e[0] -= 1
            e[1] -= v

    def evict(self, cutoff: int) -> int:
        q = self.q
        if self.max_ts <= cutoff:  # all expired: drop at once (O(1) bookkeeping)
            n = len(q)
            q.clear()
            self.count = self.long_count = 0
            self.value = self.quantity = self.long_usd = self.short_usd = 0.0
            self.by_ex.clear()
            return n
        n = 0
        while q and q[0].timestamp <= cutoff:
            self.pop()
            n += 1
        return n


class MemoryStore:
    """Per-symbol rolling windows + a cross-symbol recent feed (see module docstring).

    Args:
        window_ms: window length in ms (default 60,000).
        key_by: ring key, ``"symbol"`` (venue symbol, e.g. ``BTCUSDT``; the same
            symbol on two venues shares one ring and is split in
            ``by_exchange``) or ``"base"`` (``BTC`` across all symbols).
        max_events: hard cap per ring (default 10,000).
        recent_all_max: length of the cross-symbol recent deque (default 1,000).

    Raises ValueError on non-positive sizes.
    """

    def __init__(
        self,
        window_ms: int = MINUTE_MS,
        *,
        key_by: KeyBy = "symbol",
        max_events: int = 10_000,
        recent_all_max: int = 1_000,
    ):
        if window_ms <= 0 or max_events <= 0 or recent_all_max <= 0:
            raise ValueError("window_ms, max_events and recent_all_max must be positive")
        if key_by not in ("symbol", "base"):
            raise ValueError(f"key_by must be 'symbol' or 'base', got {key_by!r}")
        self.window_ms = window_ms
        self.key_by = key_by
        self._by_symbol = key_by == "symbol"
        self.max_events = max_events
        self._rings: dict[str, _Ring] = {}
        self._all: deque[Liquidation] = deque(maxlen=recent_all_max)
        self.watermark: int | None = None
        self.added = 0
        self.evicted = 0
        self.late_dropped = 0
        self.overflow_evicted = 0

    # -- write -------------------------------------------------------------
    def add(self, liq: Liquidation) -> None:
        """Append one liquidation (O(1) amortized, including eviction)."""
        ts = liq.timestamp
        wm = self.watermark
        if wm is None or ts > wm:
            self.watermark = wm = ts
        self._all.append(liq)
        self.added += 1
        key = liq.symbol if self._by_symbol else liq.base
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring()
        cutoff = wm - self.window_ms
        q = ring.q
        if q and q[0].timestamp <= cutoff:
            self.evicted += ring.evict(cutoff)
        if ts <= cutoff:
            self.late_dropped += 1
            return
        # inline of _Ring.push (hot path)
        q.append(liq)
        if ts > ring.max_ts:
            ring.max_ts = ts
        v = liq.value_usd
        ring.count += 1
        ring.value += v
        ring.quantity += liq.quantity
        if liq.side == "long":
            ring.long_count += 1
            ring.long_usd += v
        else:
            ring.short_usd += v
        e = ring.by_ex.get(liq.exchange)
        if e is None:
            ring.by_ex[liq.exchange] = [1, v]
        else:
            e[0] += 1
            e[1] += v
        if ring.count > self.max_events:
            ring.pop()
            self.overflow_evicted += 1

    append = add  #: alias used by pipelines that call ``append``

    def evict(self, now_ms: int | None = None) -> int:
        """Evict expired events from every ring (O(rings + evicted)); drops
        empty rings. Returns the number of events evicted."""
        clock = self._clock(now_ms)
        if clock is None:
            return 0
        n = 0
        for key in list(self._rings):
            ring = self._rings[key]
            n += ring.evict(clock - self.window_ms)
            if not ring.q:
                del self._rings[key]
        self.evicted += n
        return n

    # -- read --------------------------------------------------------------
    def _clock(self, now_ms: int | None) -> int | None:
        if now_ms is None:
            return self.watermark
        if self.watermark is None:
            return now_ms
        return max(now_ms, self.watermark)

    def _ring(self, key: str, now_ms: int | None) -> _Ring | None:
        ring = self._rings.get(key)
        if ring is not None:
            clock = self._clock(now_ms)
            if clock is not None:
                self.evicted += ring.evict(clock - self.window_ms)
        return ring

    def window_stats(self, key: str, now_ms: int | None = None) -> WindowStats:
        """Window statistics of one symbol (or base) without scanning the ring.

        ``now_ms`` (ms UTC) may move the clock forward (wall clock in live use);
        it never moves it back. Unknown keys give an empty WindowStats.
        """
        ring = self._ring(key, now_ms)
        st = WindowStats(key=key, window_ms=self.window_ms, as_of=self._clock(now_ms))
        if ring is None or not ring.q:
            return st
        st.count = ring.count
        st.value_usd = ring.value
        st.quantity = ring.quantity
        st.long_count = ring.long_count
        st.short_count = ring.count - ring.long_count
        st.long_usd = ring.long_usd
        st.short_usd = ring.short_usd
        st.by_exchange = {k: ExchangeWindow(v[0], v[1]) for k, v in sorted(ring.by_ex.items())}
        st.first_ts = ring.q[0].timestamp
        st.last_ts = ring.q[-1].timestamp
        return st

    def recent(self, key: str, n: int = 50, now_ms: int | None = None) -> list[Liquidation]:
        """Up to ``n`` newest events of one symbol (or base) in the window, newest first."""
        if n <= 0:
            return []
        ring = self._ring(key, now_ms)
        if ring is None:
            return []
        q = ring.q
        m = min(n, len(q))
        return [q[-1 - i] for i in range(m)]

    def recent_all(self, n: int = 50) -> list[Liquidation]:
        """Up to ``n`` newest events across all symbols (arrival order), newest first.

        Bounded by ``recent_all_max``; not subject to the time window.
        """
        if n <= 0:
            return []
        q = self._all
        m = min(n, len(q))
        return [q[-1 - i] for i in range(m)]

    def keys(self) -> list[str]:
        """Symbols (or bases) that currently have a ring, sorted."""
        return sorted(self._rings)

    symbols = keys

    def __len__(self) -> int:
        return sum(r.count for r in self._rings.values())

    def memory_bytes(self, key: str) -> int:
        """Bytes reachable from one ring by ``sys.getsizeof`` accounting (see
        module docstring); 0 for an unknown key. O(events in the ring)."""
        ring = self._rings.get(key)
        if ring is None:
            return 0
        seen: set[int] = set()
        total = 0

        def add(obj: object) -> None:
            nonlocal total
            if id(obj) not in seen:
                seen.add(id(obj))
                total += sys.getsizeof(obj)

        add(ring)
        add(ring.q)
        add(ring.by_ex)
        for k, v in ring.by_ex.items():
            add(k)
            add(v)
            for x in v:
                add(x)
        for slot in ("value", "quantity", "long_usd", "short_usd", "count", "long_count"):
            add(getattr(ring, slot))
        for liq in ring.q:
            add(liq)
            for f in liq.__struct_fields__:
                add(getattr(liq, f))
        return total
