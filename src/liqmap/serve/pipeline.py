"""The serve pipeline: the aggregator's stream -> L1 memory + websocket broadcast + storage.

One direction, one writer::

    ExchangeAggregator (live venues | recorded-file replays; merged, deduplicated)
        │ subscribe(None): lossless, every event kind (Liquidation, Gap, OI, trades, ...)
        ▼
    ServePipeline.consume()  ── advance the clock, count
        ├─► MemoryStore (L1, optional)         in the event loop, O(1)
        ├─► BroadcastHub.publish()             non-blocking, bounded per-client queues
        └─► storage writer (TieredStore on its own thread), in batches,
            off the event loop (thread), so a slow disk never stalls ingestion.

The pipeline does not de-duplicate: the aggregator is the one in-memory dedupe point, and the
storage key is the durable one. Its input is any async stream of events (or lists of events):
today the aggregator's, later a NATS JetStream consumer's -- the collecting/storing boundary.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from liqmap.models import Event, Gap, Liquidation
from liqmap.serve.clock import LiveClock, ReplayClock
from liqmap.serve.hub import BroadcastHub
from liqmap.units import SECOND_MS, now_ms

log = logging.getLogger("liqmap.serve.pipeline")


async def _call(fn: Callable, *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await asyncio.to_thread(fn, *args)


# --------------------------------------------------------------------------- pipeline


@dataclass
class PipelineStats:
    """Counters of one pipeline run (all monotonic). ``handed`` counts events handed to the
    store's ``write`` -- buffered there, NOT committed: what is committed is the store's own
    counter (``/health`` ``storage.committed``)."""

    events: int = 0
    liquidations: int = 0
    gaps: int = 0
    handed: int = 0
    store_errors: int = 0
    by_exchange: dict[str, int] = field(default_factory=dict)
    last_event_ms: dict[str, int] = field(default_factory=dict)
    last_received_ms: dict[str, int] = field(default_factory=dict)
    finished: bool = False


@dataclass(eq=False)
class ServePipeline:
    """Consume a stream of events and fan them out (see module docstring).

    Fields:
        hub: broadcast hub for websocket clients.
        clock: :class:`LiveClock` or :class:`ReplayClock` (advanced on every event).
        store: object with ``write(events)`` (sync or async) and optional ``flush``/``close``.
        memory: optional L1 store with ``add(event)`` or ``append(event)``.
        on_event: optional callback ``(event) -> None`` (metrics).
        batch_ms / batch_max: storage write batching (time in ms and size bound in events).
        stats: the run's :class:`PipelineStats`.
    """

    hub: BroadcastHub
    clock: LiveClock | ReplayClock
    store: Any | None = None
    memory: Any | None = None
    on_event: Callable[[Event], None] | None = None
    batch_ms: int = 25
    batch_max: int = 2000
    stats: PipelineStats = field(default_factory=PipelineStats, init=False)

    def __post_init__(self) -> None:
        self._buffer: list[Event] = []
        self._late: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher_task: asyncio.Task | None = None
        self._flush_lock = asyncio.Lock()
        mem = self.memory
        self._mem_add = None if mem is None else (getattr(mem, "add", None) or getattr(mem, "append", None))

    @property
    def buffered(self) -> int:
        """Events waiting in the pipeline for their next write to the store."""
        return len(self._buffer)

    def handle(self, event: Event) -> None:
        """Process one event synchronously (no I/O)."""
        st = self.stats
        st.events += 1
        if isinstance(event, Liquidation):
            st.liquidations += 1
            st.by_exchange[event.exchange] = st.by_exchange.get(event.exchange, 0) + 1
            st.last_event_ms[event.exchange] = event.timestamp
            st.last_received_ms[event.exchange] = event.received_at
            self.clock.observe(event.timestamp)
            if self._mem_add is not None:
                try:
                    self._mem_add(event)
                except Exception:  # L1 is a cache; never let it stop ingestion
                    log.exception("memory store rejected an event")
            self.hub.publish(event)
        elif isinstance(event, Gap) and not event.filled:  # a filled gap was counted when reported
            st.gaps += 1
        if self.on_event is not None:
            self.on_event(event)
        if self.store is not None:
            self._buffer.append(event)

    def inject(self, events: list[Event]) -> None:
        """Add derived events (e.g. arbitrage opportunity states) to the next storage write;
        they are not handled (no clock, L1, hub or ``on_event``). Once the source has ended
        (a finished replay) they are written at once, as the periodic flusher is gone."""
        if self.store is None:
            return
        self._buffer.extend(events)
        flusher = self._flusher_task
        if (flusher is None or flusher.done()) and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._flush_late)

    def _flush_late(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def flush(self) -> None:
        """Write buffered events to storage (in a thread for sync stores)."""
        async with self._flush_lock:
            if not self._buffer or self.store is None:
                return
            batch, self._buffer = self._buffer, []
            try:
                await _call(self.store.write, batch)
                self.stats.handed += len(batch)
            except Exception:
                self.stats.store_errors += 1
                log.exception("storage write failed (%d events kept in memory only)", len(batch))

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.batch_ms / SECOND_MS)
            await self.flush()

    async def consume(self, aggregator: Any) -> PipelineStats:
        """Subscribe losslessly to ``aggregator`` (an :class:`~liqmap.feed.aggregator.ExchangeAggregator`),
        start its feeds and :meth:`run` until its stream ends (replays read) or cancellation.
        A live clock also runs :func:`live_housekeeping` on the store meanwhile."""
        stream = aggregator.subscribe(queue_size=None)
        upkeep = None
        if self.clock.mode == "live" and hasattr(self.store, "expire"):
            upkeep = asyncio.create_task(live_housekeeping(self.store), name="liqmap-store-upkeep")
        try:
            await aggregator.connect_all()
            return await self.run(stream.batches())
        finally:
            stream.close()
            if upkeep is not None:
                upkeep.cancel()
                await asyncio.gather(upkeep, return_exceptions=True)

    async def run(self, source: AsyncIterator[Any]) -> PipelineStats:
        """Consume ``source`` (events or lists of events) to its end (or cancellation),
        flushing storage as it goes."""
        self._loop = asyncio.get_running_loop()
        flusher = self._flusher_task = asyncio.create_task(self._flusher())
        try:
            async for item in source:
                events = item if isinstance(item, (list, tuple)) else (item,)
                for ev in events:
                    self.handle(ev)
                if len(self._buffer) >= self.batch_max:
                    await self.flush()
        finally:
            flusher.cancel()
            try:
                await flusher
            except (asyncio.CancelledError, Exception):
                pass
            await self.flush()
            if self.store is not None and hasattr(self.store, "flush"):
                try:
                    await _call(self.store.flush)
                except Exception:
                    log.exception("storage flush failed")
            self.stats.finished = True
        return self.stats


async def live_housekeeping(store: Any, every_s: float = 5.0, maintenance_every_s: float = 3600.0) -> None:
    """Wall-clock upkeep of a live store, until cancelled.

    Cascade detection is event-time driven, so a cascade whose underlying goes
    quiet would stay "active" until its next liquidation; every ``every_s``
    seconds this ends cascades quiet at the current UTC time
    (``store.expire(now_ms)``). Every ``maintenance_every_s`` seconds it runs
    ``store.maintenance()`` (PostgreSQL rollup refresh and 90-day retention when
    that tier is on). Errors are logged and retried next round, never raised.
    """
    last_maintenance = time.monotonic()
    while True:
        await asyncio.sleep(every_s)
        try:
            await store.expire(now_ms())
            if time.monotonic() - last_maintenance >= maintenance_every_s:
                last_maintenance = time.monotonic()
                await store.maintenance()
        except Exception:
            log.exception("store housekeeping failed; retrying next round")
