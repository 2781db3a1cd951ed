"""L1 tier: the newest liquidations in process memory, for the short-window reads.

:class:`MemoryStore` holds the liquidations of the last ``retention_ms`` of **event time**
(default 70 minutes: the API's 1-hour windows plus the live clock's skew allowance and a
margin), at most ``max_events`` of them, in ``(timestamp, id)`` order -- the order of the
DuckDB reads' ``ORDER BY``. The serve pipeline adds every liquidation (O(1) amortized: events
arrive nearly in time order and go to the end; an out-of-order one is inserted by bisection),
and the API's ``/liquidations/recent``, ``/liquidations/stats`` (windows up to 1 h) and the
live cascade status read it through :mod:`liqmap.storage.reads`. Nothing is persisted: the
DuckDB tier holds history, and at start :mod:`liqmap.storage.reads` warms L1 from it.

Completeness -- when L1 may answer instead of DuckDB
-----------------------------------------------------
``floor_ms`` is the bound below which L1 is incomplete: every event L1 was given with
``timestamp > floor_ms`` is held (``None``: every event it was given). It rises to the newest
timestamp that left when events leave: by age (the watermark, the newest event time, moved
past ``timestamp + retention_ms``; the newest ``min_keep`` stay whatever their age), by the
``max_events`` cap (the oldest go first); warm-up sets it (DuckDB rows older than the warm-up
horizon were not loaded). An event arriving at or below the floor is
not stored (``late_dropped``); the same id twice is stored once (``duplicates``), the first
kept, as the DuckDB key keeps the first row. So a window ``(start, end]`` with ``start >=
floor_ms`` holds exactly the events DuckDB holds in it once they are committed; L1 has them
sooner (before the commit).

Cascades: :meth:`upsert_cascades` keeps the latest row per cascade id (the shape of
:data:`liqmap.storage.duckdb_store.CASCADE_COLUMNS`) while its ``end_ts`` is above the floor.

Threads: the pipeline adds on the event loop while the API reads from its threadpool; one
lock guards the structures, and reads copy the slice they need under it (a list copy, no
per-event work) and compute outside it.

Memory: about 0.8 KB per held event (~100 B of L1's list and id set, the rest the Liquidation
struct and its field values; ``benchmarks/bench_hot_path.py``); the default cap of 100,000
events bounds L1 near 85 MB. A busier hour than the cap raises ``floor_ms`` and the reads of
that hour fall back to DuckDB.
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from liqmap.models import Liquidation
from liqmap.units import HOUR_MS, MINUTE_MS

#: default event-time retention: 1 h windows + 1 min live clock skew + 9 min margin
DEFAULT_RETENTION_MS = HOUR_MS + 10 * MINUTE_MS
DEFAULT_MAX_EVENTS = 100_000
#: the newest events kept whatever their age: ``/liquidations/recent``'s largest limit
DEFAULT_MIN_KEEP = 1_000

_KEY = attrgetter("timestamp", "id")


class MemoryStore:
    """The newest liquidations and cascade rows (see module docstring).

    Args:
        retention_ms: event time kept behind the newest event (ms, > 0).
        max_events: cap on held liquidations (> 0); the oldest leave first.
        min_keep: the newest this many stay whatever their age (the API's largest ``recent``
            limit), so a quiet market's latest liquidations are still answered from memory.

    Raises ValueError on non-positive sizes.
    """

    def __init__(self, retention_ms: int = DEFAULT_RETENTION_MS, max_events: int = DEFAULT_MAX_EVENTS,
                 min_keep: int = DEFAULT_MIN_KEEP) -> None:
        if retention_ms <= 0 or max_events <= 0 or not 0 <= min_keep <= max_events:
            raise ValueError("retention_ms and max_events must be positive, 0 <= min_keep <= max_events")
        self.retention_ms = int(retention_ms)
        self.max_events = int(max_events)
        self.min_keep = int(min_keep)
        self._lock = threading.Lock()
        self._events: list[Liquidation] = []  # (timestamp, id) order; [self._head:] are held
        self._head = 0
        self._ids: set[str] = set()
        self._cascades: dict[str, dict[str, Any]] = {}
        self.floor_ms: int | None = None
        self.watermark: int | None = None
        self.added = 0
        self.duplicates = 0
        self.late_dropped = 0
        self.evicted = 0

    # -- write -------------------------------------------------------------
    def add(self, liq: Liquidation) -> bool:
        """Hold one liquidation; False when it is a repeat or at/below the floor (O(1) amortized)."""
        ts = liq.timestamp
        with self._lock:
            if liq.id in self._ids:
                self.duplicates += 1
                return False
            if self.floor_ms is not None and ts <= self.floor_ms:
                self.late_dropped += 1
                return False
            ev = self._events
            last = ev[-1] if len(ev) > self._head else None
            if last is None or last.timestamp < ts or (last.timestamp == ts and last.id <= liq.id):
                ev.append(liq)  # the common case: in time order
            else:
                insort(ev, liq, lo=self._head, key=_KEY)
            self._ids.add(liq.id)
            self.added += 1
            if self.watermark is None or ts > self.watermark:
                self.watermark = ts
                self._evict_before(ts - self.retention_ms)
            if len(ev) - self._head > self.max_events:
                self._evict_to(len(ev) - self.max_events)
        return True

    append = add  #: alias for pipelines that call ``append``

    def _evict_before(self, cutoff: int) -> None:
        """Drop held events with ``timestamp <= cutoff`` except the newest ``min_keep`` (lock held)."""
        ev, head = self._events, self._head
        stop = len(ev) - self.min_keep
        end = head
        while end < stop and ev[end].timestamp <= cutoff:
            end += 1
        self._evict_to(end)

    def _evict_to(self, end: int) -> None:
        """Drop ``_events[_head:end]`` (the oldest) and raise the floor to the newest dropped
        timestamp: L1 still holds every event it was given above it (lock held)."""
        ev, head = self._events, self._head
        if end <= head:
            return
        for e in ev[head:end]:
            self._ids.discard(e.id)
        self.evicted += end - head
        last = ev[end - 1].timestamp
        if self.floor_ms is None or last > self.floor_ms:
            self.floor_ms = last
        if end > 4096 and end * 2 > len(ev):  # compact: amortized O(1) per event
            del ev[:end]
            end = 0
        self._head = end

    def _prune_cascades(self) -> None:
        """Forget ended cascades that ended at or below the floor (lock held)."""
        floor = self.floor_ms
        if floor is not None:
            for cid in [k for k, r in self._cascades.items() if r["end_ts"] <= floor and r["status"] != "active"]:
                del self._cascades[cid]

    def warm(self, events: Iterable[Liquidation], floor_ms: int | None, cascades: Iterable[dict] = ()) -> None:
        """Load rows already stored (DuckDB) before the feed starts: ``events`` are every stored
        liquidation with ``timestamp > floor_ms`` (``floor_ms`` None: every stored one), ``cascades``
        the stored cascade rows ending above it. Call on an empty store."""
        with self._lock:
            if self._events[self._head:] or self._cascades:
                raise ValueError("warm() needs an empty MemoryStore")
            self.floor_ms = floor_ms
            for r in cascades:
                self._cascades[str(r["id"])] = dict(r)
        for e in sorted(events, key=_KEY):
            self.add(e)

    def upsert_cascades(self, rows: Iterable[dict[str, Any]]) -> None:
        """Keep the latest state of each cascade row (dicts with ``CASCADE_COLUMNS`` keys)."""
        with self._lock:
            for r in rows:
                self._cascades[str(r["id"])] = dict(r)
            self._prune_cascades()

    # -- read --------------------------------------------------------------
    def covers(self, start_ms: int | None) -> bool:
        """True when L1 holds every event with ``timestamp > start_ms`` it was given."""
        floor = self.floor_ms
        return floor is None or (start_ms is not None and start_ms >= floor)

    def newest(self, n: int, accept=None, end_ms: int | None = None) -> list[Liquidation] | None:
        """The ``n`` newest held events with ``timestamp <= end_ms`` (None: no bound) that
        ``accept(event)`` keeps, newest first in ``(timestamp, id)`` order -- or None when L1
        cannot prove them complete (fewer than ``n`` found above a floor)."""
        with self._lock:
            ev = self._events[self._head:]
            floor = self.floor_ms
        hi = len(ev) if end_ms is None else bisect_right(ev, end_ms, key=attrgetter("timestamp"))
        out: list[Liquidation] = []
        for i in range(hi - 1, -1, -1):
            e = ev[i]
            if accept is None or accept(e):
                out.append(e)
                if len(out) == n:
                    return out
        return out if floor is None else None

    def window(self, start_ms: int | None, end_ms: int | None) -> list[Liquidation] | None:
        """Held events with ``start_ms < timestamp <= end_ms`` in ``(timestamp, id)`` order, or
        None when the window reaches below the floor (L1 may miss some)."""
        with self._lock:
            if not self.covers(start_ms):
                return None
            ev, head = self._events, self._head
            lo = head if start_ms is None else bisect_right(ev, start_ms, lo=head, key=attrgetter("timestamp"))
            hi = len(ev) if end_ms is None else bisect_right(ev, end_ms, lo=head, key=attrgetter("timestamp"))
            return ev[lo:hi]

    def cascades(self, start_ms: int | None, end_ms: int) -> list[dict[str, Any]] | None:
        """Cascade rows overlapping ``(start_ms, end_ms]`` (``start_ts <= end_ms`` and ``end_ts >
        start_ms``), or None when the window reaches below the floor."""
        with self._lock:
            if not self.covers(start_ms):
                return None
            self._prune_cascades()
            return [dict(r) for r in self._cascades.values()
                    if r["start_ts"] <= end_ms and (start_ms is None or r["end_ts"] > start_ms)]

    def __len__(self) -> int:
        return len(self._events) - self._head

    def stats(self) -> dict[str, Any]:
        """Counters: held events and cascades, floor, watermark, added, duplicates, late, evicted."""
        return {"tier": "memory", "events": len(self), "cascades": len(self._cascades),
                "floor_ms": self.floor_ms, "watermark": self.watermark, "added": self.added,
                "duplicates": self.duplicates, "late_dropped": self.late_dropped, "evicted": self.evicted}
