"""TieredStore: one write path over DuckDB (always) + Redis / PostgreSQL (optional).

Used by ``liqmap replay --db`` and the live service::

    store = TieredStore(db_path="data/liquidations.duckdb", redis_url=None, postgres_dsn=None)
    await store.write(events)          # any Event types, any batch size
    summary = await store.close()      # flushes, ends open cascades, returns counters

What it does per batch:

1. DuckDB (source of truth) buffers/commits every liquidation, gap and quarantined event
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
4. Redis and PostgreSQL MIRROR what DuckDB committed (:mod:`liqmap.storage.mirror`): each
   on its own thread behind a bounded queue fed by DuckDB's commit hook, with connect,
   statement, socket and per-operation timeouts, so a hung tier never delays a DuckDB
   commit. A failed tier is retried with capped backoff and, when it returns, back-filled
   from DuckDB; its state (ok / degraded / down, backlog, lag, last error) is in
   ``tiers[...]``. ``strict=True`` (``replay --db --redis/--postgres``): a tier that cannot
   connect at the start raises, and so does :meth:`close` when a tier is still missing events.

Summary returned by :meth:`close` (JSON-ready)::

    {"events_seen": {"binance": 3510}, "liquidations_seen": 3510,
     "stored": 1837, "duplicates_skipped": 1673, "pending": 0, "gaps_stored": 0,
     "cascades_found": 7, "cascade_events": {"start": 7, "update": 9, "end": 7},
     "db_path": "...", "tiers": {"duckdb": {...}, "redis": {"status": "off"}, "postgres": {...}}}
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, Callable, Iterator, Sequence

from liqmap.analytics.cascades import CascadeConfig, CascadeDetector, CascadeEvent, cascade_row
from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.market_series import MarketRows, MarketSeries
from liqmap.analytics.ticker_series import TickerSeries
from liqmap.models import Event, Liquidation
from liqmap.storage.base import StorageError, redact_dsn
from liqmap.storage.duckdb_reads import liquidations_received_since
from liqmap.storage.duckdb_store import BULK_BATCH_ROWS, DuckDBStore
from liqmap.storage.mirror import Committed, TierMirror
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
        strict: raise :class:`StorageError` when an optional tier cannot connect at the start
            or is still missing events at :meth:`close`, instead of reporting it.
        on_cascades: called with every batch of cascade rows the detector produces (dicts
            of :data:`~liqmap.storage.duckdb_store.CASCADE_COLUMNS`), e.g. the L1 store's
            ``upsert_cascades``; it runs on the writer's thread and must not block.
        on_cascade_events: called with every batch of
            :class:`~liqmap.analytics.cascades.CascadeEvent` (alerts, the serve log); the
            writer's thread, must not block.
        mirror_options: keyword arguments of every :class:`~liqmap.storage.mirror.TierMirror`
            (``max_backlog``, ``op_timeout_s``, ``backoff_cap`` ...).
        drain_s: seconds :meth:`close` waits for the mirrors to deliver what is queued.

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
        mirror_options: dict[str, Any] | None = None,
        drain_s: float = 10.0,
    ) -> None:
        self.duckdb = DuckDBStore(db_path, batch_size=batch_size, flush_interval_s=flush_interval_s,
                                  on_commit=self._committed)
        self.detector = CascadeDetector(cascade_config or CascadeConfig())
        self.market = MarketSeries()
        self.tickers = TickerSeries()
        self.strict = strict
        self.on_cascades = on_cascades
        self.on_cascade_events = on_cascade_events
        self.drain_s = drain_s
        self.events_seen: Counter[str] = Counter()
        self.liquidations_seen = 0
        self.cascade_events: Counter[str] = Counter({"start": 0, "update": 0, "end": 0})
        self.redis_url = redis_url
        self.postgres_dsn = postgres_dsn
        self.mirrors: dict[str, TierMirror] = {}
        self._started = False
        self._closed = False
        self._summary: dict[str, Any] | None = None
        opts = dict(mirror_options or {})
        if redis_url:
            from liqmap.storage.redis_store import RedisStore

            self.mirrors["redis"] = TierMirror(
                "redis", lambda: RedisStore(redis_url, prefix=redis_prefix), self._backfill_source, **opts)
        if postgres_dsn:
            from liqmap.storage.postgres_store import PostgresStore

            self.mirrors["postgres"] = TierMirror(
                "postgres", lambda: PostgresStore(postgres_dsn, institutional_usd=institutional_usd),
                self._backfill_source, min_value_usd=institutional_usd, **opts)

    # --------------------------------------------------------------- helpers
    def _committed(self, liq: list[Liquidation], aside: list, casc: dict[str, dict[str, Any]],
                   market: MarketRows) -> None:
        """DuckDB's commit hook (its worker thread): hand the batch to every mirror."""
        if self.mirrors and (liq or casc or len(market)):
            batch = Committed(liq, casc, market)
            for m in self.mirrors.values():
                m.offer(batch if len(self.mirrors) == 1 else Committed(list(liq), dict(casc), _copy_rows(market)))

    def _backfill_source(self, since_ms: int, min_value_usd: float) -> Iterator[list[Liquidation]]:
        """Committed liquidations received since ``since_ms``, read from DuckDB (a mirror's thread)."""
        cur = self.duckdb.reader()
        try:
            yield from liquidations_received_since(cur, since_ms, min_value_usd)
        finally:
            cur.close()

    async def _start(self) -> None:
        """Strict mode: every optional tier must connect now (one try, bounded)."""
        self._started = True
        if not self.strict:
            return
        for name, m in self.mirrors.items():
            try:
                await m.call(lambda tier: asyncio.sleep(0))
            except Exception as exc:  # noqa: BLE001
                err = exc if isinstance(exc, StorageError) else StorageError(f"{name}: {type(exc).__name__}: {exc}")
                raise StorageError(redact_dsn(str(err))) from exc

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

    # ---------------------------------------------------------------- API
    async def write(self, events: Sequence[Event]) -> None:
        """Store a batch in DuckDB (the mirrors follow its commits) and run cascade detection.

        Raises :class:`StorageError` after :meth:`close`, when the DuckDB commit fails (then
        the batch stays buffered; nothing is dropped), or (strict) when a tier cannot connect.
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
        rows = self.market.add(events)
        rows.tickers = self.tickers.add(events)
        rows.arbitrage = [e for e in events if type(e) is ArbitrageOpportunity]
        await self.duckdb.write_market(rows)
        await self._store_cascades(cev)

    async def expire(self, now_ms: int) -> None:
        """Live use: end cascades that have been quiet at wall-clock ``now_ms`` (ms UTC)."""
        await self._store_cascades(self.detector.expire(now_ms))

    async def maintenance(self, retention_days: int = 90) -> dict[str, Any]:
        """Periodic upkeep for a long-running service (call e.g. hourly).

        PostgreSQL (when enabled and up): refresh the rollup views and drop data older
        than ``retention_days``, on the tier's own thread. Returns ``{"postgres_dropped": [...]}``.
        """
        out: dict[str, Any] = {"postgres_dropped": []}
        pg = self.mirrors.get("postgres")
        if pg is not None:
            async def run(tier: Any) -> list[str]:
                await tier.refresh()
                return await tier.retention(retention_days)

            try:
                out["postgres_dropped"] = await pg.call(run, 300.0)
            except Exception as exc:  # noqa: BLE001 - the tier's state says it; retried next round
                log.warning("postgres maintenance failed: %s", redact_dsn(str(exc)))
        return out

    async def flush(self) -> None:
        """Commit everything buffered in DuckDB (the mirrors receive it from the commit)."""
        await self.duckdb.flush()

    def tier_states(self) -> dict[str, dict[str, Any]]:
        """``{"redis": {...}, "postgres": {...}}``: each optional tier's mirror state
        (:meth:`liqmap.storage.mirror.TierMirror.state`), ``{"status": "off"}`` when not enabled."""
        return {name: (self.mirrors[name].state() if name in self.mirrors else {"status": "off"})
                for name in ("redis", "postgres")}

    def stats(self) -> dict[str, Any]:
        """Current counters (same shape as the :meth:`close` summary)."""
        d = self.duckdb.stats()
        tiers: dict[str, Any] = {"duckdb": {**d, "status": "ok"}, **self.tier_states()}
        return {
            "events_seen": dict(self.events_seen),
            "liquidations_seen": self.liquidations_seen,
            "stored": d["stored"],
            "stored_by_exchange": d["stored_by_exchange"],
            "duplicates_skipped": d["duplicates_skipped"],
            "pending": d["pending"],
            "gaps_stored": d["gaps_stored"],
            "quarantined_stored": d["quarantined_stored"],
            "cascades_found": self.cascade_events["start"],
            "cascade_events": dict(self.cascade_events),
            "market": {**self.market.stats(), "rows_written": d.get("market_rows_written", 0)},
            "db_path": self.duckdb.path,
            "tiers": tiers,
        }

    async def close(self) -> dict[str, Any]:
        """End open cascades, flush and close DuckDB, let the mirrors deliver (at most
        ``drain_s``), close them; returns the summary. Idempotent.

        Raises (strict): :class:`StorageError` when a tier is still missing events."""
        if self._closed:
            return self._summary or self.stats()
        try:
            await self._store_cascades(self.detector.flush())
            rows = self.market.flush()
            rows.tickers = self.tickers.flush()
            await self.duckdb.write_market(rows)
            await self.flush()
        finally:
            self._closed = True
            await self.duckdb.close()
            for name, m in self.mirrors.items():
                final = _refresh if name == "postgres" else None  # rollup views current after a replay
                await m.close(self.drain_s, final)
        self._summary = self.stats()
        if self.strict:
            bad = {n: t for n, t in self._summary["tiers"].items() if n != "duckdb" and t["status"] not in ("ok", "off")}
            if bad:
                raise StorageError("; ".join(f"{n}: {t['status']}, {t.get('last_error') or 'events missing'}"
                                             for n, t in bad.items()))
        return self._summary


async def _refresh(tier: Any) -> None:
    await tier.refresh()


def _copy_rows(rows: MarketRows) -> MarketRows:
    out = MarketRows()
    out.extend(rows)
    return out
