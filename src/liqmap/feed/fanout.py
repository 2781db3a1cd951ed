"""Bounded, non-blocking event queues for consumers (drop-oldest policy).

A producer (adapter, aggregator) calls :meth:`Subscription.offer`, which never
blocks and never awaits: when the consumer's queue already holds ``maxsize``
items, the OLDEST queued item is discarded and ``dropped`` is incremented.
Rationale: a slow consumer (a browser websocket, a stalled DB writer) must not
stall ingestion or other consumers, and for live dashboards the newest events
matter most. Consumers that must not lose data size their queue accordingly
and watch ``dropped``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

_CLOSED = object()


class Subscription:
    """One consumer's queue; async-iterable (``async for ev in sub``).

    Args:
        maxsize: queue bound in events (>= 1).
        filter: optional predicate; events for which it returns False are not queued.
        on_close: called once with this subscription when it is closed.

    Iteration ends after :meth:`close` once the queued events are consumed.
    """

    def __init__(
        self,
        maxsize: int = 10_000,
        filter: Callable[[Any], bool] | None = None,
        on_close: Callable[["Subscription"], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.filter = filter
        self.dropped = 0
        self.delivered = 0
        self.closed = False
        self._queue: asyncio.Queue = asyncio.Queue()
        self._on_close = on_close

    def offer(self, event: Any) -> bool:
        """Queue ``event`` if it passes the filter; never blocks. Returns True if queued."""
        if self.closed:
            return False
        if self.filter is not None:
            try:
                if not self.filter(event):
                    return False
            except Exception:
                return False
        q = self._queue
        while q.qsize() >= self.maxsize:
            q.get_nowait()
            self.dropped += 1
        q.put_nowait(event)
        return True

    def qsize(self) -> int:
        return self._queue.qsize()

    async def get(self) -> Any:
        """Next event; raises ``StopAsyncIteration`` when closed and drained."""
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep later get() calls ending too
            raise StopAsyncIteration
        self.delivered += 1
        return item

    def close(self) -> None:
        """Stop accepting events; iteration ends after the queued ones."""
        if self.closed:
            return
        self.closed = True
        self._queue.put_nowait(_CLOSED)
        if self._on_close is not None:
            self._on_close(self)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Any:
        return await self.get()
