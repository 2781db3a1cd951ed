"""TieredStore: one write path over DuckDB (always) + Redis / PostgreSQL (optional).

Used by ``liqmap replay --db`` and the live service::

    store = TieredStore(db_path="data/liquidations.duckdb", redis_url=None, postgres_dsn=None)
    await store.write(events)          # any Event types, any batch size
    summary = await store.close()      # flushes, ends open cascades, returns counters

What it does per batch:

1. DuckDB (source of truth) buffers/commits every liquidation and gap
   (idempotent on ``id``; see :mod:`liqmap.storage.duckdb_store`).
2. Cascade detection (:class:`liqmap.analytics.cascades.CascadeDetector`) runs
   over the batch's liquidations. The store expects the deduplicated stream of
   :class:`liqmap.feed.aggregator.ExchangeAggregator` (the one in-memory dedupe
   point; ``serve`` and ``replay --db`` write that stream): a resent event is
   still stored once (DuckDB key) but would count twice in a cascade. Every start/update/end is upserted into DuckDB
   ``cascades`` (and PostgreSQL ``liquidation_cascades``, Redis
   ``{p}:cascade:status:{BASE}``). Cascade ids are ``{base}-{start_ts}``, so a
   replay of the same input upserts the same rows.
3. The market series (:class:`liqmap.analytics.market_series.MarketSeries`): open
   interest that passed the guard and mark prices sampled to the last value of each minute,
   closed venue klines and 1-minute trade bars, committed with the DuckDB batch (upserted
   on their keys), mirrored to PostgreSQL (partitioned tables) and, latest value per
   instrument, to Redis. Rejected open interest is counted per venue (``stats()["market"]``).
   With them, the market view's rows (issue #15): merged tickers sampled to the last value of
   each second (:class:`liqmap.analytics.ticker_series.TickerSeries`, DuckDB
   ``market_tickers``, latest per instrument in Redis ``{p}:ticker:...``) and the
   :class:`~liqmap.analytics.arbitrage.ArbitrageOpportunity` states the stream carries
   (``arbitrage_opportunities``, by id).
4. Redis and PostgreSQL get the same batch. They are optional mirrors: if one
   fails (server down), the error is logged, counted and shown in
   ``tiers[...]["status"]`` and that tier is switched off for the rest of the
   run; DuckDB writes continue. Pass ``strict=True`` to raise instead.

Summary returned by :meth:`close` (JSON-ready)::

    {"events_seen": {"binance": 3510}, "liquidations_seen": 3510,
     "stored": 1837, "duplicates_skipped": 1673, "pending": 0, "gaps_stored": 0,
     "cascades_found": 7, "cascade_events": {"start": 7, "update": 9, "end": 7},
     "db_path": "...", "tiers": {"duckdb": {...}, "redis": {"status": "off"}, "postgres": {...}}}
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Callable, Sequence

from liqmap.analytics.cascades import CascadeConfig, CascadeDetector, CascadeEvent, cascade_row
from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.market_series import MarketRows, MarketSeries
from liqmap.analytics.ticker_series import TickerSeries
from liqmap.models import Event, Liquidation
from liqmap.storage.base import StorageError, redact_url
from liqmap.storage.duckdb_store import BULK_BATCH_ROWS, DuckDBStore
from liqmap.units import INSTITUTIONAL_USD

log = logging.getLogger(__name__)


class TieredStore:
    """Write events to every enabled tier and detect cascades on the way.

    Args:
        db_path: DuckDB file; ``None`` = settings ``LIQMAP_DB``.
        redis_url: enable the Redis tier (``redis://host:port/db``); ``None`` = off.
        postgres_dsn: enable the PostgreSQL tier; ``None`` = off.
        cascade_config: detector thresholds (default :class:`CascadeConfig`).
        institutional_usd: PostgreSQL ``liquidations_significant`` threshold, USD.
        batch_size / flush_interval_s: DuckDB commit triggers (events / seconds); the
            default batch is DuckDB's row-group size (:data:`BULK_BATCH_ROWS`, 122,880),
            so a replay commits full row groups.
        redis_prefix: Redis key prefix (default settings ``LIQMAP_REDIS_PREFIX``).
        strict: raise :class:`StorageError` when an optional tier fails instead
            of switching it off.
        on_cascades: called with every batch of cascade rows the detector produces (dicts
            of :data:`~liqmap.storage.duckdb_store.CASCADE_COLUMNS`), e.g. the L1 store's
            ``upsert_cascades``; it runs on the writer's thread and must not block.
        on_cascade_events: called with every batch of
            :class:`~liqmap.analytics.cascades.CascadeEvent` (alerts, the serve log); the
            writer's thread, must not block.

    Raises: :class:`StorageError` if the DuckDB file cannot be opened.
    """

    def __init__(
        self,
        db_path: str | None = None,
        redis_url: str | None = None,
        postgres_dsn: str | None = None,
        cascade_config: CascadeConfig | None = None,
        institutional_usd: float = INSTITUTIONAL_USD,
        *,
        batch_size: int = BULK_BATCH_ROWS,
        flush_interval_s: float = 1.0,
        redis_prefix: str | None = None,
        strict: bool = False,
        on_cascades: Callable[[list[dict[str, Any]]], None] | None = None,
        on_cascade_events: Callable[[list[CascadeEvent]], None] | None = None,
    ) -> None:
        self.duckdb = DuckDBStore(db_path, batch_size=batch_size, flush_interval_s=flush_interval_s)
        self.detector = CascadeDetector(cascade_config or CascadeConfig())
        self.market = MarketSeries()
        self.tickers = TickerSeries()
        self.strict = strict
        self.on_cascades = on_cascades
        self.on_cascade_events = on_cascade_events
        self.events_seen: Counter[str] = Counter()
        self.liquidations_seen = 0
        self.cascade_events: Counter[str] = Counter({"start": 0, "update": 0, "end": 0})
        self._tier_status: dict[str, str] = {"duckdb": "ok", "redis": "off", "postgres": "off"}
        self.redis = None
        self.postgres = None
        self._started = False
        self._closed = False
        self._summary: dict[str, Any] | None = None
        if redis_url:
            from liqmap.storage.redis_store import RedisStore

            self.redis = RedisStore(redis_url, prefix=redis_prefix)
            self._tier_status["redis"] = "pending"
        if postgres_dsn:
            from liqmap.storage.postgres_store import PostgresStore

            self.postgres = PostgresStore(postgres_dsn, institutional_usd=institutional_usd)
            self._tier_status["postgres"] = "pending"

    # --------------------------------------------------------------- helpers
    async def _start(self) -> None:
        """Connect the optional tiers once (first write)."""
        self._started = True
        if self.redis is not None:
            try:
                await self.redis.ping()
                self._tier_status["redis"] = "ok"
            except StorageError as exc:
                await self._tier_failed("redis", exc)
        if self.postgres is not None:
            try:
                await self.postgres.connect()
                self._tier_status["postgres"] = "ok"
            except StorageError as exc:
                await self._tier_failed("postgres", exc)

    async def _tier_failed(self, name: str, exc: Exception) -> None:
        if self.strict:
            raise exc if isinstance(exc, StorageError) else StorageError(f"{name}: {exc}")
        log.error("storage tier %s failed, switched off for this run: %s", name, exc)
        self._tier_status[name] = f"error: {exc}"
        tier = getattr(self, name)
        setattr(self, name, None)
        self._failed = getattr(self, "_failed", {})
        self._failed[name] = tier
        try:
            await tier.close()
        except Exception:  # noqa: BLE001 - already failing; closing is best effort
            pass

    async def _mirror(self, name: str, coro) -> None:
        try:
            await coro
        except Exception as exc:  # noqa: BLE001 - optional tier: degrade, keep DuckDB going
            await self._tier_failed(name, exc)

    async def _store_cascades(self, cev: list[CascadeEvent]) -> None:
        if not cev:
            return
        for ev in cev:
            self.cascade_events[ev.kind] += 1
        rows = [cascade_row(ev) for ev in cev]
        await self.duckdb.upsert_cascades(rows)
        if self.on_cascades is not None:
            self.on_cascades(rows)
        if self.on_cascade_events is not None:
            try:
                self.on_cascade_events(cev)
            except Exception:  # a listener (alerts, log) must never stop storage
                log.exception("cascade listener failed")
        if self.postgres is not None:
            await self._mirror("postgres", self.postgres.upsert_cascades(rows))
        if self.redis is not None:
            latest: dict[str, dict] = {}
            for r in rows:
                latest[r["symbol"]] = r
            await self._mirror("redis", self.redis.set_cascade_status(list(latest.values())))

    # ---------------------------------------------------------------- API
    async def write(self, events: Sequence[Event]) -> None:
        """Store a batch in every enabled tier and run cascade detection on it.

        Raises :class:`StorageError` after :meth:`close`, or when the DuckDB
        commit fails (then the batch stays buffered; nothing is dropped).
        """
        if self._closed:
            raise StorageError("tiered: write after close")
        if not self._started:
            await self._start()
        cev: list[CascadeEvent] = []
        for e in events:
            ex = getattr(e, "exchange", None)
            if ex is not None:
                self.events_seen[ex] += 1
            if isinstance(e, Liquidation):
                self.liquidations_seen += 1
                cev.extend(self.detector.update(e))
        await self.duckdb.write(events)
        if self.redis is not None:
            await self._mirror("redis", self.redis.write(events))
        if self.postgres is not None:
            await self._mirror("postgres", self.postgres.write(events))
        rows = self.market.add(events)
        rows.tickers = self.tickers.add(events)
        rows.arbitrage = [e for e in events if type(e) is ArbitrageOpportunity]
        await self._store_market(rows)
        await self._store_cascades(cev)

    async def _store_market(self, rows: MarketRows) -> None:
        """Market-series rows to DuckDB (with its batch) and the mirrors; latest values to Redis."""
        await self.duckdb.write_market(rows)
        if self.redis is not None and (rows.latest or rows.bars or rows.tickers):
            await self._mirror("redis", self.redis.set_latest(rows))
        if self.postgres is not None and len(rows):
            await self._mirror("postgres", self.postgres.write_market(rows))

    async def expire(self, now_ms: int) -> None:
        """Live use: end cascades that have been quiet at wall-clock ``now_ms`` (ms UTC)."""
        await self._store_cascades(self.detector.expire(now_ms))

    async def maintenance(self, retention_days: int = 90) -> dict[str, Any]:
        """Periodic upkeep for a long-running service (call e.g. hourly).

        PostgreSQL (when enabled): refresh the rollup views and drop data older
        than ``retention_days``. Returns ``{"postgres_dropped": [...]}``.
        """
        out: dict[str, Any] = {"postgres_dropped": []}
        if self.postgres is not None:
            pg = self.postgres

            async def run() -> None:
                await pg.refresh()
                out["postgres_dropped"] = await pg.retention(retention_days)

            await self._mirror("postgres", run())
        return out

    async def flush(self) -> None:
        """Commit everything buffered in every tier."""
        await self.duckdb.flush()
        if self.postgres is not None:
            await self._mirror("postgres", self.postgres.flush())

    def stats(self) -> dict[str, Any]:
        """Current counters (same shape as the :meth:`close` summary)."""
        d = self.duckdb.stats()
        tiers: dict[str, Any] = {"duckdb": {**d, "status": self._tier_status["duckdb"]}}
        for name in ("redis", "postgres"):
            tier = getattr(self, name) or getattr(self, "_failed", {}).get(name)
            st = {"status": self._tier_status[name]}
            if tier is not None:
                st.update(tier.stats())
                st["status"] = self._tier_status[name]
            tiers[name] = st
        return {
            "events_seen": dict(self.events_seen),
            "liquidations_seen": self.liquidations_seen,
            "stored": d["stored"],
            "stored_by_exchange": d["stored_by_exchange"],
            "duplicates_skipped": d["duplicates_skipped"],
            "pending": d["pending"],
            "gaps_stored": d["gaps_stored"],
            "cascades_found": self.cascade_events["start"],
            "cascade_events": dict(self.cascade_events),
            "market": {**self.market.stats(), "rows_written": d.get("market_rows_written", 0)},
            "db_path": self.duckdb.path,
            "tiers": tiers,
        }

    async def close(self) -> dict[str, Any]:
        """End open cascades, flush and close every tier; returns the summary. Idempotent."""
        if self._closed:
            return self._summary or self.stats()
        try:
            await self._store_cascades(self.detector.flush())
            rows = self.market.flush()
            rows.tickers = self.tickers.flush()
            await self._store_market(rows)
            await self.flush()
            if self.postgres is not None:  # rollup views current after a replay
                await self._mirror("postgres", self.postgres.refresh())
        finally:
            self._closed = True
            await self.duckdb.close()
            for name in ("redis", "postgres"):
                tier = getattr(self, name)
                if tier is not None:
                    try:
                        await tier.close()
                    except Exception as exc:  # noqa: BLE001
                        self._tier_status[name] = f"error on close: {exc}"
        self._summary = self.stats()
        return self._summary

    def describe(self) -> str:
        """One line naming the enabled tiers (passwords redacted)."""
        parts = [f"duckdb={self.duckdb.path}"]
        if self.redis is not None:
            parts.append(f"redis={redact_url(self.redis.url)}")
        if self.postgres is not None:
            parts.append(f"postgres={redact_url(self.postgres.dsn)}")
        return " ".join(parts)
