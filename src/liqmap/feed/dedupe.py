"""Bounded de-duplication by event id: the one in-memory dedupe of the event stream.

Used by :meth:`liqmap.feed.aggregator.ExchangeAggregator.publish` only; every consumer of the
aggregator's stream (serve pipeline, storage, views) sees each event once. Venues resend
(reconnect snapshots, OKX's first push, overlapping connections during rotation, duplicate
lines in captures), so the last ``size`` ids are kept in insertion/LRU order. The storage key
(DuckDB, Redis, PostgreSQL) is the durable guarantee beyond that window.
Memory: about 100 bytes per remembered id.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

DEFAULT_DEDUPE_SIZE = 200_000


class Deduper:
    """Bounded LRU set of seen keys.

    ``seen(key)`` returns True if ``key`` is among the last ``size`` keys (and
    refreshes it), else records it and returns False. Raises ``ValueError`` for
    ``size < 1``.
    """

    def __init__(self, size: int = DEFAULT_DEDUPE_SIZE) -> None:
        if size < 1:
            raise ValueError(f"dedupe size must be >= 1, got {size}")
        self.size = size
        self._keys: OrderedDict[Any, None] = OrderedDict()

    def seen(self, key: Any) -> bool:
        keys = self._keys
        if key in keys:
            keys.move_to_end(key)
            return True
        keys[key] = None
        if len(keys) > self.size:
            keys.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._keys)
