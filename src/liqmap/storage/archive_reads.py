"""Reads of the archive history tables (``migrations/duckdb/0004_archive_history.sql``).

The heatmap model and the heatmap API read prices, open interest and symbols through these functions; the
tables are loaded by :mod:`liqmap.heatmap.ingest` and :mod:`liqmap.history`. Every function
takes a DuckDB connection or cursor and works on a file opened read-only too, also an older
file that lacks some of the tables (they count as empty).

Units: times ms since the Unix epoch UTC, prices USDT, quantities base units.
"""

from __future__ import annotations

import duckdb
import numpy as np

from liqmap.units import INTERVAL_MS, MINUTE_MS

#: time column of each non-klines history table (klines tables use ``open_time``)
_TIME_COLUMN = {"aggtrades_history": "timestamp", "open_interest_history": "timestamp",
                "liquidation_snapshot_history": "time"}


def _is_klines(table: str) -> bool:
    return table.startswith("klines_") and table.endswith("_history")


def history_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables present in the database (a read-only older file may lack some)."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def known_symbols(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Symbols with any price history (klines or aggTrades), sorted."""
    tabs = history_tables(con)
    trades = "aggtrades_flow_5m" if "aggtrades_flow_5m" in tabs else "aggtrades_history"  # small table first
    parts = [f"SELECT DISTINCT symbol FROM {t}" for t in sorted(tabs) if _is_klines(t) or t == trades]
    if not parts:
        return []
    return sorted(r[0] for r in con.execute(" UNION ".join(parts)).fetchall())


def latest_price_time(con: duckdb.DuckDBPyConnection, symbol: str) -> int | None:
    """Last price time (ms) of ``symbol`` from klines (open time) or the flow table (step end); cheap."""
    tabs = history_tables(con)
    parts = [f"SELECT max(open_time) AS t FROM {t} WHERE symbol = $1" for t in sorted(tabs) if _is_klines(t)]
    if "aggtrades_flow_5m" in tabs:
        parts.append("SELECT max(step_end) - 1 AS t FROM aggtrades_flow_5m WHERE symbol = $1")
    elif "aggtrades_history" in tabs:
        parts.append("SELECT max(timestamp) AS t FROM aggtrades_history WHERE symbol = $1")
    if not parts:
        return None
    r = con.execute(f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})", [symbol]).fetchone()[0]
    return None if r is None else int(r)


def date_range(con: duckdb.DuckDBPyConnection, symbol: str) -> dict[str, dict[str, int]]:
    """``{table: {start, end, rows}}``: first/last timestamp (ms) and row count of ``symbol``
    in each history table that holds it."""
    out = {}
    for t in sorted(history_tables(con)):
        col = "open_time" if _is_klines(t) else _TIME_COLUMN.get(t)
        if col is None:
            continue
        lo, hi, n = con.execute(f"SELECT min({col}), max({col}), count(*) FROM {t} WHERE symbol = ?", [symbol]).fetchone()
        if n:
            out[t] = {"start": int(lo), "end": int(hi), "rows": int(n)}
    return out


def price_steps(con: duckdb.DuckDBPyConnection, symbol: str, lo: int, hi: int, step: int):
    """OHLC per ``step`` ms for open times in ``[lo, hi)`` from the finest usable source.

    Returns ``(columns, source)``: ``columns`` is DuckDB's ``fetchnumpy`` dict of ``te`` (step
    end, ms), open, high, low, close, quote volume and taker-buy quote volume (USDT) per step;
    ``source`` names the table (klines of an interval dividing ``step``, resampled, else
    ``aggtrades_history``). ``(None, None)`` when no source has rows in the range.
    """
    tabs = history_tables(con)
    cands = sorted(((INTERVAL_MS[t[7:-8]], t) for t in tabs if _is_klines(t)
                    and t[7:-8] in INTERVAL_MS and step % INTERVAL_MS[t[7:-8]] == 0), reverse=True)
    for iv, t in cands:
        rows = con.execute(
            f"""SELECT (open_time // {step}) * {step} + {step} AS te, arg_min(open, open_time), max(high), min(low),
                       arg_max(close, open_time), sum(quote_volume), sum(taker_buy_quote_volume)
                FROM {t} WHERE symbol = ? AND open_time >= ? AND open_time < ? GROUP BY te ORDER BY te""",
            [symbol, lo, hi]).fetchnumpy()
        if len(rows["te"]):
            return rows, f"{t} (resampled to {step // MINUTE_MS}m)" if iv != step else t
    if "aggtrades_history" in tabs:
        rows = con.execute(
            f"""SELECT (timestamp // {step}) * {step} + {step} AS te, arg_min(price, timestamp), max(price),
                       min(price), arg_max(price, timestamp), sum(price*quantity),
                       sum(price*quantity) FILTER (NOT is_buyer_maker)
                FROM aggtrades_history WHERE symbol = ? AND timestamp >= ? AND timestamp < ?
                GROUP BY te ORDER BY te""", [symbol, lo, hi]).fetchnumpy()
        if len(rows["te"]):
            return rows, "aggtrades_history"
    return None, None


