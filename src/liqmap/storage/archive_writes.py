"""Writes of the archive history tables (``migrations/duckdb/0004_archive_history.sql``).

One archive file is authoritative for one symbol over one UTC range. :func:`replace_range`
makes its rows the table's rows for that symbol and range in ONE transaction -- delete the
range, insert the file's rows, rebuild the 5-minute taker flow when the table holds trades,
record the file in ``ingest_log`` -- so loading a file again replaces, never duplicates, and
a failure leaves nothing half-loaded. :mod:`liqmap.heatmap.ingest` finds, unpacks and
checks the files and declares their CSV columns; this module owns the SQL: :func:`csv_rows_sql`
reads one file into a table's column order, :func:`load_rows` / :func:`count_rows` load or count
its rows in a file's range, :func:`load_reference_history` seeds the demo's shipped CSVs.

``aggtrades_flow_5m`` rows: per 5-minute step (``step_end`` = end of ``(t - 5m, t]``, ms UTC),
taker side (``taker_sell`` = ``is_buyer_maker``) and log-price cell ``floor(ln(price) /
ln(1 + FLOW_CELL))`` (5 bps), the traded quantity (base units) and notional (USDT): taker flow
pre-aggregated at load, small enough for the symbol and latest-time lookups of
:mod:`liqmap.storage.archive_reads` to read instead of the raw trades.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import duckdb

from liqmap.units import INTERVAL_MS, MINUTE_MS, now_ms

#: archive kinds (data.binance.vision's datasets), each loaded into one table (:func:`table_for`)
KINDS = ("aggtrades", "klines", "metrics", "liquidation-snapshot")
INTERVALS = tuple(INTERVAL_MS)  # every interval has its klines_<interval>_history table
#: the time column of each kind's table: the range one file replaces
TS_COLUMN = {"aggtrades": "timestamp", "klines": "open_time", "metrics": "timestamp", "liquidation-snapshot": "time"}
US_THRESHOLD = 100_000_000_000_000  # > 1e14 => microseconds

#: step of ``aggtrades_flow_5m`` (ms)
FLOW_STEP_MS = 5 * MINUTE_MS
#: log-price cell width of ``aggtrades_flow_5m`` (5 bps)
FLOW_CELL = 0.0005


def table_for(kind: str, interval: str | None = None) -> str:
    """Destination table name of a kind (klines need ``interval``)."""
    if kind == "aggtrades":
        return "aggtrades_history"
    if kind == "klines":
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
        return f"klines_{interval}_history"
    if kind == "metrics":
        return "open_interest_history"
    if kind == "liquidation-snapshot":
        return "liquidation_snapshot_history"
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


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


# ---------------------------------------------------------------- archive CSV files

def _read_csv_sql(csv_path: Path, columns: dict[str, str], header: bool) -> str:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
    p = str(csv_path).replace("'", "''")
    comp = "gzip" if csv_path.suffix == ".gz" else "none"
    return (f"read_csv('{p}', header={str(header).lower()}, delim=',', quote='\"', auto_detect=false, "
            f"columns={{{cols}}}, null_padding=false, compression='{comp}')")


def _ts(col: str) -> str:
    return f"(CASE WHEN {col} > {US_THRESHOLD} THEN {col} // 1000 ELSE {col} END)"


def csv_rows_sql(kind: str, csv_path: Path, columns: dict[str, str], header: bool, symbol: str) -> str:
    """A SELECT of one archive CSV (plain or ``.gz``) as :func:`table_for` ``(kind)``'s rows of
    ``symbol``: ``columns`` (name -> DuckDB type) read by position, times in ms (µs values above
    :data:`US_THRESHOLD` divided by 1000) and named ``ts``; exact duplicate liquidation-snapshot
    rows removed."""
    sym = symbol.replace("'", "''")
    src = _read_csv_sql(csv_path, columns, header)
    if kind == "aggtrades":
        return (f"SELECT '{sym}', agg_trade_id, price, quantity, first_trade_id, last_trade_id, "
                f"{_ts('transact_time')} AS ts, is_buyer_maker FROM {src}")
    if kind == "klines":
        return (f"SELECT '{sym}', {_ts('open_time')} AS ts, open, high, low, close, volume, {_ts('close_time')}, "
                f"quote_volume, count, taker_buy_volume, taker_buy_quote_volume FROM {src}")
    if kind == "metrics":
        return (f"SELECT '{sym}', epoch_ms(CAST(create_time AS TIMESTAMP)) AS ts, sum_open_interest, "
                f"sum_open_interest_value, count_toptrader_long_short_ratio, sum_toptrader_long_short_ratio, "
                f"count_long_short_ratio, sum_taker_long_short_vol_ratio, 'metrics' FROM {src}")
    return (f"SELECT DISTINCT '{sym}', {_ts('time')} AS ts, side, order_type, time_in_force, original_quantity, "
            f"price, average_price, order_status, last_fill_quantity, accumulated_fill_quantity FROM {src}")


def count_rows(con: duckdb.DuckDBPyConnection, rows_sql: str, start: int, end: int) -> tuple:
    """``(rows, rows with ts in [start, end), min ts, max ts)`` of :func:`csv_rows_sql` rows
    (a dry run: nothing is written)."""
    return con.execute(f"SELECT count(*), count(*) FILTER (ts >= {start} AND ts < {end}), min(ts), max(ts) "
                       f"FROM (SELECT * FROM ({rows_sql}))").fetchone()


def load_rows(con: duckdb.DuckDBPyConnection, rows_sql: str, rec: FileRecord) -> int:
    """:func:`replace_range` of ``rec``'s table with the :func:`csv_rows_sql` rows in ``rec``'s
    range. Returns the rows inserted."""
    return replace_range(con, table_for(rec.kind, rec.interval), TS_COLUMN[rec.kind],
                         f"SELECT * FROM ({rows_sql}) WHERE ts >= {rec.start} AND ts < {rec.end}", rec)


def load_reference_history(con: duckdb.DuckDBPyConnection, symbol: str, klines_csv: Path, oi_csv: Path,
                           end_ms: int) -> dict[str, int]:
    """Load shipped reference CSVs (with header) of one symbol, up to ``end_ms``, with
    :func:`replace_range`: 5-minute klines (Binance kline columns) into ``klines_5m_history`` and
    open interest (``t, oi, oi_usd``) into ``open_interest_history``, both from the first kline
    on. Returns rows per table."""
    start = int(con.execute(f"SELECT min(open_time) FROM read_csv('{klines_csv}', header=true)").fetchone()[0])
    kl = replace_range(con, "klines_5m_history", "open_time", f"""
        SELECT '{symbol}', open_time, open, high, low, close, volume, close_time, quote_volume, count,
               taker_buy_volume, taker_buy_quote_volume
        FROM read_csv('{klines_csv}', header=true) WHERE open_time < {end_ms}""",
                       _reference_record(symbol, "klines", "5m", klines_csv, start, end_ms))
    oi = replace_range(con, "open_interest_history", "timestamp", f"""
        SELECT '{symbol}', t, oi, oi_usd, NULL, NULL, NULL, NULL, 'metrics (shipped reference)'
        FROM read_csv('{oi_csv}', header=true) WHERE t <= {end_ms}""",
                       _reference_record(symbol, "metrics", None, oi_csv, start, end_ms + 1))
    return {"klines_5m_history": kl, "open_interest_history": oi}


def _reference_record(symbol: str, kind: str, interval: str | None, path: Path, start: int, end: int) -> FileRecord:
    data = path.read_bytes()
    return FileRecord(kind, symbol, interval, path.name, len(data), hashlib.sha256(data).hexdigest(), start, end)
