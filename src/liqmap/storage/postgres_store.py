"""Optional PostgreSQL tier (L3/L4): significant liquidations, cascades, rollups.

Enabled by ``LIQMAP_POSTGRES_DSN`` (``postgresql://user@host:5432/db``). psycopg 3
async; parameterized SQL only; bulk rows go in with ``COPY`` into a temporary
staging table, then ``INSERT ... ON CONFLICT DO NOTHING`` (idempotent on id).

Schema: versioned migrations in ``migrations/postgres/NNNN_<name>.sql``,
recorded in ``schema_migrations(version, name, flavour, applied_at)`` and run
under an advisory lock (two processes starting together apply them once).
A version is its shared file followed by the flavour's own file (``NNNN_native.sql`` /
``NNNN_timescale.sql``) where there is one, with ``${partition_by}`` filled in per flavour
(:func:`migrations_for`); the flavour is chosen once, on the first migration, from
``pg_available_extensions``:

* **timescale** (extension available): hypertable with compression after 7
  days, 90-day retention policy, continuous aggregates (not tested here: the
  project machines have no timescaledb).
* **native** (default here): ``liquidations_significant`` partitioned by
  month on ``ts`` (partitions created on demand by :meth:`PostgresStore.write`),
  :meth:`PostgresStore.retention` drops partitions older than 90 days, and
  :meth:`PostgresStore.refresh` refreshes the materialized views.

Objects (same names in both flavours):

* ``liquidations_significant`` -- Liquidation fields + ``ts timestamptz``,
  only events with ``value_usd >= institutional_usd`` (default 100,000 USD).
* ``liquidation_cascades`` -- cascade rows with risk score, upserted by id.
* ``liquidations_hourly`` -- hourly rollup per exchange/base/side (of significant events).
* ``liquidations_price_levels`` -- per base/hour/side/price level (heatmap aggregates).
* ``liquidations_exchange_comparison`` -- per day and exchange, with share of the day.
* ``get_price_level_clusters(symbol text, hours int, until timestamptz DEFAULT now())``.
* ``open_interest``, ``mark_prices``, ``klines``, ``trade_bars_1m`` -- the live market series
  (:meth:`PostgresStore.write_market`, columns and keys of the DuckDB tables in
  :mod:`liqmap.storage.market` plus ``ts``), partitioned by month like
  ``liquidations_significant`` (hypertables with TimescaleDB), upserted on their keys and
  dropped by :meth:`PostgresStore.retention` with it.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from liqmap.analytics.market_series import MarketRows
from liqmap.models import Event, Liquidation
from liqmap.storage import market as mk
from liqmap.storage.base import StorageError, attrs, redact_url, zero_counters
from liqmap.units import INSTITUTIONAL_USD

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "postgres"
_LOCK_KEY = 0x6C69716D6170  # "liqmap"
_FLAVOURS = ("native", "timescale")
#: The write counters :meth:`PostgresStore.stats` reports (attributes of the same name).
COUNTERS: tuple[str, ...] = ("stored", "duplicates_skipped", "below_threshold", "cascade_rows_written",
                             "market_rows_written", "batches")
#: ``${name}`` values per flavour in the migration files: time-keyed tables are range-partitioned
#: (native) or plain tables that the TimescaleDB file turns into hypertables.
PLACEHOLDERS = {"native": {"partition_by": "PARTITION BY RANGE (ts)"}, "timescale": {"partition_by": ""}}
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

SIGNIFICANT_COLUMNS = (
    "exchange", "symbol", "base", "quote", "side", "price", "quantity", "value_usd",
    "timestamp", "received_at", "id", "order_side", "status",
)
CASCADE_COLUMNS = (
    "id", "symbol", "start_ts", "end_ts", "n_events", "value_usd", "long_usd", "short_usd",
    "exchanges", "risk_score", "severity", "cross_exchange", "status", "updated_at",
)
#: market-series table -> (columns as in DuckDB, key columns besides ts, the column ts derives from)
MARKET_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "open_interest": (mk.OI_COLUMNS, ("exchange", "symbol"), "timestamp"),
    "mark_prices": (mk.MARK_COLUMNS, ("exchange", "symbol"), "timestamp"),
    "klines": (mk.KLINE_COLUMNS, ("exchange", "symbol", "interval"), "open_time"),
    "trade_bars_1m": (mk.BAR_COLUMNS, ("exchange", "symbol"), "open_time"),
}
PARTITIONED = ("liquidations_significant", *MARKET_TABLES)


def migrations_for(flavour: str) -> list[tuple[int, str, str]]:
    """``(version, file names, sql)`` of every schema version for a flavour, ordered.

    A version is its shared file(s) (``NNNN_<name>.sql``) followed by the flavour's own file
    (``NNNN_native.sql`` / ``NNNN_timescale.sql``) when there is one; the other flavour's file is
    skipped. ``${name}`` placeholders in the SQL are replaced by :data:`PLACEHOLDERS` of the
    flavour (Flyway's convention). Raises ValueError for an unknown flavour or placeholder.
    """
    if flavour not in _FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; one of {_FLAVOURS}")
    parts: dict[int, list[Path]] = {}
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version, _, tag = p.stem.partition("_")
        if tag in _FLAVOURS and tag != flavour:
            continue
        parts.setdefault(int(version), []).append(p)
    out = []
    for version, files in sorted(parts.items()):
        files.sort(key=lambda p: p.stem.partition("_")[2] == flavour)  # shared first, flavour last
        sql = "\n".join(_substitute(p.read_text(), flavour, p.name) for p in files)
        out.append((version, "+".join(p.name for p in files), sql))
    return out


def _substitute(sql: str, flavour: str, name: str) -> str:
    values = PLACEHOLDERS[flavour]

    def one(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ValueError(f"{name}: unknown placeholder ${{{m.group(1)}}}")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(one, sql)


def month_start(ts_ms: int) -> datetime:
    """First instant (UTC) of the calendar month holding ``ts_ms``."""
    d = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
    return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class PostgresStore:
    """Significant liquidations + cascades in PostgreSQL (see module docstring).

    Args:
        dsn: libpq connection string / URL.
        institutional_usd: keep liquidations with ``value_usd >=`` this (USD).
        batch_size / flush_interval_s: commit triggers of the write buffer.

    Errors: :class:`StorageError` naming the (password-redacted) DSN when the
    server is unreachable or a statement fails; a failed batch stays buffered.
    """

    def __init__(
        self,
        dsn: str,
        *,
        institutional_usd: float = INSTITUTIONAL_USD,
        batch_size: int = 5_000,
        flush_interval_s: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.institutional_usd = float(institutional_usd)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.conn = None
        self.flavour: str | None = None
        self.schema_version = 0
        self._buf: list[Liquidation] = []
        self._casc: dict[str, dict[str, Any]] = {}
        self._market = MarketRows()
        self._oldest: float | None = None
        self._months: set[tuple[str, datetime]] = set()
        zero_counters(self, COUNTERS)
        self._closed = False

    # ------------------------------------------------------------- connect
    async def connect(self) -> None:
        """Open the connection and apply pending migrations. Idempotent."""
        if self.conn is not None:
            return
        import psycopg

        try:
            # bounded everywhere: connect 3 s; statements 10 s (server side); TCP keepalives and
            # tcp_user_timeout close a socket whose peer stopped answering (black-holed)
            self.conn = await psycopg.AsyncConnection.connect(
                self.dsn, connect_timeout=3, options="-c statement_timeout=10000", keepalives=1,
                keepalives_idle=5, keepalives_interval=2, keepalives_count=2, tcp_user_timeout=8000)
        except Exception as exc:
            raise StorageError(f"postgres: cannot connect to {redact_url(self.dsn)}: {exc}") from exc
        try:
            await self._migrate()
        except Exception as exc:
            raise StorageError(f"postgres: migration failed on {redact_url(self.dsn)}: {exc}") from exc

    async def _migrate(self) -> None:
        conn = self.conn
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "flavour text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await (await conn.execute("SELECT version, flavour FROM schema_migrations")).fetchall()
            done = {r[0] for r in rows}
            if rows:
                flavour = rows[0][1]
            else:
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
                )
                flavour = "timescale" if (await cur.fetchone())[0] else "native"
            for version, name, sql in migrations_for(flavour):
                if version in done:
                    continue
                await conn.execute(sql)  # a migration file: static SQL, no parameters
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, flavour) VALUES (%s, %s, %s)",
                    [version, name, flavour],
                )
                done.add(version)
        self.flavour = flavour
        self.schema_version = max(done, default=0)

    async def mirror(self, batch: Any) -> None:
        """Apply one committed batch (:class:`liqmap.storage.mirror.Committed`) in one
        transaction: its significant liquidations, cascade rows and market rows."""
        await self.write(batch.liquidations)
        if batch.cascades:
            await self.upsert_cascades(batch.cascades.values())
        if len(batch.market):
            await self.write_market(batch.market)
        await self.flush()

    async def _require(self) -> Any:
        if self._closed:
            raise StorageError("postgres: used after close")
        if self.conn is None:
            await self.connect()
        return self.conn

    # ---------------------------------------------------------------- writes
    async def write(self, events: Sequence[Event]) -> None:
        """Buffer significant liquidations of ``events``; commit on size/time trigger."""
        for e in events:
            if isinstance(e, Liquidation):
                if e.value_usd >= self.institutional_usd:
                    self._buf.append(e)
                else:
                    self.below_threshold += 1
        await self._maybe_flush()

    async def write_market(self, rows: MarketRows) -> None:
        """Buffer market-series rows (committed with the next batch, upserted on their keys)."""
        if len(rows):
            self._market.extend(rows)
            await self._maybe_flush()

    async def upsert_cascades(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Buffer cascade rows (keys :data:`CASCADE_COLUMNS`); last state per id wins."""
        for r in rows:
            self._casc[str(r["id"])] = dict(r)
        await self._maybe_flush()

    async def _maybe_flush(self) -> None:
        if not (self._buf or self._casc or len(self._market)):
            return
        now = time.monotonic()
        if self._oldest is None:
            self._oldest = now
        if len(self._buf) >= self.batch_size or now - self._oldest >= self.flush_interval_s:
            await self.flush()

    async def flush(self) -> None:
        """Commit buffered rows in one transaction (COPY + INSERT ... ON CONFLICT)."""
        if not (self._buf or self._casc or len(self._market)):
            return
        conn = await self._require()
        buf, casc, market = self._buf, self._casc, self._market
        tables = _market_tables(market)
        months = {("liquidations_significant", month_start(e.timestamp)) for e in buf}
        months |= {(t, month_start(r[names.index(tcol)])) for t, (names, _, tcol, rows) in tables.items() for r in rows}
        uniq: dict[str, Liquidation] = {}
        for e in buf:
            uniq.setdefault(e.id, e)
        try:
            async with conn.transaction():
                inserted = 0
                if self.flavour == "native":
                    for table, m in months - self._months:
                        await conn.execute("SELECT liqmap_ensure_month_partition(%s, %s)", [table, m])
                if uniq:
                    await conn.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS liqmap_stage (exchange text, symbol text, base text, "
                        "quote text, side text, price double precision, quantity double precision, "
                        "value_usd double precision, \"timestamp\" bigint, received_at bigint, id text, "
                        "order_side text, status text) ON COMMIT DELETE ROWS"
                    )
                    async with conn.cursor() as cur:
                        async with cur.copy(
                            "COPY liqmap_stage (exchange, symbol, base, quote, side, price, quantity, value_usd, "
                            "\"timestamp\", received_at, id, order_side, status) FROM STDIN"
                        ) as copy:
                            for e in uniq.values():
                                await copy.write_row((
                                    e.exchange, e.symbol, e.base, e.quote, e.side, e.price, e.quantity,
                                    e.value_usd, e.timestamp, e.received_at, e.id, e.order_side, e.status,
                                ))
                        await cur.execute(
                            "INSERT INTO liquidations_significant (exchange, symbol, base, quote, side, price, "
                            "quantity, value_usd, \"timestamp\", received_at, id, order_side, status, ts) "
                            "SELECT exchange, symbol, base, quote, side, price, quantity, value_usd, \"timestamp\", "
                            "received_at, id, order_side, status, to_timestamp(\"timestamp\" / 1000.0) "
                            "FROM liqmap_stage ON CONFLICT (id, ts) DO NOTHING"
                        )
                        inserted = max(cur.rowcount, 0)
                if casc:
                    cols = ", ".join(CASCADE_COLUMNS)
                    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CASCADE_COLUMNS if c != "id")
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            f"INSERT INTO liquidation_cascades ({cols}) VALUES "
                            f"({', '.join(['%s'] * len(CASCADE_COLUMNS))}) "
                            f"ON CONFLICT (id) DO UPDATE SET {updates}",
                            [[r.get(c) for c in CASCADE_COLUMNS] for r in casc.values()],
                        )
                market_in = await _upsert_market(conn, tables)
        except Exception as exc:
            raise StorageError(f"postgres: batch failed on {redact_url(self.dsn)}: {exc}") from exc
        # committed: acknowledge and clear only now
        if self.flavour == "native":
            self._months |= months
        self._buf, self._casc, self._market, self._oldest = [], {}, MarketRows(), None
        self.market_rows_written += market_in
        self.stored += inserted
        self.duplicates_skipped += len(buf) - inserted
        self.cascade_rows_written += len(casc)
        self.batches += 1

    # ------------------------------------------------------------ maintenance
    async def refresh(self) -> None:
        """Refresh ``liquidations_hourly`` and ``liquidations_price_levels``.

        Native: ``REFRESH MATERIALIZED VIEW CONCURRENTLY`` (readers are not
        blocked). TimescaleDB: ``refresh_continuous_aggregate`` over all time.
        """
        conn = await self._require()
        await self.flush()
        for view in ("liquidations_hourly", "liquidations_price_levels"):
            if self.flavour == "timescale":
                await conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            else:
                await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")
            await conn.commit()

    async def retention(self, keep_days: int = 90) -> list[str]:
        """Drop data older than ``keep_days`` (partitions / chunks). Returns dropped names."""
        conn = await self._require()
        dropped: list[str] = []
        async with conn.transaction():
            for table in PARTITIONED:
                cur = await conn.execute(
                    "SELECT liqmap_drop_old_partitions(%s, make_interval(days => %s))", [table, int(keep_days)]
                )
                dropped += [r[0] for r in await cur.fetchall() if r[0]]
        self._months.clear()
        return dropped

    async def close(self) -> None:
        """Flush and close. Idempotent."""
        if self._closed:
            return
        try:
            await self.flush()  # connects first if rows are buffered and no connection exists yet
        finally:
            self._closed = True
            if self.conn is not None:
                await self.conn.close()

    def stats(self) -> dict[str, Any]:
        """Counters: stored, duplicates_skipped, below_threshold, pending, cascade_rows_written."""
        return {
            "tier": "postgres",
            "dsn": redact_url(self.dsn),
            "pending": len(self._buf) + len(self._casc) + len(self._market),
            **attrs(self, "flavour", "schema_version", "institutional_usd", *COUNTERS),
        }


