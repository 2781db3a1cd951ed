"""DuckDB writes of per-venue market series: open interest and klines.

Tables (``migrations/duckdb/0003_market_series.sql``, applied by
:func:`liqmap.storage.duckdb_store.apply_migrations`):

* ``open_interest(exchange, symbol, base, quote, timestamp, open_interest, open_interest_usd,
  received_at, source)`` -- key ``(exchange, symbol, timestamp)``; ``open_interest`` in base
  units (one side of the book), ``open_interest_usd`` in USD or NULL; times ms UTC.
* ``klines(exchange, symbol, interval, open_time, close_time, open, high, low, close, volume,
  quote_volume, taker_buy_volume, taker_buy_quote_volume, trades, source)`` -- key
  ``(exchange, symbol, interval, open_time)``; prices in quote units, ``volume`` base units.

Writes are ``INSERT OR REPLACE`` in one transaction per call, so storing the same snapshot or
candle again (a re-run backfill, a replay, the live collector catching up) replaces the row
instead of adding a second one. Within one call the last event per key wins.
"""

from __future__ import annotations

from typing import Sequence

import duckdb
import numpy as np

from liqmap.models import Kline, OpenInterest

OI_COLUMNS = ("exchange", "symbol", "base", "quote", "timestamp", "open_interest", "open_interest_usd",
              "received_at", "source")
KLINE_COLUMNS = ("exchange", "symbol", "interval", "open_time", "close_time", "open", "high", "low", "close",
                 "volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "trades", "source")
_FLOATS = {"open_interest", "open_interest_usd", "open", "high", "low", "close", "volume", "quote_volume",
           "taker_buy_volume", "taker_buy_quote_volume"}
_INTS = {"timestamp", "received_at", "open_time", "close_time"}


def _columns(rows: list[tuple], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    cols = list(zip(*rows))
    out = {}
    for name, values in zip(names, cols):
        if name in _FLOATS:  # None -> NaN, which DuckDB stores as NULL from a numpy scan
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif name in _INTS:
            out[name] = np.array(values, dtype=np.int64)
        else:
            out[name] = np.array(values, dtype=object)
    return out


def _upsert(con: duckdb.DuckDBPyConnection, table: str, names: tuple[str, ...], rows: list[tuple]) -> int:
    if not rows:
        return 0
    cur = con.cursor()
    cur.register("market_batch", _columns(rows, names))
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) "
                        f"SELECT {', '.join(names)} FROM market_batch")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.unregister("market_batch")
        cur.close()
    return len(rows)


def store_open_interest(con: duckdb.DuckDBPyConnection, events: Sequence[OpenInterest], source: str) -> int:
    """Upsert open-interest snapshots into ``open_interest``; returns the distinct keys written.

    Raises ``duckdb.Error`` (nothing written) when the table is missing or a value is invalid.
    """
    last = {(e.exchange, e.symbol, e.timestamp): e for e in events}
    rows = [(e.exchange, e.symbol, e.base, e.quote, e.timestamp, e.open_interest, e.open_interest_usd,
             e.received_at, source) for e in last.values()]
    return _upsert(con, "open_interest", OI_COLUMNS, rows)


def store_klines(con: duckdb.DuckDBPyConnection, events: Sequence[Kline], source: str) -> int:
    """Upsert closed candles into ``klines``; returns the distinct keys written.

    Candles with ``closed=False`` are skipped (a forming candle is not history).
    Raises ``duckdb.Error`` (nothing written) when the table is missing or a value is invalid.
    """
    last = {(k.exchange, k.symbol, k.interval, k.open_time): k for k in events if k.closed}
    rows = [(k.exchange, k.symbol, k.interval, k.open_time, k.close_time, k.open, k.high, k.low, k.close,
             k.volume, k.quote_volume, k.taker_buy_volume, k.taker_buy_quote_volume, k.trades, source)
            for k in last.values()]
    return _upsert(con, "klines", KLINE_COLUMNS, rows)


def mirror_binance_to_heatmap_tables(con: duckdb.DuckDBPyConnection, symbol: str, interval: str,
                                     start_ms: int, end_ms: int) -> tuple[int, int]:
    """Copy Binance rows of ``open_interest`` / ``klines`` in ``[start_ms, end_ms)`` into the
    archive-shaped heatmap tables the model reads today (``open_interest_history``,
    ``klines_<interval>_history``), where no row exists yet at that time (an archive row is
    never replaced: it carries more columns). Returns (OI rows, kline rows) inserted.

    The heatmap tables come from the storage migrations (``0004_archive_history.sql``).
    """
    from liqmap.heatmap.ingest import table_for

    kt = table_for("klines", interval)
    con.execute("BEGIN TRANSACTION")
    try:
        n_oi = con.execute("""INSERT INTO open_interest_history
            SELECT o.symbol, o.timestamp, o.open_interest, o.open_interest_usd, NULL, NULL, NULL, NULL,
                   'rest_openInterestHist'
            FROM open_interest o WHERE o.exchange = 'binance' AND o.symbol = ? AND o.timestamp >= ? AND o.timestamp < ?
              AND NOT EXISTS (SELECT 1 FROM open_interest_history h WHERE h.symbol = o.symbol AND h.timestamp = o.timestamp)""",
                           [symbol, start_ms, end_ms]).fetchone()[0]
        n_k = con.execute(f"""INSERT INTO {kt}
            SELECT k.symbol, k.open_time, k.open, k.high, k.low, k.close, k.volume, k.close_time, k.quote_volume,
                   k.trades, k.taker_buy_volume, k.taker_buy_quote_volume
            FROM klines k WHERE k.exchange = 'binance' AND k.symbol = ? AND k.interval = ?
              AND k.open_time >= ? AND k.open_time < ?
              AND NOT EXISTS (SELECT 1 FROM {kt} h WHERE h.symbol = k.symbol AND h.open_time = k.open_time)""",
                          [symbol, interval, start_ms, end_ms]).fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n_oi), int(n_k)
