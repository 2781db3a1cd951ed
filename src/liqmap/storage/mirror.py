"""Optional tiers (Redis, PostgreSQL) as self-healing mirrors of DuckDB, off its commit path.

DuckDB is the source of truth. Each optional tier is a :class:`TierMirror`: its own thread
and event loop, fed through a bounded queue with what DuckDB has COMMITTED (a
:class:`Committed` batch handed over by the DuckDB commit hook, a non-blocking O(1) append),
so a hung, slow or dead tier can never delay a DuckDB commit::

    DuckDB commit ──hook──► TierMirror.offer(batch)   (never blocks, never raises)
                                 │ bounded queue (``max_backlog`` events)
                                 ▼
                      tier thread: connect ─► apply (timeout) ─► ok
                                 │ failure: close, back off (capped full jitter), reconnect
                                 ▼
                      queue full: the oldest batches are dropped, their liquidations
                      remembered as "dirty since <min received_at>", their cascade and
                      market rows kept (bounded) -> on recovery, BACKFILL from DuckDB

Guarantee: when a tier comes back, it is back-filled from DuckDB with every committed
liquidation received since the oldest one it missed (rows it already holds are skipped by its
own idempotence: PostgreSQL ``ON CONFLICT (id, ts) DO NOTHING``, Redis ``seen:{id}`` keys,
which live one hour), then the dropped cascade / market upserts are applied, then the queue
continues in order. So a tier ends with every event it should hold, none twice.

Every operation runs under ``op_timeout_s`` (and the tiers' own connect / statement /
socket timeouts); a timed-out connection is discarded, never reused.

State (:meth:`TierMirror.state`, in ``/health``, ``/metrics`` and the monitor):

* ``ok`` -- the last operation succeeded and nothing is missing;
* ``degraded`` -- retrying after a failure, back-filling, or behind (oldest queued batch
  older than ``lag_degraded_s``);
* ``down`` -- ``down_after`` (3) consecutive failures;

plus ``backlog`` (events queued), ``lag_s`` (age of the oldest queued batch, or of the
oldest missed event while dirty), ``last_error``, ``failures``, ``retries``, ``dropped``
(events dropped from the queue, all back-filled later), ``backfilled``, ``missing``
(True while dropped events are not back-filled yet) and ``complete`` (nothing queued,
nothing missing: the tier holds everything DuckDB committed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from liqmap.analytics.market_series import MarketRows
from liqmap.feed.backoff import Backoff
from liqmap.models import Liquidation
from liqmap.storage.base import redact_dsn, zero_counters

log = logging.getLogger(__name__)

#: Cascade / market rows of dropped batches kept for the back-fill, at most (then counted lost).
MAX_HELD_ROWS = 200_000
#: The mirror's counters (attributes of the same name, in :meth:`TierMirror.state`): failures in a
#: row (0 once a delivery succeeds), retries, liquidations dropped from the queue (back-filled
#: later), cascade / market rows lost beyond :data:`MAX_HELD_ROWS`, liquidations back-filled from
#: DuckDB, events applied to the tier.
COUNTERS: tuple[str, ...] = ("failures", "retries", "dropped", "lost_rows", "backfilled", "applied")


@dataclass
class Committed:
    """What one DuckDB commit made durable, the unit a mirror applies.

    Fields: ``liquidations`` (the batch, duplicates of stored rows included: tiers are
    idempotent), ``cascades`` (id -> latest row), ``market`` (market-series rows).
    """

    liquidations: list[Liquidation] = field(default_factory=list)
    cascades: dict[str, dict[str, Any]] = field(default_factory=dict)
    market: MarketRows = field(default_factory=MarketRows)

    def __len__(self) -> int:
        return len(self.liquidations) + len(self.cascades) + len(self.market)

    def merge(self, other: "Committed") -> None:
        """Append ``other`` (newer) to this batch."""
        self.liquidations += other.liquidations
        self.cascades.update(other.cascades)
        self.market.extend(other.market)


class Tier:
    """What a mirror drives (``RedisStore`` and ``PostgresStore`` implement it)::

        await connect()                # raises StorageError
        await mirror(batch)            # apply one Committed batch (durable when it returns)
        await close()
        stats() -> dict
    """


Backfill = Callable[[int, float], Iterator[list[Liquidation]]]


class TierMirror:
    """One optional tier mirrored off the DuckDB commit path (module docstring).

    Args:
        name: ``redis`` / ``postgres``.
        factory: builds a fresh tier object (called in the mirror's thread; again after a
            failure, so a broken connection is never reused).
        backfill: ``(received_since_ms, min_value_usd) -> chunks of committed liquidations``
            read from DuckDB; None disables back-filling (tests).
        min_value_usd: only liquidations of at least this notional are back-filled
            (PostgreSQL keeps the significant ones).
        max_backlog: events queued at most; beyond, the oldest batches are dropped (dirty).
        op_timeout_s: bound on one connect / apply / close.
        backoff_base / backoff_cap: retry delays (capped full jitter), seconds.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[[], Any],
        backfill: Backfill | None = None,
        *,
        min_value_usd: float = 0.0,
        max_backlog: int = 250_000,
        op_timeout_s: float = 5.0,
        backoff_base: float = 0.25,
        backoff_cap: float = 5.0,
        down_after: int = 3,
        lag_degraded_s: float = 5.0,
    ) -> None:
        self.name = name
        self.factory = factory
        self.backfill_source = backfill
        self.min_value_usd = min_value_usd
        self.max_backlog = max_backlog
        self.op_timeout_s = op_timeout_s
        self.down_after = down_after
        self.lag_degraded_s = lag_degraded_s
        self.backoff = Backoff(backoff_base, max(backoff_cap, backoff_base))
        self.tier: Any = None
        self._last_stats: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._queue: deque[tuple[float, Committed]] = deque()
        self._backlog = 0
        self._dirty_since: int | None = None  # min received_at of dropped liquidations
        self._dirty_mono: float | None = None
        self._held = Committed()
        self._drop_gen = 0
        zero_counters(self, COUNTERS)
        self.last_error = ""
        self.last_ok_mono: float | None = None
        self.connected = False
        self._backfilling = False
        self._busy = False
        self._inflight = 0  # events of the batch being delivered
        self.undelivered = 0  # events never delivered: queued or in flight when the mirror stopped
        self._tier_lock: asyncio.Lock | None = None  # made in the mirror's loop
        self._epoch: Any = None  # the tier server's identity (Redis run_id) when last connected
        #: (monotonic time, oldest receipt ms) of batches delivered within the tier's retention
        self._recent: deque[tuple[float, int]] = deque()
        self._closing = False
        self._stop = False
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._thread = threading.Thread(target=self._main, name=f"liqmap-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side
    def offer(self, batch: Committed) -> None:
        """Queue a committed batch (any thread; O(1), never blocks, never raises).

        When the queue would exceed ``max_backlog`` events the oldest queued batches are
        dropped: their liquidations will be back-filled from DuckDB, their cascade and
        market rows are kept (at most :data:`MAX_HELD_ROWS`) for that back-fill."""
        n = len(batch)
        if not n or self._stop:
            return
        with self._lock:
            self._queue.append((time.monotonic(), batch))
            self._backlog += n
            while self._backlog > self.max_backlog and len(self._queue) > 1:
                _, old = self._queue.popleft()
                self._backlog -= len(old)
                self._drop(old)
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # loop closed (after close): nothing to wake
            pass

    def _drop(self, batch: Committed) -> None:
        """Forget a batch now, remember what the back-fill must restore (lock held)."""
        self.dropped += len(batch.liquidations)
        self._drop_gen += 1
        if batch.liquidations:
            since = min(e.received_at for e in batch.liquidations)
            self._dirty_since = since if self._dirty_since is None else min(self._dirty_since, since)
            if self._dirty_mono is None:
                self._dirty_mono = time.monotonic()
        if batch.cascades or len(batch.market):
            if len(self._held) + len(batch.cascades) + len(batch.market) <= MAX_HELD_ROWS:
                self._held.merge(Committed(cascades=batch.cascades, market=batch.market))
            else:
                self.lost_rows += len(batch.cascades) + len(batch.market)

    # ------------------------------------------------------------------ state
    @property
    def missing(self) -> bool:
        """True while dropped liquidations are not back-filled yet."""
        return self._dirty_since is not None or bool(len(self._held))

    def state(self) -> dict[str, Any]:
        """``{state, backlog, lag_s, last_error, failures, retries, dropped, backfilled,
        missing, lost_rows, stored, ...}`` (JSON-ready; any thread)."""
        now = time.monotonic()
        with self._lock:
            oldest = self._queue[0][0] if self._queue else None
            backlog = self._backlog
        lag = now - oldest if oldest is not None else 0.0
        if self._dirty_mono is not None:
            lag = max(lag, now - self._dirty_mono)
        if self.failures >= self.down_after:
            st = "down"
        elif self.failures or self._backfilling or self.missing or lag > self.lag_degraded_s:
            st = "degraded"
        else:
            st = "ok"
        tier = self.tier
        stats = self._last_stats
        if tier is not None:
            try:
                stats = self._last_stats = dict(tier.stats())
            except Exception:  # noqa: BLE001 - stats never break health
                pass
        return {
            **stats, "status": st, "backlog": backlog, "lag_s": round(lag, 3), "last_error": self.last_error,
            "failures": self.failures, "retries": self.retries, "dropped": self.dropped,
            "backfilled": self.backfilled, "missing": self.missing, "lost_rows": self.lost_rows,
            "inflight": self._inflight, "undelivered": self.undelivered,
            "complete": not self.missing and not backlog and not self._inflight and not self.undelivered,
            "applied": self.applied,
            "last_ok_age_s": round(now - self.last_ok_mono, 3) if self.last_ok_mono is not None else None,
        }

    # ------------------------------------------------------------------ calls from other loops
    async def call(self, op: Callable[[Any], Awaitable[Any]], timeout_s: float | None = None) -> Any:
        """Run ``op(tier)`` on the mirror's thread (connecting first), bounded by
        ``timeout_s`` (default ``op_timeout_s``). Raises what it raised, or TimeoutError."""
        async def run():
            async with self._lock_tier():
                await self._ensure_connected()
                return await asyncio.wait_for(op(self.tier), timeout_s or self.op_timeout_s)

        fut = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return await asyncio.wrap_future(fut)

    async def close(self, drain_s: float = 10.0, final: Callable[[Any], Awaitable[Any]] | None = None) -> dict:
        """Deliver what is queued (and back-fill what is missing) within ``drain_s`` seconds,
        run ``final(tier)`` when the tier is healthy (PostgreSQL: refresh the rollups), close
        the tier and stop the thread. Returns the final :meth:`state`. Idempotent."""
        if self._stop:
            return self.state()
        self._closing = True
        self._loop.call_soon_threadsafe(self._wake.set)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and (self._backlog or self.missing or self._busy) and not self._stop:
            await asyncio.sleep(0.05)
        if final is not None and not self._backlog and not self.missing and self.failures == 0:
            try:
                await self.call(final, max(1.0, deadline - time.monotonic()))
            except Exception as exc:  # noqa: BLE001 - reported in the state
                self.last_error = redact_dsn(f"{type(exc).__name__}: {exc}")
        self._stop = True
        self._loop.call_soon_threadsafe(self._wake.set)
        await asyncio.to_thread(self._thread.join, self.op_timeout_s + 2.0)
        return self.state()

    # ------------------------------------------------------------------ the mirror's thread
    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
            with self._lock:  # whatever is still queued at the stop was never delivered
                self.undelivered += self._backlog
        finally:
            try:
                self._loop.run_until_complete(self._discard())
            finally:
                self._loop.close()

    async def _run(self) -> None:
        while not self._stop:
            batch = self._take()
            if batch is None:
                if self.missing:
                    await self._deliver(Committed())  # back-fill even when nothing new arrives
                    continue
                self._wake.clear()
                if self._queue_empty() and not self._stop:
                    try:
                        await asyncio.wait_for(self._wake.wait(), 1.0)
                    except asyncio.TimeoutError:
                        pass
                continue
            await self._deliver(batch)

    def _queue_empty(self) -> bool:
        with self._lock:
            return not self._queue

    def _take(self) -> Committed | None:
        """The queued batches merged into one (catching up costs one transaction), or None."""
        with self._lock:
            if not self._queue:
                return None
            _, batch = self._queue.popleft()
            self._backlog -= len(batch)
            while self._queue and len(batch) < 50_000:
                _, nxt = self._queue.popleft()
                self._backlog -= len(nxt)
                batch.merge(nxt)
            self._busy = True
            return batch

    async def _deliver(self, batch: Committed) -> None:
        """Apply ``batch`` (back-filling first when something is missing), retrying with backoff
        until it succeeds or the mirror stops."""
        self._busy = True
        self._inflight = len(batch)
        try:
            while not self._stop:
                try:
                    async with self._lock_tier():
                        await self._ensure_connected()
                        if self.missing:
                            await self._backfill()
                        if len(batch):
                            await asyncio.wait_for(self.tier.mirror(batch), self.op_timeout_s)
                            self.applied += len(batch)
                            self._see_received(batch.liquidations)
                    self._ok()
                    return
                except Exception as exc:  # noqa: BLE001 - any tier failure: degrade, retry
                    async with self._lock_tier():
                        await self._failed(exc)
                    if self._stop:
                        break  # counted as undelivered below, never silently forgotten
                    delay = self.backoff.next_delay()
                    self.retries += 1
                    try:
                        await asyncio.wait_for(self._stopped(), delay)
                    except asyncio.TimeoutError:
                        pass
                    with self._lock:  # a retried batch beyond the bound is dropped too (back-filled later)
                        if len(batch) and self._backlog + len(batch) > self.max_backlog:
                            self._drop(batch)
                            batch = Committed()
                            self._inflight = 0
            self.undelivered += len(batch)  # stopped before it could be delivered
        finally:
            self._inflight = 0
            self._busy = False

    def _see_received(self, liqs: list[Liquidation]) -> None:
        """Remember (now, oldest receipt time) of a delivered batch for as long as the tier
        retains data (``retained_ms``; only tiers with an ``epoch`` can lose it on a restart)."""
        retained = getattr(self.tier, "retained_ms", None)
        if not liqs or retained is None or getattr(self.tier, "epoch", None) is None:
            return
        now = time.monotonic()
        self._recent.append((now, min(e.received_at for e in liqs)))
        while self._recent and now - self._recent[0][0] > retained / 1000:
            self._recent.popleft()

    def _lock_tier(self) -> asyncio.Lock:
        """The lock serialising tier use in the mirror's loop (delivery vs :meth:`call`)."""
        if self._tier_lock is None:
            self._tier_lock = asyncio.Lock()
        return self._tier_lock

    async def _stopped(self) -> None:
        while not self._stop:
            await asyncio.sleep(0.05)

    async def _ensure_connected(self) -> None:
        if self.tier is not None and self.connected:
            return
        if self.tier is None:
            self.tier = self.factory()
        await asyncio.wait_for(self.tier.connect(), self.op_timeout_s)
        self.connected = True
        epoch = getattr(self.tier, "epoch", None)
        if epoch is not None:
            if self._epoch is not None and epoch != self._epoch and self._recent:
                # the server restarted empty (Redis without persistence): refill what it held,
                # i.e. everything delivered within its retention (wall clock)
                since = min(m for _, m in self._recent)
                with self._lock:
                    self._drop_gen += 1
                    self._dirty_since = since if self._dirty_since is None else min(self._dirty_since, since)
                    self._dirty_mono = self._dirty_mono or time.monotonic()
                log.warning("storage tier %s: the server restarted; refilling from DuckDB", self.name)
            self._epoch = epoch

    def _ok(self) -> None:
        if self.failures:
            log.warning("storage tier %s: back (after %d failures)", self.name, self.failures)
        self.failures = 0
        self.backoff.reset()
        self.last_ok_mono = time.monotonic()

    async def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        msg = redact_dsn(f"{type(exc).__name__}: {exc}" if not str(exc).startswith(self.name) else str(exc))
        self.last_error = msg.splitlines()[0][:300] if msg else type(exc).__name__
        if self.failures == 1 or self.failures == self.down_after:
            log.error("storage tier %s failed (%d in a row), DuckDB continues; retrying: %s",
                      self.name, self.failures, self.last_error)
        await self._discard()

    async def _discard(self) -> None:
        """Close the tier object (bounded); a new one is built on the next attempt."""
        tier, self.tier, self.connected = self.tier, None, False
        if tier is None:
            return
        try:
            self._last_stats = dict(tier.stats())
        except Exception:  # noqa: BLE001
            pass
        try:
            await asyncio.wait_for(tier.close(), 1.0)
        except BaseException:  # noqa: BLE001 - already failing; closing is best effort
            pass

    async def _backfill(self) -> None:
        """Restore what was dropped: held cascade/market rows, then every committed
        liquidation received since the oldest dropped one, read from DuckDB in chunks."""
        self._backfilling = True
        try:
            with self._lock:
                since, held, gen = self._dirty_since, self._held, self._drop_gen
                self._held = Committed()
            try:
                if len(held):
                    await asyncio.wait_for(self.tier.mirror(held), self.op_timeout_s * 4)
                    held = Committed()
                if since is not None and self.backfill_source is not None:
                    for chunk in self.backfill_source(since, self.min_value_usd):
                        await asyncio.wait_for(self.tier.mirror(Committed(liquidations=chunk)), self.op_timeout_s)
                        self.backfilled += len(chunk)
                        self._see_received(chunk)
            except BaseException:
                with self._lock:  # keep what was not restored for the next attempt
                    held.merge(self._held)
                    self._held = held
                raise
            with self._lock:
                if self._drop_gen == gen:  # nothing dropped meanwhile: complete
                    self._dirty_since = None
                    self._dirty_mono = None
                    if since is not None:
                        log.warning("storage tier %s: back-filled from DuckDB (received since %d)", self.name, since)
        finally:
            self._backfilling = False
