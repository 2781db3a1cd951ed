"""Shared state of one running API: the DuckDB connection, clock, hub, metrics, pipeline.

The serve process is the single DuckDB writer; HTTP reads use ``state.cursor()``
(a cursor on the same in-process database) from FastAPI's threadpool, so queries
never block the event loop and never open a second read-write process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb

from liqmap.storage import duckdb_reads
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.storage.reads import TieredReads
from liqmap.api.metrics import Metrics
from liqmap.serve.clock import LiveClock, ReplayClock
from liqmap.serve.hub import BroadcastHub
from liqmap.serve.pipeline import ServePipeline
from liqmap.settings import Settings, get_settings
from liqmap.units import now_ms

log = logging.getLogger("liqmap.api")


@dataclass
class AppState:
    """Everything the routers need.

    Fields:
        con: DuckDB connection owned by this process (reads via :meth:`cursor`).
        clock: live or replay clock; ``clock.mode`` is ``"live"`` | ``"replay"``.
        hub: websocket fan-out (its drops, and ``heatmap_hub``'s, count in
            ``liqmap_ws_dropped_messages_total`` unless the hub has its own ``on_drop``).
        metrics: Prometheus metrics.
        settings: liqmap settings.
        enabled: venue ids this process collects (live) or replays.
        aggregator: the :class:`~liqmap.feed.aggregator.ExchangeAggregator` whose stream the
            pipeline consumes (live venues or replays), or None for a read-only state.
        store: storage sink the pipeline writes to (closed at shutdown).
        memory: L1 in-memory store the pipeline appends to, or None.
        after_source: coroutine function ``f(state)`` awaited once the source finished and its
            events are stored (the demo's looping tail, :func:`liqmap.serve.demo.loop_tail`).
        reads: the routers' read side over L1 and DuckDB (:class:`~liqmap.storage.reads.TieredReads`,
            built from ``cursor`` and ``memory``; warmed from DuckDB at :meth:`start`).
        heatmap: the live heatmap (:class:`~liqmap.serve.heatmap.HeatmapService`) started with the
            pipeline, or None; its ``levels`` messages go to ``heatmap_hub`` (``/ws/heatmap``).
        market: the cross-exchange view, alerts and event log
            (:class:`~liqmap.serve.market.MarketService`) fed by the pipeline, or None
            (a read-only state: ``/market/*`` answers from DuckDB where it can).
        recordings: the recordings a replay serves, ``[{name, exchange, start_ms, end_ms, files}]``
            (``liqmap demo``: :func:`liqmap.serve.demo.demo_recordings`), shown in ``/health`` so
            the dashboard can say which recording a row comes from; None when not known.
    """

    con: duckdb.DuckDBPyConnection
    clock: LiveClock | ReplayClock
    hub: BroadcastHub
    metrics: Metrics
    settings: Settings
    db_path: str = ":memory:"
    enabled: list[str] = field(default_factory=list)
    aggregator: Any | None = None
    store: Any | None = None
    memory: Any | None = None
    pipeline: ServePipeline | None = None
    heatmap: Any | None = None
    market: Any | None = None
    heatmap_hub: BroadcastHub = field(default_factory=BroadcastHub)
    after_source: Callable[["AppState"], Any] | None = None
    recordings: list[dict] | None = None
    started_ms: int = field(default_factory=now_ms)
    _task: asyncio.Task | None = None
    _heatmap_task: asyncio.Task | None = None
    _market_task: asyncio.Task | None = None
    _health_cache: tuple[float, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict = field(default_factory=dict)
    _computing: set = field(default_factory=set)
    cache_ttl_s: float = 1.0
    reads: TieredReads = field(init=False)

    def __post_init__(self) -> None:
        self.reads = TieredReads(self.cursor, self.memory)
        for hub in (self.hub, self.heatmap_hub):  # a message a slow client misses is counted
            if hub.on_drop is None:
                hub.on_drop = self.metrics.ws_dropped.inc

    @property
    def mode(self) -> str:
        return self.clock.mode

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared connection (one per request / thread)."""
        with self._lock:
            return self.con.cursor()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def cache_peek(self, key: tuple) -> Any | None:
        """Cached value for ``key`` if still fresh, else None (never computes)."""
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.cache_ttl_s:
            return hit[1]
        return None

    def cached(self, key: tuple, compute: Callable[[], Any], ttl_s: float | None = None) -> Any:
        """``compute()`` memoized for ``ttl_s`` seconds (default :attr:`cache_ttl_s`, 1 s).

        Aggregates (heatmap, stats, symbol lists) are recomputed at most once a second
        per distinct query, so dashboards polling the same view cost one DuckDB query.
        """
        ttl = self.cache_ttl_s if ttl_s is None else ttl_s
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        with self._lock:  # single flight: one thread refreshes, the others serve the stale value
            if hit is not None and key in self._computing:
                return hit[1]
            self._computing.add(key)
        try:
            value = compute()
        finally:
            with self._lock:
                self._computing.discard(key)
        with self._lock:
            if len(self._cache) > 2048:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), value)
        return value

    def meta(self, **extra: Any) -> dict[str, Any]:
        """Response ``meta``: ``{mode, now_ms, ...extra}``, plus ``loop`` (``{round, start_ms,
        end_ms}``) while a looping replay (``liqmap demo``) plays its tail again."""
        loop = getattr(self.clock, "loop", None)
        return {"mode": self.mode, "now_ms": self.now_ms(), **({"loop": loop} if loop else {}), **extra}

    async def start(self) -> None:
        """Warm L1 from DuckDB, then start the pipeline on the aggregator's stream (when this
        state ingests)."""
        if self.aggregator is None:
            return
        if self.memory is not None:
            n = await asyncio.to_thread(self.reads.warm)
            log.info("L1 warmed with %d stored liquidations", n)
        live = self.mode == "live"
        market = self.market

        def on_event(ev):  # metrics per event, the market view; cheap
            self.metrics.observe_event(ev, live, now_ms() if live else None)
            if market is not None:
                market.handle(ev)

        self.pipeline = ServePipeline(self.hub, self.clock, self.store, self.memory, on_event)
        if market is not None:
            market.now_ms, market.pipeline = self.now_ms, self.pipeline
            market.store_events = self.pipeline.inject
            market.on_switch = self.metrics.observe_switch
            self._market_task = asyncio.create_task(market.run(), name="liqmap-market")
        self._task = asyncio.create_task(self._run())
        if self.heatmap is not None:
            self.heatmap.publish = self.publish_levels
            self._heatmap_task = asyncio.create_task(self.heatmap.run(), name="liqmap-heatmap")

    def publish_levels(self, base: str, message: dict) -> None:
        """Push one ``levels`` message to the ``/ws/heatmap`` clients of ``base``."""
        import json

        self.heatmap_hub.publish_text((base, message), lambda item: json.dumps(item[1], separators=(",", ":")))

    async def _run(self) -> None:
        try:
            stats = await self.pipeline.consume(self.aggregator)
            await self.aggregator.wait_replays()
            log.info("source finished: %d liquidations (%d duplicates dropped)",
                     stats.liquidations, self.aggregator.duplicates)
            if self.after_source is not None:  # e.g. the demo's looping tail
                await self.after_source(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event source failed")

    async def stop(self) -> None:
        """Stop the heatmap, the market view (queued alerts get 2 s) and the pipeline, flush and
        close storage and the aggregator."""
        for t in (self._heatmap_task, self._market_task):
            if t is not None:
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self.aggregator is not None:
            try:
                await self.aggregator.disconnect_all()
            except Exception:
                log.exception("disconnect failed")
        if self.store is not None and hasattr(self.store, "close"):
            try:
                res = self.store.close()
                if asyncio.iscoroutine(res):
                    await res
            except Exception:
                log.exception("storage close failed")

    def market_stats(self) -> dict[str, Any] | None:
        """The store's market-series counters (``oi_rejected`` / ``oi_accepted`` per venue, late
        observations), or None when this state stores nothing."""
        market = getattr(getattr(self.store, "inner", self.store), "market", None)
        return market.stats() if market is not None else None

    def tiered(self) -> Any | None:
        """The :class:`~liqmap.storage.tiered.TieredStore` this state writes to, or None."""
        inner = getattr(self.store, "inner", self.store)
        return inner if hasattr(inner, "tier_states") else None

    def storage_health(self) -> dict[str, Any] | None:
        """``{"committed", "buffered", "duplicates_skipped", "quarantined", "commit_lag_ms",
        "tiers"}``: liquidations COMMITTED to DuckDB this run (never above the rows on disk),
        events buffered and not committed yet (pipeline + DuckDB buffer; what a crash would
        lose and a replay restores), the last commits' lag (receipt -> commit, ms) and each
        tier's state (DuckDB; Redis and PostgreSQL: ok / degraded / down, backlog, lag, last
        error, :mod:`liqmap.storage.mirror`). None when this state stores nothing."""
        store = self.tiered()
        if store is None:
            return None
        d = store.duckdb.stats()
        pipe = self.pipeline.buffered if self.pipeline is not None else 0
        return {"committed": d["stored"], "buffered": pipe + d["pending"],
                "duplicates_skipped": d["duplicates_skipped"], "quarantined": d["quarantined_stored"],
                "commit_lag_ms": d["commit_lag_ms"],
                "tiers": {"duckdb": {"status": "ok", "path": d["path"], "batches": d["batches"]},
                          **store.tier_states()}}

    def sync_parse_errors(self) -> None:
        """Copy the feeds' parse-error counts, subscription counts and the open-interest
        guard's rejections into the metrics."""
        market = self.market_stats()
        if market is not None:
            self.metrics.set_oi_rejected(market["oi_rejected"])
        storage = self.storage_health()
        if storage is not None:
            self.metrics.set_storage(storage)
        if self.market is not None:
            self.metrics.arbitrage_open.set(len(self.market.view.tracker.opportunities()))
            if self.market.alerts is not None:
                self.metrics.set_alerts(self.market.alerts.stats())
        if self.aggregator is not None:
            try:
                self.metrics.set_parse_errors(self.aggregator.parse_errors())
                if hasattr(self.aggregator, "rate_limited"):
                    self.metrics.set_rate_limited(self.aggregator.rate_limited())
                self.metrics.set_gate_counts(self.aggregator.gate_counts())
                if hasattr(self.aggregator, "subscriptions"):
                    self.metrics.set_subscriptions(self.aggregator.subscriptions())
            except Exception:
                log.exception("parse-error counts unavailable")


def open_readonly_state(db_path: str | None = None, settings: Settings | None = None) -> AppState:
    """State reading an existing DuckDB file, no ingestion (``mode == "replay"``,
    "now" = newest stored event). The file gets the storage migrations, so a new or older
    file reads like a current one. Raises ``duckdb.IOException`` when the file is locked by
    another process."""
    settings = settings or get_settings()
    path = db_path or settings.db
    con = duckdb.connect(path)
    apply_migrations(con)
    return reading_state(con, settings, path)


def reading_state(con: duckdb.DuckDBPyConnection, settings: Settings | None = None,
                  db_path: str = ":memory:") -> AppState:
    """State answering from the open connection ``con`` (migrated), no ingestion; the replay
    clock starts at the newest stored liquidation."""
    return AppState(con=con, clock=ReplayClock(duckdb_reads.latest_timestamp(con)), hub=BroadcastHub(),
                    metrics=Metrics(), settings=settings or get_settings(), db_path=db_path)
