"""The API's read side over the storage tiers: L1 first where it is complete, DuckDB otherwise.

:class:`TieredReads` answers ``/liquidations/recent``, ``/liquidations/stats`` (windows up to
:data:`L1_MAX_WINDOW_MS`, 1 h) and the streaming detector's cascade status (the ``detected``
list of ``/liquidations/cascades``, same window bound) from the in-memory tier
(:class:`~liqmap.storage.memory.MemoryStore`) when that tier holds the whole window (its
``floor_ms`` at or below the window start; see :mod:`liqmap.storage.memory`), and from DuckDB
(:mod:`liqmap.storage.duckdb_reads`) otherwise: a longer window, a process without L1, an
hour busier than L1's cap, and stats over more than :data:`L1_MAX_STATS_EVENTS` events (DuckDB's
columnar scan sums those faster than Python). Both tiers give the same answer: the same rows
in the same order (``(timestamp, id)``; ties broken the same way in SQL and in Python), the
same shapes (one formatter, :func:`liqmap.analytics.stats.stats_body`), sums equal up to
floating-point summation order (DuckDB adds in its scan order). L1 also sees events a few
hundred ms before their DuckDB commit.

``served`` counts answers per ``(read, tier)``; :meth:`warm` fills L1 from DuckDB at start so
a restart keeps serving the last hour from memory.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Sequence

import duckdb

from liqmap.analytics.stats import liquidation_row, liquidation_stats, stats_body
from liqmap.models import Liquidation
from liqmap.storage import duckdb_reads
from liqmap.storage.duckdb_store import CASCADE_COLUMNS
from liqmap.storage.memory import MemoryStore
from liqmap.units import HOUR_MS

#: the longest stats / cascade-status window L1 answers (ms)
L1_MAX_WINDOW_MS = HOUR_MS
#: stats over more events than this go to DuckDB: Python folds ~0.6 us per event, DuckDB's
#: columnar scan of a busy hour (72,000 events) takes ~20 ms (``benchmarks/bench_reads.py``)
L1_MAX_STATS_EVENTS = 25_000


def _accept(base: str | None, exchanges: Sequence[str] | None, min_value_usd: float | None = None):
    """Event predicate equal to :func:`liqmap.storage.duckdb_reads._where`'s filters."""
    ex = set(exchanges) if exchanges else None
    floor = float(min_value_usd) if min_value_usd else None

    def accept(e: Liquidation) -> bool:
        return ((base is None or e.base == base) and (ex is None or e.exchange in ex)
                and (floor is None or e.value_usd >= floor))
    return accept


class TieredReads:
    """Reads for the API (see module docstring).

    Args:
        cursor: returns a new DuckDB cursor on the store's database (closed after each read).
        memory: the L1 store the pipeline fills, or None (every read goes to DuckDB).
    """

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection], memory: MemoryStore | None = None) -> None:
        self.cursor = cursor
        self.memory = memory
        self.served: Counter[tuple[str, str]] = Counter()

    def _l1_window(self, start_ms: int | None, end_ms: int) -> bool:
        return (self.memory is not None and start_ms is not None and end_ms - start_ms <= L1_MAX_WINDOW_MS
                and self.memory.covers(start_ms))

    def warm(self) -> int:
        """Load DuckDB's newest events into an empty L1 -- L1's retention behind the newest
        stored event (at most its cap, at least its ``min_keep`` newest) -- with the cascades
        ending among them; returns the events loaded."""
        mem = self.memory
        if mem is None:
            return 0
        with self.cursor() as cur:
            latest = duckdb_reads.latest_timestamp(cur)
            floor = None if latest is None else latest - mem.retention_ms
            rows = [] if latest is None else duckdb_reads.newest_rows(cur, floor, mem.max_events)
            if rows and len(rows) == mem.max_events:  # capped: complete only above the oldest loaded
                floor = rows[-1]["timestamp"]
            elif latest is not None and len(rows) < mem.min_keep:
                rows = duckdb_reads.newest_rows(cur, None, mem.min_keep)
                floor = rows[-1]["timestamp"] if len(rows) == mem.min_keep else None
            cascades = duckdb_reads.cascade_rows_since(cur, floor)
        mem.warm([Liquidation(**r) for r in rows if floor is None or r["timestamp"] > floor], floor, cascades)
        return len(mem)

    def recent(self, base: str | None, exchanges: Sequence[str] | None, min_value_usd: float | None,
               limit: int, end_ms: int | None = None) -> list[dict[str, Any]]:
        """Latest ``limit`` liquidations (newest first, ``timestamp`` then ``id`` descending) with
        ``timestamp <= end_ms`` (None: no bound), as :func:`duckdb_reads.recent` answers."""
        if self.memory is not None:
            got = self.memory.newest(int(limit), _accept(base, exchanges, min_value_usd), end_ms)
            if got is not None:
                self.served["recent", "memory"] += 1
                return [liquidation_row(e) for e in got]
        self.served["recent", "duckdb"] += 1
        with self.cursor() as cur:
            return duckdb_reads.recent(cur, base, exchanges, min_value_usd, limit, end_ms)

    def stats(self, base: str | None, start_ms: int | None, end_ms: int, exchanges: Sequence[str] | None,
              large_usd: float, institutional_usd: float, bucket_ms: int) -> dict[str, Any]:
        """Totals over ``(start_ms, end_ms]``, as :func:`duckdb_reads.stats` answers."""
        events = self.memory.window(start_ms, end_ms) if self._l1_window(start_ms, end_ms) else None
        if events is not None and len(events) <= L1_MAX_STATS_EVENTS:
            self.served["stats", "memory"] += 1
            st = liquidation_stats(filter(_accept(base, exchanges), events), top_n=1, large_usd=large_usd,
                                   institutional_usd=institutional_usd, bucket_ms=bucket_ms)
            return stats_body(st, bucket_ms)
        self.served["stats", "duckdb"] += 1
        with self.cursor() as cur:
            return duckdb_reads.stats(cur, base, start_ms, end_ms, exchanges, large_usd, institutional_usd,
                                      bucket_ms)

    def detected_cascades(self, base: str | None, start_ms: int | None, end_ms: int,
                          limit: int = 100) -> list[dict[str, Any]]:
        """The streaming detector's cascades overlapping ``(start_ms, end_ms]``, newest end
        first (ties by id), as :func:`duckdb_reads.stored_cascades` answers."""
        rows = self.memory.cascades(start_ms, end_ms) if self._l1_window(start_ms, end_ms) else None
        if rows is not None:
            self.served["cascades", "memory"] += 1
            if base:
                rows = [r for r in rows if r["symbol"].upper() == base.upper()]
            rows.sort(key=lambda r: (-r["end_ts"], r["id"]))
            return [duckdb_reads.cascade_status(tuple(r[c] for c in CASCADE_COLUMNS[:13])) for r in rows[:limit]]
        self.served["cascades", "duckdb"] += 1
        with self.cursor() as cur:
            return duckdb_reads.stored_cascades(cur, base, start_ms, end_ms, limit)
