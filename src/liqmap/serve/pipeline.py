"""The serve pipeline: event sources -> L1 memory + storage + websocket broadcast.

One direction, one writer::

    source (live ExchangeAggregator | recorded-file replay)
        │ normalized events (Liquidation, Gap, ...)
        ▼
    ServePipeline.run()  ── dedupe by id, advance the clock
        ├─► MemoryStore (L1, optional)         in the event loop, O(1)
        ├─► BroadcastHub.publish()             non-blocking, bounded per-client queues
        └─► storage writer (TieredStore on its own thread), in batches,
            off the event loop (thread), so a slow disk never stalls ingestion.

Clocks: in live mode "now" is the wall clock; in replay mode "now" is the
:class:`ReplayClock` -- the latest replayed event time -- so a 24 h window on a 2025
recording means the last 24 h of that recording.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

from liqmap.feed.dedupe import Deduper
from liqmap.models import Event, Gap, Liquidation
from liqmap.serve.clock import LiveClock, ReplayClock
from liqmap.serve.hub import BroadcastHub

log = logging.getLogger("liqmap.serve.pipeline")


async def _call(fn: Callable, *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await asyncio.to_thread(fn, *args)


# --------------------------------------------------------------------------- pipeline


@dataclass
class PipelineStats:
    """Counters of one pipeline run (all monotonic)."""

    events: int = 0
    liquidations: int = 0
    duplicates: int = 0
    gaps: int = 0
    stored: int = 0
    store_errors: int = 0
    by_exchange: dict[str, int] = field(default_factory=dict)
    last_event_ms: dict[str, int] = field(default_factory=dict)
    last_received_ms: dict[str, int] = field(default_factory=dict)
    finished: bool = False


class ServePipeline:
    """Consume an async source of events and fan them out (see module docstring).

    Args:
        hub: broadcast hub for websocket clients.
        clock: :class:`LiveClock` or :class:`ReplayClock` (advanced on every event).
        store: object with ``write(events)`` (sync or async) and optional ``flush``/``close``.
        memory: optional L1 store with ``add(event)`` or ``append(event)``.
        on_event: optional callback ``(event) -> None`` (metrics).
        batch_ms / batch_max: storage write batching (time and size bound).
        dedupe_window: how many recent ids are remembered to drop duplicates.
    """

    def __init__(
        self,
        hub: BroadcastHub,
        clock: LiveClock | ReplayClock,
        store: Any | None = None,
        memory: Any | None = None,
        on_event: Callable[[Event], None] | None = None,
        batch_ms: int = 25,
        batch_max: int = 2000,
        dedupe_window: int = 200_000,
    ) -> None:
        self.hub = hub
        self.clock = clock
        self.store = store
        self.memory = memory
        self.on_event = on_event
        self.batch_ms = batch_ms
        self.batch_max = batch_max
        self.dedupe_window = dedupe_window
        self.stats = PipelineStats()
        self._seen = Deduper(dedupe_window)
        self._buffer: list[Event] = []
        self._flush_lock = asyncio.Lock()
        self._mem_add = None
        if memory is not None:
            self._mem_add = getattr(memory, "add", None) or getattr(memory, "append", None)

    def handle(self, event: Event) -> bool:
        """Process one event synchronously (no I/O); returns False for a duplicate."""
        st = self.stats
        st.events += 1
        if isinstance(event, Liquidation):
            if self._seen.seen(event.id):
                st.duplicates += 1
                return False
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
        elif isinstance(event, Gap):
            st.gaps += 1
        if self.on_event is not None:
            self.on_event(event)
        if self.store is not None:
            self._buffer.append(event)
        return True

    async def flush(self) -> None:
        """Write buffered events to storage (in a thread for sync stores)."""
        async with self._flush_lock:
            if not self._buffer or self.store is None:
                return
            batch, self._buffer = self._buffer, []
            try:
                await _call(self.store.write, batch)
                self.stats.stored += len(batch)
            except Exception:
                self.stats.store_errors += 1
                log.exception("storage write failed (%d events kept in memory only)", len(batch))

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.batch_ms / 1000)
            await self.flush()

    async def run(self, source: AsyncIterator[Event]) -> PipelineStats:
        """Consume ``source`` to its end (or cancellation), flushing storage as it goes."""
        flusher = asyncio.create_task(self._flusher())
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


# --------------------------------------------------------------------------- sources


async def paced(
    events: AsyncIterator[Event] | Iterable[Event],
    speed: float | None,
    max_gap_s: float = 2.0,
) -> AsyncIterator[Event]:
    """Re-time a stream of events by their ``timestamp`` at ``speed`` x real time.

    ``speed`` None or <= 0 yields as fast as possible. A gap between consecutive
    events never waits longer than ``max_gap_s`` seconds (recordings from different
    years would otherwise wait forever); events going back in time wait 0.
    """
    last_ts: int | None = None
    if hasattr(events, "__aiter__"):
        it = events
    else:
        async def _gen():
            for e in events:  # type: ignore[union-attr]
                yield e
        it = _gen()
    async for ev in it:  # type: ignore[union-attr]
        ts = getattr(ev, "timestamp", None)
        if speed and speed > 0 and ts is not None:
            if last_ts is not None and ts > last_ts:
                await asyncio.sleep(min((ts - last_ts) / 1000 / speed, max_gap_s))
            last_ts = ts if last_ts is None else max(last_ts, ts)
        yield ev


def replay_source(
    paths: Sequence[str],
    fmt: str = "auto",
    exchange: str | None = None,
    parse_errors: dict[str, int] | None = None,
) -> AsyncIterator[Event]:
    """Unpaced async iterator of events from recorded files.

    Uses :class:`liqmap.replay.runner.ReplayRunner`: frames merged by receipt time,
    each parsed by its venue's parser via :func:`liqmap.exchanges.base.safe_parse`
    (the live path).
    ``parse_errors`` (if given) is filled with rejected-frame counts per exchange.

    Raises (before yielding): ``FileNotFoundError``, ``ValueError`` / ``UnknownFormatError``
    for unreadable inputs.
    """
    from liqmap.replay.runner import ReplayRunner

    errors = parse_errors if parse_errors is not None else {}
    runner = ReplayRunner(list(paths), fmt, exchange)  # raises now for bad inputs
    return _runner_events(runner, errors)


async def _runner_events(runner: Any, errors: dict[str, int]) -> AsyncIterator[Event]:
    """Events of a ``ReplayRunner`` (sync parse), yielding to the loop every 500 events."""
    n = 0
    for ev in runner.iter_events():
        yield ev
        n += 1
        if n % 500 == 0:
            errors.update(runner.stats.parse_errors)
            await asyncio.sleep(0)
    errors.update(runner.stats.parse_errors)
