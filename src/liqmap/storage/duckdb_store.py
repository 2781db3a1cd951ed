"""Embedded default tier: every liquidation, gap and cascade in one DuckDB file.

Path: ``LIQMAP_DB`` (default ``data/liquidations.duckdb``); the parent
directory is created. Schema: ``migrations/duckdb/NNNN_*.sql`` applied in
order, recorded in ``schema_version``.

Writes
------
:meth:`DuckDBStore.write` buffers events; a batch is handed to a commit when
the buffer holds ``batch_size`` events (default :data:`BULK_BATCH_ROWS` =
122,880), when the oldest buffered event is ``flush_interval_s`` (default 1 s)
old (checked on every write and by a background timer task), on :meth:`flush`
and on :meth:`close`. A live feed therefore commits small batches on the time
trigger; a replay or backfill producing more than ``batch_size`` events per
``flush_interval_s`` commits full batches on the size trigger.

Why 122,880: it is DuckDB's row-group size (the default ``ROW_GROUP_SIZE`` of
its database format, https://duckdb.org/docs/current/guides/performance/how_to_tune_workloads).
DuckDB writes a transaction's appended rows straight to the database file as
compressed row groups once they fill one, and at COMMIT it merges a
transaction that appended at least a full row group by moving those row groups
over, where a smaller one is copied row by row into the table and logged in
the WAL (``LocalStorage::Flush`` in DuckDB's ``src/storage/local_storage.cpp``).
A full row group therefore costs several times less per row to commit than a
5,000-row batch (``benchmarks/bench_storage.py``; figures in ``benchmarks/RESULTS.md``).

One batch = one DuckDB transaction, run in a worker thread: a columnar (numpy)
relation inserted against the primary key, so replaying the same input twice
stores each event once; ``stats()["duplicates_skipped"]`` counts the skipped
ones (in-batch repeats, dropped in Python, + rows already stored). The insert
is first tried as a plain ``INSERT`` (cheapest; right whenever no id of the
batch is stored yet); a duplicate key aborts it, the transaction is rolled
back and the batch goes in with ``INSERT OR IGNORE ... RETURNING`` (and so do
the following batches until one meets no stored id). At most one commit is in
flight; while it runs the buffer keeps growing past ``batch_size`` up to
``max_buffer`` (default ``batch_size``) -- group commit: under a fast producer
the next batch is ready when the running commit returns -- and only a write
beyond ``max_buffer`` waits for the running commit (back-pressure). A failed
commit puts its batch back in front of the buffer and raises from the next
``write``/``flush``.

Key (schema version 2, ``migrations/duckdb/0002_liquidations_id_key.sql``)
----------------------------------------------------------------------------
The primary key is ``id_key UHUGEINT = md5_number(id)`` -- the 128-bit MD5 digest
of the UTF-8 ``id``, little-endian (``int.from_bytes(hashlib.md5(id.encode())
.digest(), "little")``), computed by DuckDB on the staged batch -- not the
VARCHAR ``id`` itself: a fixed 16-byte ART key made duplicate replay about 2x
faster and batched inserts slightly faster (``benchmarks/bench_storage.py``).
``id`` keeps its value and name; ``id_key`` is an extra LAST column, so
readers that select columns by name are unaffected (``SELECT *`` gets 14
columns). Two distinct ids collide with probability ~ n^2 / 2^129 (n = 10^10
events: 1.5e-19); a colliding pair would be stored once. The migration
rebuilds a version-1 table (or a keyless one a reader created) once, keeping
the first row per id. The index on ``(exchange, timestamp)`` stays.

Crash bound (SIGKILL, power loss)
---------------------------------
An event counts as *stored* (``stats()["stored"]``) only after its batch's
transaction committed; DuckDB writes the commit to its write-ahead log
(``<db>.wal``) before returning, and replays the WAL on the next open, so
nothing acknowledged is lost. What a SIGKILL can lose is exactly the
*unacknowledged* events, ``stats()["pending"]``: the buffer (below
``batch_size`` events / younger than ``flush_interval_s``, or up to
``max_buffer`` while a commit runs) plus the one batch whose commit was in
flight (all-or-nothing) -- at most ``2 * max_buffer`` events plus one
``write`` call's worth (defaults: ~246k events during a bulk replay, about 100 MB
at the per-event size in ``benchmarks/RESULTS.md``; a live feed below ``batch_size`` events per
``flush_interval_s`` holds at most two intervals' worth). Replaying the
source (a recording) again restores them, idempotently. A full-row-group
batch reaches the database file before its COMMIT returns (DuckDB writes
those row groups first and logs only their location in the WAL), so it is
acknowledged under the same rule.
``tests/test_storage_duckdb.py`` kills a writer with SIGKILL mid-replay and
checks this.

Concurrent readers
------------------
Measured with the installed DuckDB (2.0.0) in
``tests/test_storage_duckdb.py::test_concurrent_readers_pattern``; DuckDB's own
page: https://duckdb.org/docs/current/connect/concurrency (linked from the lock error).
DuckDB allows ONE process to open the file read-write. While it is open, any
other process -- even with ``read_only=True`` -- fails with ``IO Error: Could
not set lock on file``. Several processes may open it ``read_only=True`` only
when no writer holds it. Supported patterns, therefore:

1. the writer process serves reads itself (the API runs in the same process
   and uses :meth:`DuckDBStore.reader`, a separate cursor on the same
   database, safe to use from another thread while a batch commits);
2. another process reads a consistent copy made by the writer with
   :meth:`DuckDBStore.snapshot` (``COPY FROM DATABASE`` into a new file);
3. offline tools (``liqmap cascades --db``) open ``read_only=True`` when the
   writer is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import Counter, deque
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import duckdb
import numpy as np

from liqmap.analytics.market_series import MarketRows
from liqmap.models import Event, Gap, Liquidation, Quarantined, to_json
from liqmap.storage.market import write_market_rows
from liqmap.storage.base import StorageError, attrs, zero_counters
from liqmap.symbols import base_of
from liqmap.units import now_ms

log = logging.getLogger(__name__)

#: The write counters :meth:`DuckDBStore.stats` reports (attributes of the same name): events
#: stored, duplicates skipped (already stored), gaps stored, cascade / market rows written,
#: quarantined events stored, commits.
COUNTERS: tuple[str, ...] = ("stored", "duplicates_skipped", "gaps_stored", "cascade_rows_written",
                             "market_rows_written", "quarantined_stored", "batches")
MIGRATIONS_DIR = Path(__file__).parent / "migrations" / "duckdb"

LIQUIDATION_COLUMNS: tuple[str, ...] = (
    "exchange", "symbol", "base", "quote", "side", "price", "quantity", "value_usd",
    "timestamp", "received_at", "id", "order_side", "status",
)
#: Columns a liquidation is stored with: the version-1 columns, then (migration 0010) the
#: receipt-time flag, which comes after ``id_key`` in the table.
STORED_COLUMNS: tuple[str, ...] = (*LIQUIDATION_COLUMNS, "receipt_time")
_FLOAT_COLS = {"price", "quantity", "value_usd"}
_get_id = attrgetter("id")
_get_received = attrgetter("received_at")
_GETTERS = {name: attrgetter(name) for name in STORED_COLUMNS}
#: extra column of ``liquidations`` (schema version 2): the PRIMARY KEY, ``md5_number(id)``.
ID_KEY_COLUMN = "id_key"
_INSERT_LIQUIDATIONS = (
    f"INSERT OR IGNORE INTO liquidations ({', '.join(STORED_COLUMNS)}, {ID_KEY_COLUMN}) "
    f"SELECT {', '.join(STORED_COLUMNS)}, md5_number(id) FROM liq_batch RETURNING exchange"
)
#: ``quarantine`` columns (migration 0010), filled from :class:`~liqmap.models.Quarantined`.
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "id", "exchange", "symbol", "reason", "reference_price", "side", "price", "quantity", "value_usd",
    "timestamp", "received_at", "event",
)
_INSERT_LIQUIDATIONS_PLAIN = _INSERT_LIQUIDATIONS.replace("INSERT OR IGNORE", "INSERT").replace(" RETURNING exchange", "")
_INT_COLS = {"timestamp", "received_at"}

#: Default commit size trigger, rows: DuckDB's row-group size (122,880, its default
#: ``ROW_GROUP_SIZE``; https://duckdb.org/docs/current/guides/performance/how_to_tune_workloads).
#: A transaction that appends at least this many rows is merged into the table by moving
#: whole compressed row groups instead of row-by-row copy + WAL logging (module docstring).
BULK_BATCH_ROWS = 122_880

CASCADE_COLUMNS: tuple[str, ...] = (
    "id", "symbol", "start_ts", "end_ts", "n_events", "value_usd", "long_usd", "short_usd",
    "exchanges", "risk_score", "severity", "cross_exchange", "status", "updated_at",
)


def default_db_path() -> str:
    """The DuckDB path from settings (``LIQMAP_DB``), default ``data/liquidations.duckdb``."""
    from liqmap.settings import get_settings

    return get_settings().db


def _migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every ``NNNN_name.sql`` file, ordered by version."""
    out = []
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        out.append((int(p.name.split("_", 1)[0]), p.name, p.read_text()))
    return out


