"""Writes of the archive history tables (``migrations/duckdb/0004_archive_history.sql``).

One archive file is authoritative for one symbol over one UTC range. :func:`replace_range`
makes its rows the table's rows for that symbol and range in ONE transaction -- delete the
range, insert the file's rows, rebuild the 5-minute taker flow when the table holds trades,
record the file in ``ingest_log`` -- so loading a file again replaces, never duplicates, and
a failure leaves nothing half-loaded. :mod:`liqmap.heatmap.ingest` reads the files (its SQL
over ``read_csv`` is the file format); this module owns what is written where.

``aggtrades_flow_5m`` rows: per 5-minute step (``step_end`` = end of ``(t - 5m, t]``, ms UTC),
taker side (``taker_sell`` = ``is_buyer_maker``) and log-price cell ``floor(ln(price) /
ln(1 + FLOW_CELL))`` (5 bps), the traded quantity (base units) and notional (USDT): taker flow
pre-aggregated at load, small enough for the symbol and latest-time lookups of
:mod:`liqmap.storage.archive_reads` to read instead of the raw trades.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from liqmap.units import MINUTE_MS, now_ms

#: step of ``aggtrades_flow_5m`` (ms)
FLOW_STEP_MS = 5 * MINUTE_MS
#: log-price cell width of ``aggtrades_flow_5m`` (5 bps)
FLOW_CELL = 0.0005


class FileRecord(NamedTuple):
    """What ``ingest_log`` keeps of a loaded file: its ``kind`` (``aggtrades``, ``klines``,
    ``metrics``, ``liquidation-snapshot``), ``symbol``, klines ``interval`` (else None), file
    name, size (bytes), hex SHA-256, and the UTC range ``[start, end)`` (ms) it covers."""

    kind: str
    symbol: str
    interval: str | None
    file_name: str
    size: int
    sha256: str
    start: int
    end: int


def file_loaded(con: duckdb.DuckDBPyConnection, rec: FileRecord) -> bool:
    """True when ``ingest_log`` holds this very file (name, size, SHA-256) for the same range."""
    return con.execute(
        "SELECT 1 FROM ingest_log WHERE file_name=? AND size=? AND sha256=? AND kind=? AND symbol=? "
        "AND range_start=? AND range_end=?",
        [rec.file_name, rec.size, rec.sha256, rec.kind, rec.symbol, rec.start, rec.end]).fetchone() is not None


def replace_range(con: duckdb.DuckDBPyConnection, table: str, ts_column: str, rows_sql: str,
                  rec: FileRecord) -> int:
    """Make ``rows_sql`` (a SELECT of ``table``'s columns in order) ``table``'s rows of
    ``rec.symbol`` with ``ts_column`` in ``[rec.start, rec.end)``, in one transaction with the
    flow rebuild (``aggtrades_history``) and the ``ingest_log`` row (see module docstring).

    Returns the rows inserted. Raises ``duckdb.Error`` with everything rolled back.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE symbol = ? AND {ts_column} >= ? AND {ts_column} < ?",
                    [rec.symbol, rec.start, rec.end])
        n = con.execute(f"INSERT INTO {table} {rows_sql}").fetchone()[0]
        if table == "aggtrades_history":
            refresh_flow(con, rec.symbol, rec.start, rec.end)
        con.execute("DELETE FROM ingest_log WHERE kind=? AND symbol=? AND coalesce(interval,'')=? "
                    "AND range_start=? AND range_end=?",
                    [rec.kind, rec.symbol, rec.interval or "", rec.start, rec.end])
        con.execute("INSERT INTO ingest_log VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [rec.kind, rec.symbol, rec.interval, rec.file_name, rec.size, rec.sha256, n, rec.start,
                     rec.end, now_ms()])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n)


def refresh_flow(con: duckdb.DuckDBPyConnection, symbol: str, start: int, end: int) -> None:
    """Rebuild ``aggtrades_flow_5m`` for the trades of ``symbol`` in ``[start, end)`` (ms; call
    inside the transaction that changed them)."""
    con.execute("DELETE FROM aggtrades_flow_5m WHERE symbol = ? AND step_end > ? AND step_end <= ?",
                [symbol, start, end])
    con.execute(f"""INSERT INTO aggtrades_flow_5m
        SELECT symbol, (timestamp // {FLOW_STEP_MS}) * {FLOW_STEP_MS} + {FLOW_STEP_MS}, is_buyer_maker,
               CAST(floor(ln(price) / ln(1 + {FLOW_CELL})) AS INTEGER), sum(quantity), sum(price * quantity)
        FROM aggtrades_history WHERE symbol = ? AND timestamp >= ? AND timestamp < ? AND price > 0
        GROUP BY ALL""", [symbol, start, end])
