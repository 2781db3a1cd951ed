"""Consumer queues of the event stream: non-blocking for producers, two policies.

A producer (adapter, aggregator) calls :meth:`Subscription.offer`, which never blocks and
never awaits. What happens when a consumer falls behind is the consumer's choice:

* ``maxsize=N`` (default 10,000) -- **drop oldest**: when the queue already holds N
  events the OLDEST is discarded and ``dropped`` incremented. For live views (library
  streams, dashboards): a slow consumer never stalls ingestion or other consumers, and the
  newest events matter most.
* ``maxsize=None`` -- **lossless**: nothing is ever dropped. For the storing side (the serve
  pipeline, ``replay --db``). A live venue cannot be paused, so the backlog is bounded only by
  how far the consumer falls behind; producers that CAN wait (recorded-file replays) call
  :meth:`wait_room` and hold back while the backlog is above a high-water mark.

Consumers read one event at a time (``async for ev in sub``) or everything queued at once
(``async for batch in sub.batches()``; one wake-up per burst instead of one per event).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator, Callable


class Subscription:
    """One consumer's queue; async-iterable (``async for ev in sub``).

    Args:
        maxsize: queue bound in events (>= 1, drop-oldest), or None for lossless (module doc).
        filter: optional predicate; events for which it returns False (or raises) are not queued.
        on_close: called once with this subscription when it is closed.

    Iteration ends after :meth:`close` once the queued events are consumed.

    Raises:
        ValueError: ``maxsize < 1``.
    """

    def __init__(
        self,
        maxsize: int | None = 10_000,
        filter: Callable[[Any], bool] | None = None,
        on_close: Callable[["Subscription"], None] | None = None,
    ) -> None:
        if maxsize is not None and maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.filter = filter
        self.dropped = 0
        self.delivered = 0
        self.closed = False
        self._items: deque = deque()
        self._waiter: asyncio.Future | None = None  # the consumer, waiting for an event
        self._room: asyncio.Future | None = None  # a producer, waiting for the backlog to shrink
        self._room_at = 0
        self._on_close = on_close

    @property
    def lossless(self) -> bool:
        """True when this queue never drops (``maxsize`` None)."""
        return self.maxsize is None

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
        items = self._items
        if self.maxsize is not None and len(items) >= self.maxsize:
            items.popleft()
            self.dropped += 1
        items.append(event)
        self._wake_consumer()
        return True

    def qsize(self) -> int:
        """Events queued and not yet consumed."""
        return len(self._items)

    def _wake_consumer(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _taken(self) -> None:
        """After the consumer took events: release a producer waiting in :meth:`wait_room`."""
        r = self._room
        if r is not None and len(self._items) <= self._room_at:
            self._room = None
            if not r.done():
                r.set_result(None)

    async def _wait_for_items(self) -> None:
        """Return once an event is queued; raise ``StopAsyncIteration`` when closed and drained."""
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def get(self) -> Any:
        """Next event; raises ``StopAsyncIteration`` when closed and drained."""
        await self._wait_for_items()
        self.delivered += 1
        item = self._items.popleft()
        if self._room is not None:
            self._taken()
        return item

    async def get_batch(self) -> list[Any]:
        """Every queued event (at least one), oldest first; ``StopAsyncIteration`` when closed
        and drained."""
        await self._wait_for_items()
        batch = list(self._items)
        self._items.clear()
        self.delivered += len(batch)
        if self._room is not None:
            self._taken()
        return batch

    async def batches(self) -> AsyncIterator[list[Any]]:
        """``async for batch in sub.batches()``: :meth:`get_batch` until closed and drained."""
        while True:
            try:
                yield await self.get_batch()
            except StopAsyncIteration:
                return

    async def wait_room(self, high_water: int) -> None:
        """For producers that can wait: return once at most ``high_water`` events are queued
        (or the subscription is closed). Returns at once when there is room."""
        while len(self._items) > high_water and not self.closed:
            if self._room is None:
                self._room_at = high_water // 2
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)  # shared by every waiting producer

    def close(self) -> None:
        """Stop accepting events; iteration ends after the queued ones."""
        if self.closed:
            return
        self.closed = True
        self._wake_consumer()
        r, self._room = self._room, None
        if r is not None and not r.done():
            r.set_result(None)
        if self._on_close is not None:
            self._on_close(self)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Any:
        return await self.get()