def apply_migrations(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending DuckDB migrations in order; returns the schema version now in force."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at BIGINT)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
    version = max(done, default=0)
    for v, name, sql in _migrations():
        if v in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [v, name, now_ms()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = max(version, v)  # a re-applied older version does not lower it
    return version


def liquidation_columns(events: Sequence[Liquidation]) -> dict[str, np.ndarray]:
    """Column-major numpy arrays (one per ``liquidations`` column) for a batch.

    Strings are object arrays (``None`` becomes SQL NULL), prices/quantities
    float64, times int64 ms, the receipt-time flag bool.
    """
    out: dict[str, np.ndarray] = {}
    n = len(events)
    for name in STORED_COLUMNS:
        values = map(_GETTERS[name], events)  # no intermediate list: ~25% faster than np.array(list)
        if name in _FLOAT_COLS:
            out[name] = np.fromiter(values, dtype=np.float64, count=n)
        elif name in _INT_COLS:
            out[name] = np.fromiter(values, dtype=np.int64, count=n)
        elif name == "receipt_time":
            out[name] = np.fromiter(values, dtype=np.bool_, count=n)
        else:
            out[name] = np.fromiter(values, dtype=object, count=n)
    return out


class DuckDBStore:
    """All liquidations + gaps + cascades in a DuckDB file (see module docstring).

    Args:
        path: database file; ``None`` = settings ``LIQMAP_DB``. ``":memory:"`` works for tests.
        batch_size: commit when this many events are buffered (default
            :data:`BULK_BATCH_ROWS`, DuckDB's row-group size: full batches take
            DuckDB's bulk-append path).
        max_buffer: while a commit is running, keep buffering up to this many
            events (group commit; default ``batch_size``) before the writer waits.
        flush_interval_s: commit when the oldest buffered event is this old (seconds).
        read_only: open without writing (no migrations); raises
            :class:`StorageError` if the file does not exist or a writer holds it.
        on_commit: called (in the commit's worker thread, after the counters) with each
            committed batch ``(liquidations, gaps + quarantined, cascade rows, market rows)``:
            what the optional tiers mirror (:mod:`liqmap.storage.mirror`); must not block.
        threads: DuckDB worker threads for this database (``SET threads``; it applies to
            every cursor of it, readers included). ``None`` keeps DuckDB's default (one per
            core). ``1`` saves CPU per inserted event with small (5,000-row) commits (less
            thread hand-off); with the default row-group batches it makes no measurable
            difference (``benchmarks/bench_storage.py``, ``benchmarks/RESULTS.md``), and it
            makes reads single-threaded.

    Raises:
        StorageError: the file cannot be opened (locked by another process, bad path).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        batch_size: int = BULK_BATCH_ROWS,
        max_buffer: int | None = None,
        flush_interval_s: float = 1.0,
        read_only: bool = False,
        threads: int | None = None,
        on_commit: "Callable[[list[Liquidation], list, dict[str, dict[str, Any]], MarketRows], None] | None" = None,
    ) -> None:
        self.on_commit = on_commit
        #: wall-clock ms from the oldest event's receipt to its commit, last 4,096 commits
        self.commit_lags_ms: deque[int] = deque(maxlen=4096)
        self.path = str(path if path is not None else default_db_path())
        self.batch_size = int(batch_size)
        self.max_buffer = int(max_buffer) if max_buffer is not None else self.batch_size
        self.flush_interval_s = float(flush_interval_s)
        self.read_only = read_only
        if self.path != ":memory:":
            p = Path(self.path)
            if read_only and not p.exists():
                raise StorageError(f"duckdb: no database at {self.path}")
            if not read_only:
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise StorageError(f"duckdb: cannot open {self.path}: {exc}") from exc
        if threads is not None:
            if int(threads) < 1:
                self._con.close()
                raise StorageError(f"duckdb: threads must be >= 1, got {threads}")
            self._con.execute(f"SET threads = {int(threads)}")
        self.schema_version = 0 if read_only else apply_migrations(self._con)
        self._liq: list[Liquidation] = []
        self._gaps: list[Gap | Quarantined] = []  # stored beside the liquidations: gaps, quarantined
        self._cascades: dict[str, dict[str, Any]] = {}
        self._market = MarketRows()
        self._oldest: float | None = None  # monotonic time of the oldest buffered item
        self._lock = asyncio.Lock()
        self._inflight: tuple[asyncio.Future, list, list, dict, MarketRows] | None = None
        self._timer: asyncio.Task | None = None
        self._closed = False
        zero_counters(self, COUNTERS)
        self.stored_by_exchange: Counter[str] = Counter()
        self._expect_duplicates = False  # last batch met stored ids: skip the optimistic INSERT

    # ------------------------------------------------------------------ writes
    @property
    def pending(self) -> int:
        """Events buffered or in a running commit, not yet acknowledged (lost on SIGKILL, restored by replay)."""
        n = self.buffered
        if self._inflight is not None:
            fut, liq, gaps, casc, market = self._inflight
            committed = fut.done() and not fut.cancelled() and fut.exception() is None
            if not committed:
                n += len(liq) + len(gaps) + len(casc) + len(market)
        return n

    @property
    def buffered(self) -> int:
        """Events buffered and not yet handed to a commit."""
        return len(self._liq) + len(self._gaps) + len(self._cascades) + len(self._market)

    async def write(self, events: Sequence[Event]) -> None:
        """Buffer liquidations and gaps from ``events`` (other types are ignored).

        Starts a commit (see module docstring) when the size or time trigger fires.
        Raises :class:`StorageError` after close, or the DuckDB error of an earlier
        commit that failed (that batch is back in the buffer, nothing is dropped).
        """
        if self._closed:
            raise StorageError("duckdb: write after close")
        for e in events:
            if isinstance(e, Liquidation):
                self._liq.append(e)
            elif isinstance(e, (Gap, Quarantined)):
                self._gaps.append(e)
        await self._after_buffer()

    async def write_market(self, rows: MarketRows) -> None:
        """Buffer market-series rows (:mod:`liqmap.analytics.market_series`); they are committed
        with the next batch (same transaction, same triggers), upserted by their keys."""
        if self._closed:
            raise StorageError("duckdb: write after close")
        if len(rows):
            self._market.extend(rows)
            await self._after_buffer()

    async def upsert_cascades(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Buffer cascade rows (dicts with :data:`CASCADE_COLUMNS` keys); last state per id wins."""
        if self._closed:
            raise StorageError("duckdb: write after close")
        for r in rows:
            self._cascades[str(r["id"])] = dict(r)
        await self._after_buffer()

    async def _after_buffer(self) -> None:
        if not self.buffered:
            return
        now = time.monotonic()
        if self._oldest is None:
            self._oldest = now
        if len(self._liq) >= self.batch_size or now - self._oldest >= self.flush_interval_s:
            # group commit: while a commit runs, keep buffering up to max_buffer events, so
            # batches grow with the input rate (fewer, larger transactions) instead of blocking
            if self._commit_running() and len(self._liq) < self.max_buffer:
                return
            await self._launch()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._timed_flush())

    async def _timed_flush(self) -> None:
        """Background time trigger: commit a buffer that nobody else flushes."""
        try:
            while self.pending:
                oldest = self._oldest if self._oldest is not None else time.monotonic()
                wait = max(0.0, self.flush_interval_s - (time.monotonic() - oldest))
                await asyncio.sleep(wait)
                if self.pending and (self._oldest is None or
                    time.monotonic() - self._oldest >= self.flush_interval_s
                ):
                    await self.flush()
        except asyncio.CancelledError:
            pass
        except Exception:  # the next write/flush raises it to the caller
            log.exception("duckdb: timed flush failed; batch kept buffered")

    def _commit_running(self) -> bool:
        return self._inflight is not None and not self._inflight[0].done()

    async def _launch(self) -> None:
        """Hand the buffer to a background commit in a worker thread (at most one in flight).

        The next batch keeps buffering while DuckDB commits this one. Events count as
        stored only when their commit returned (``_commit`` updates the counters).
        """
        async with self._lock:
            await self._wait_inflight()
            if not self.pending:
                return
            liq, gaps, casc, market = self._liq, self._gaps, self._cascades, self._market
            self._liq, self._gaps, self._cascades, self._market, self._oldest = [], [], {}, MarketRows(), None
            fut = asyncio.ensure_future(asyncio.to_thread(self._commit, liq, gaps, casc, market))
            self._inflight = (fut, liq, gaps, casc, market)

    async def _wait_inflight(self) -> None:
        if self._inflight is None:
            return
        fut, liq, gaps, casc, market = self._inflight
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            raise  # commit still running: stays in flight, close()/flush() wait for it
        except Exception:
            # put the batch back in front: nothing accepted is dropped
            self._inflight = None
            self._liq = liq + self._liq
            self._gaps = gaps + self._gaps
            casc.update(self._cascades)
            self._cascades = casc
            market.extend(self._market)
            self._market = market
            self._oldest = time.monotonic()
            raise
        self._inflight = None

    async def flush(self) -> None:
        """Commit every buffered event; returns when all of them are committed.

        Raises the DuckDB error of a failed commit (the batch stays buffered).
        """
        await self._launch()
        async with self._lock:
            await self._wait_inflight()

    def _commit(self, liq: list[Liquidation], aside: list[Gap | Quarantined], casc: dict[str, dict[str, Any]],
                market: MarketRows | None = None) -> None:
        gaps = [g for g in aside if type(g) is Gap]
        quarantined = [q for q in aside if type(q) is Quarantined] if len(gaps) < len(aside) else []
        cur = self._con.cursor()
        try:
            # de-duplicate within the batch in Python only when needed (a C-level set check;
            # replay input is mostly unique)
            batch = liq
            if len(set(map(_get_id, liq))) != len(liq):
                unique: dict[str, Liquidation] = {}
                for e in liq:
                    unique.setdefault(e.id, e)
                batch = list(unique.values())
            cur.execute("BEGIN TRANSACTION")
            inserted_by_ex: Counter[str] = Counter()
            inserted = 0
            if batch:
                cols = liquidation_columns(batch)
                inserted = self._insert_liquidations(cur, cols, len(batch), inserted_by_ex)
            gaps_in = self._upsert_gaps(cur, gaps) if gaps else 0
            if casc:
                # one statement for all rows (executemany is row-at-a-time in DuckDB)
                params = [[r.get(c) for r in casc.values()] for c in CASCADE_COLUMNS]
                params[CASCADE_COLUMNS.index("exchanges")] = [
                    list(r.get("exchanges") or []) for r in casc.values()
                ]
                cur.execute(
                    f"INSERT OR REPLACE INTO cascades ({', '.join(CASCADE_COLUMNS)}) SELECT * FROM (SELECT "
                    + ", ".join(f"unnest(${i + 1}) AS {c}" for i, c in enumerate(CASCADE_COLUMNS))
                    + ")",
                    params,
                )
            market_in = write_market_rows(cur, market) if market else 0
            quarantined_in = _insert_quarantined(cur, quarantined) if quarantined else 0
            cur.execute("COMMIT")
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except Exception:
                pass
            raise
        finally:
            cur.close()
        # acknowledged only now, after COMMIT returned
        self.stored += inserted
        self.duplicates_skipped += len(liq) - inserted
        self.stored_by_exchange.update(inserted_by_ex)
        self.gaps_stored += gaps_in
        self.cascade_rows_written += len(casc)
        self.market_rows_written += market_in
        self.quarantined_stored += quarantined_in
        self.batches += 1
        if liq:
            self.commit_lags_ms.append(now_ms() - min(map(_get_received, liq)))
        if self.on_commit is not None:
            try:
                self.on_commit(liq, aside, casc, market if market is not None else MarketRows())
            except Exception:  # a mirror bug never un-acknowledges a commit
                log.exception("duckdb: on_commit hook failed")

    @staticmethod
    def _upsert_gaps(cur: duckdb.DuckDBPyConnection, gaps: list[Gap]) -> int:
        """Store gaps by key (exchange, connection, start, end); a gap reported again as
        ``filled`` (backfilled from the venue's history) marks the stored one filled.
        Returns the gaps new to the table."""
        merged: dict[tuple[str, str, int, int], Gap] = {}
        for g in gaps:  # one row per key in a statement (ON CONFLICT updates a row once)
            k = (g.exchange, g.connection, g.start, g.end)
            if k not in merged or g.filled:
                merged[k] = g
        rows = list(merged.values())
        # fetchall, not fetchone: DuckDB 2 keeps a result that was not fetched to its end open on the
        # cursor, and the market rows' register() on this same cursor then fails (ResourceInUse)
        before = cur.execute("SELECT count(*) FROM gaps").fetchall()[0][0]
        cur.execute(
            'INSERT INTO gaps (exchange, connection, start, "end", reason, filled) SELECT * FROM (SELECT '
            'unnest($1) AS exchange, unnest($2) AS connection, unnest($3) AS start, unnest($4) AS "end", '
            'unnest($5) AS reason, unnest($6) AS filled) '
            'ON CONFLICT (exchange, connection, start, "end") DO UPDATE SET filled = gaps.filled OR excluded.filled',
            [[g.exchange for g in rows], [g.connection for g in rows], [g.start for g in rows],
             [g.end for g in rows], [g.reason for g in rows], [g.filled for g in rows]],
        )  # fmt: skip
        return cur.execute("SELECT count(*) FROM gaps").fetchall()[0][0] - before

    def _insert_liquidations(
        self, cur: duckdb.DuckDBPyConnection, cols: dict[str, np.ndarray], n: int, by_ex: Counter[str]
    ) -> int:
        """Insert the registered ``liq_batch`` (ids unique within it) in the open transaction.

        Optimistic path: a plain ``INSERT`` -- skips DuckDB's per-row ON CONFLICT handling
        (about 20% cheaper in ``benchmarks/bench_storage.py``) and is right whenever no id is
        stored yet (live feed). A duplicate key fails the statement, which aborts the
        transaction: roll back, begin again, and insert with ``INSERT OR IGNORE ...
        RETURNING exchange`` (only new rows come back). After a batch that had duplicates
        (a replay) the next batch goes straight to ``INSERT OR IGNORE``.
        Returns rows inserted; ``by_ex`` gains their count per exchange.
        """
        # the registered view is part of the transaction: a ROLLBACK drops it
        cur.register("liq_batch", cols)
        if not self._expect_duplicates:
            try:
                cur.execute(_INSERT_LIQUIDATIONS_PLAIN)
            except duckdb.ConstraintException:
                cur.execute("ROLLBACK")
                cur.execute("BEGIN TRANSACTION")
                cur.register("liq_batch", cols)
            else:
                cur.unregister("liq_batch")
                by_ex.update(cols["exchange"].tolist())
                return n
        rows = cur.execute(_INSERT_LIQUIDATIONS).fetchall()
        cur.unregister("liq_batch")
        self._expect_duplicates = len(rows) < n
        if len(rows) == n:
            by_ex.update(cols["exchange"].tolist())
        else:
            by_ex.update(map(itemgetter(0), rows))
        return len(rows)

    async def close(self) -> None:
        """Flush (graceful shutdown), checkpoint, close. Idempotent."""
        if self._closed:
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
            try:
                await self._timer
            except asyncio.CancelledError:
                pass
        if not self.read_only:
            await self.flush()
            try:
                self._con.execute("CHECKPOINT")
            except duckdb.Error as exc:  # an optimisation: another cursor's write (a tier's back-fill read,
                # the heatmap writer) may still be open at shutdown; DuckDB replays the WAL at the next open
                log.info("duckdb: checkpoint at close skipped: %s", str(exc).splitlines()[0])
        self._closed = True
        self._con.close()

    def stats(self) -> dict[str, Any]:
        """``{"tier": "duckdb", "path", "stored", "pending", "duplicates_skipped", ...}``."""
        return {
            "tier": "duckdb",
            "stored_by_exchange": dict(self.stored_by_exchange),
            **attrs(self, "path", "schema_version", "pending", *COUNTERS),
            "commit_lag_ms": lag_summary(self.commit_lags_ms),
        }

    # ------------------------------------------------------------------- reads
    def reader(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on this database for reads in the writer's process (close it after use).

        Sees committed data only; safe to use from another thread while a batch commits.
        """
        return self._con.cursor()

    def snapshot(self, dest: str | os.PathLike) -> str:
        """Write a transactionally consistent copy of the database to ``dest`` (must not exist).

        Other processes may open the copy ``read_only=True`` while this writer runs.
        Returns the path. Raises :class:`StorageError` if ``dest`` exists.
        """
        dest = str(dest)
        if Path(dest).exists():
            raise StorageError(f"duckdb: snapshot target exists: {dest}")
        cur = self._con.cursor()
        try:
            cur.execute("ATTACH ? AS liqmap_snapshot", [dest])
            cur.execute("COPY FROM DATABASE " + self._db_name(cur) + " TO liqmap_snapshot")
            cur.execute("DETACH liqmap_snapshot")
        finally:
            cur.close()
        return dest

    @staticmethod
    def _db_name(cur: duckdb.DuckDBPyConnection) -> str:
        name = cur.execute("SELECT current_database()").fetchone()[0]
        return '"' + name.replace('"', '""') + '"'

    def count(self, exchange: str | None = None) -> int:
        """Number of stored liquidations (committed), optionally for one exchange."""
        cur = self.reader()
        try:
            if exchange is None:
                return cur.execute("SELECT count(*) FROM liquidations").fetchone()[0]
            return cur.execute("SELECT count(*) FROM liquidations WHERE exchange = ?", [exchange]).fetchone()[0]
        finally:
            cur.close()

    def cascades(self, symbol: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored cascades, newest first, as dicts with :data:`CASCADE_COLUMNS` keys.

        ``symbol`` matches the cascade's symbol/base case-insensitively, also when
        given as a venue symbol (``BTCUSDT`` matches ``BTC``).
        """
        return read_cascades(self.reader(), symbol=symbol, limit=limit, close=True)


def lag_summary(lags: Iterable[int]) -> dict[str, int | None]:
    """``{"n", "p50", "p99", "max"}`` of commit lags (ms from the oldest event's receipt to its
    commit; meaningful for live feeds, where receipt is wall-clock now)."""
    xs = sorted(list(lags))
    if not xs:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": len(xs), "p50": xs[len(xs) // 2], "p99": xs[min(len(xs) - 1, int(len(xs) * 0.99))], "max": xs[-1]}


def _insert_quarantined(cur: duckdb.DuckDBPyConnection, events: list[Quarantined]) -> int:
    """``INSERT OR IGNORE`` quarantined liquidations (keyed by id) in the open transaction;
    returns rows inserted. A non-finite number (an unvalued event's NaN) is stored as NULL."""
    def num(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    rows = [(q.id, q.exchange, q.event.symbol, q.reason, num(q.reference_price), q.event.side, q.event.price,
             num(q.event.quantity), num(q.event.value_usd), q.event.timestamp, q.event.received_at,
             to_json(q.event).decode()) for q in events]
    cols = list(zip(*rows))
    sel = ", ".join(f"unnest(${i + 1}) AS \"{c}\"" for i, c in enumerate(QUARANTINE_COLUMNS))
    names = ", ".join(f'"{c}"' for c in QUARANTINE_COLUMNS)
    return cur.execute(f"INSERT OR IGNORE INTO quarantine ({names}) SELECT * FROM (SELECT {sel})",
                       [list(c) for c in cols]).fetchall()[0][0]  # to its end: the cursor stays usable


def symbol_candidates(symbol: str) -> list[str]:
    """Upper-case names a user symbol may be stored as: itself and its underlying
    (``BTCUSDT``, ``XBTUSD``, ``BTC-PERPETUAL`` -> ``BTC``; :func:`liqmap.symbols.base_of`)."""
    s = symbol.strip().upper()
    base = base_of(s)
    return [s] if base == s else [s, base]


def read_cascades(
    cur: duckdb.DuckDBPyConnection, symbol: str | None = None, limit: int | None = None, close: bool = False
) -> list[dict[str, Any]]:
    """See :meth:`DuckDBStore.cascades`; works on any connection/cursor (e.g. a read-only one)."""
    sql = f"SELECT {', '.join(CASCADE_COLUMNS)} FROM cascades"
    params: list[Any] = []
    if symbol:
        names = symbol_candidates(symbol)
        sql += f" WHERE upper(symbol) IN ({', '.join('?' for _ in names)})"
        params += names
    sql += " ORDER BY start_ts DESC, id"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    try:
        rows = cur.execute(sql, params).fetchall()
    finally:
        if close:
            cur.close()
    return [dict(zip(CASCADE_COLUMNS, r)) for r in rows]