def _market_tables(rows: MarketRows) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str, list[tuple]]]:
    """table -> (columns, key columns, time column, row tuples) of the non-empty market tables."""
    built = {"open_interest": mk.oi_rows(rows.open_interest, "live"), "mark_prices": mk.mark_rows(rows.marks),
             "klines": mk.kline_rows(rows.klines, "live"), "trade_bars_1m": mk.bar_rows(rows.bars)}
    return {t: (*MARKET_TABLES[t], r) for t, r in built.items() if r}


async def _upsert_market(conn: Any, tables: dict) -> int:
    """``INSERT ... ON CONFLICT (key, ts) DO UPDATE`` of every market row, in the open transaction."""
    n = 0
    for table, (names, key, tcol, rows) in tables.items():
        cols = ", ".join(f'"{c}"' for c in names)
        keys = {*key}
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in names if c not in keys)
        conflict = ", ".join(f'"{c}"' for c in key)
        sql = (f"INSERT INTO {table} ({cols}, ts) VALUES ({', '.join(['%s'] * len(names))}, "
               f"to_timestamp(%s / 1000.0)) ON CONFLICT ({conflict}, ts) DO UPDATE SET {updates}")
        i = names.index(tcol)
        async with conn.cursor() as cur:
            await cur.executemany(sql, [(*r, r[i]) for r in rows])
        n += len(rows)
    return n