def data_version(con: duckdb.DuckDBPyConnection) -> tuple:
    """A value that changes whenever a file ingest or a REST backfill adds price/OI rows
    (row counts of the OI and klines tables, last ``ingest_log`` load time): a cache-key part."""
    tabs = history_tables(con)
    parts = [f"SELECT count(*) FROM {t}" for t in sorted(tabs) if t == "open_interest_history" or _is_klines(t)]
    if "ingest_log" in tabs:
        parts.append("SELECT coalesce(max(loaded_at), 0) FROM ingest_log")
    if not parts:
        return ()
    return tuple(r[0] for r in con.execute(" UNION ALL ".join(parts)).fetchall())


# ---------------------------------------------------------------- the heatmap model's inputs


def kline_tables(con: duckdb.DuckDBPyConnection, step: int) -> list[tuple[int, str]]:
    """``(interval ms, table)`` of the klines tables whose interval divides ``step`` or is a whole
    number of steps (the heatmap model's usable price sources), finest first."""
    return sorted((INTERVAL_MS[t[7:-8]], t) for t in history_tables(con)
                  if _is_klines(t) and t[7:-8] in INTERVAL_MS
                  and (step % INTERVAL_MS[t[7:-8]] == 0 or INTERVAL_MS[t[7:-8]] % step == 0))


def _floats(r: dict, cols: list[str]) -> list[np.ndarray]:
    return [np.ma.asarray(r[c], dtype=float).filled(np.nan) for c in cols]


def kline_rows(con: duckdb.DuckDBPyConnection, table: str, interval_ms: int, symbol: str, lo: int,
               hi: int) -> tuple[np.ndarray, ...] | None:
    """Bars of ``table`` opening in ``[lo, hi)`` on the interval grid, by open time: (open_time int64,
    open, high, low, close, quote_volume, taker_buy_quote_volume) arrays (NULL → NaN); None when empty."""
    r = con.execute(f"""SELECT open_time, open, high, low, close, quote_volume, taker_buy_quote_volume FROM {table}
                        WHERE symbol = ? AND open_time >= ? AND open_time < ? AND open_time % {interval_ms} = 0
                        ORDER BY open_time""", [symbol, lo, hi]).fetchnumpy()
    if not len(r["open_time"]):
        return None
    return (np.asarray(r["open_time"], dtype=np.int64), *_floats(r, list(r)[1:]))


def trade_bars(con: duckdb.DuckDBPyConnection, symbol: str, lo: int, hi: int,
               step: int) -> tuple[np.ndarray, ...] | None:
    """``step``-ms bars built from ``aggtrades_history`` trades in ``[lo, hi)``, in the same layout as
    :func:`kline_rows` (taker-buy quote volume = notional of trades whose buyer was the taker)."""
    if "aggtrades_history" not in history_tables(con):
        return None
    r = con.execute(f"""SELECT (timestamp // {step}) * {step} AS t, arg_min(price, timestamp), max(price), min(price),
                               arg_max(price, timestamp), sum(price * quantity),
                               coalesce(sum(price * quantity) FILTER (NOT is_buyer_maker), 0)
                        FROM aggtrades_history WHERE symbol = ? AND timestamp >= ? AND timestamp < ?
                        GROUP BY t ORDER BY t""", [symbol, lo, hi]).fetchnumpy()
    if not len(r["t"]):
        return None
    return (np.asarray(r["t"], dtype=np.int64), *_floats(r, list(r)[1:]))


def open_interest_rows(con: duckdb.DuckDBPyConnection, symbol: str, lo: int,
                       hi: int) -> tuple[np.ndarray, ...] | None:
    """OI observations stamped in ``[lo, hi]``: (timestamp int64 ms, sum_open_interest in contracts,
    sum_open_interest_value USDT, NaN when missing); None when there are none."""
    if "open_interest_history" not in history_tables(con):
        return None
    r = con.execute("""SELECT timestamp, sum_open_interest, sum_open_interest_value FROM open_interest_history
                       WHERE symbol = ? AND timestamp >= ? AND timestamp <= ? AND sum_open_interest IS NOT NULL
                       ORDER BY timestamp""", [symbol, lo, hi]).fetchnumpy()
    if not len(r["timestamp"]):
        return None
    return (np.asarray(r["timestamp"], dtype=np.int64), *_floats(r, ["sum_open_interest", "sum_open_interest_value"]))
