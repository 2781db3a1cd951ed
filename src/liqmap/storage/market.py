"""DuckDB writes of per-venue market series: open interest, klines, mark prices, trade bars.

Tables (``migrations/duckdb/0003_market_series.sql`` and ``0005_live_market_series.sql``,
applied by :func:`liqmap.storage.duckdb_store.apply_migrations`):

* ``open_interest(exchange, symbol, base, quote, timestamp, open_interest, open_interest_usd,
  received_at, source)`` -- key ``(exchange, symbol, timestamp)``; ``open_interest`` in base
  units (one side of the book), ``open_interest_usd`` in USD or NULL; times ms UTC.
* ``klines(exchange, symbol, interval, open_time, close_time, open, high, low, close, volume,
  quote_volume, taker_buy_volume, taker_buy_quote_volume, trades, source)`` -- key
  ``(exchange, symbol, interval, open_time)``; prices in quote units, ``volume`` base units.
* ``mark_prices(exchange, symbol, timestamp, mark_price, index_price, funding_rate, received_at)``
  -- key ``(exchange, symbol, timestamp)``; the last mark of each minute (live collection).
* ``trade_bars_1m(exchange, symbol, base, quote, open_time, open, high, low, close, buy_volume,
  sell_volume, buy_usd, sell_usd, trades, first_ts, last_ts, partial)`` -- key
  ``(exchange, symbol, open_time)``; :class:`liqmap.analytics.trade_bars.TradeBar`.
* ``market_tickers`` (``0011_market_view.sql``) -- key ``(exchange, symbol, second)``; one
  :class:`liqmap.analytics.ticker_series.TickerSample` per instrument and second.
* ``arbitrage_opportunities`` -- key ``id``; the last state of each
  :class:`liqmap.analytics.arbitrage.ArbitrageOpportunity` (open, then closed).

Writes are ``INSERT OR REPLACE`` in one transaction per call, so storing the same snapshot or
candle again (a re-run backfill, a replay, the live collector catching up) replaces the row
instead of adding a second one. Within one call the last event per key wins.
:func:`write_market_rows` writes the live collector's :class:`~liqmap.analytics.market_series.MarketRows`
inside the caller's transaction (the DuckDB store commits them with its liquidation batch).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import duckdb
import numpy as np

from liqmap.models import Kline, OpenInterest, Ticker

if TYPE_CHECKING:
    from liqmap.analytics.market_series import MarketRows
    from liqmap.analytics.trade_bars import TradeBar

OI_COLUMNS = ("exchange", "symbol", "base", "quote", "timestamp", "open_interest", "open_interest_usd",
              "received_at", "source")
KLINE_COLUMNS = ("exchange", "symbol", "interval", "open_time", "close_time", "open", "high", "low", "close",
                 "volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "trades", "source")
MARK_COLUMNS = ("exchange", "symbol", "timestamp", "mark_price", "index_price", "funding_rate", "received_at")
BAR_COLUMNS = ("exchange", "symbol", "base", "quote", "open_time", "open", "high", "low", "close", "buy_volume",
               "sell_volume", "buy_usd", "sell_usd", "trades", "first_ts", "last_ts", "partial")
TICKER_COLUMNS = ("exchange", "symbol", "second", "timestamp", "received_at", "bid_price", "bid_size", "ask_price",
                  "ask_size", "last_price", "mark_price", "index_price", "volume_24h", "volume_24h_usd",
                  "funding_rate", "next_funding_time", "open_interest", "open_interest_usd")
ARBITRAGE_COLUMNS = ("id", "base", "quote_family", "buy_exchange", "buy_symbol", "buy_price", "sell_exchange",
                     "sell_symbol", "sell_price", "gross_bps", "fees_bps", "net_bps", "peak_net_bps",
                     "funding_spread", "opened_at", "updated_at", "closed_at", "duration_ms", "is_open")
_FLOATS = {"open_interest", "open_interest_usd", "open", "high", "low", "close", "volume", "quote_volume",
           "taker_buy_volume", "taker_buy_quote_volume", "mark_price", "index_price", "funding_rate",
           "buy_volume", "sell_volume", "buy_usd", "sell_usd", "bid_price", "bid_size", "ask_price", "ask_size",
           "last_price", "volume_24h", "volume_24h_usd", "buy_price", "sell_price", "gross_bps", "fees_bps",
           "net_bps", "peak_net_bps", "funding_spread"}
_INTS = {"timestamp", "received_at", "open_time", "close_time", "first_ts", "last_ts", "second", "opened_at",
         "updated_at", "duration_ms"}
#: integer columns that may be NULL (pandas-free: an object array of ints / None)
_NULLABLE_INTS = {"next_funding_time", "closed_at"}


def _columns(rows: list[tuple], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    cols = list(zip(*rows))
    out = {}
    for name, values in zip(names, cols):
        if name in _FLOATS:  # None -> NaN, which DuckDB stores as NULL from a numpy scan
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif name in _INTS:
            out[name] = np.array(values, dtype=np.int64)
        elif name in _NULLABLE_INTS:
            out[name] = np.array([None if v is None else int(v) for v in values], dtype=object)
        else:
            out[name] = np.array(values, dtype=object)
    return out


def upsert_rows(cur: duckdb.DuckDBPyConnection, table: str, names: tuple[str, ...], rows: list[tuple]) -> int:
    """``INSERT OR REPLACE`` ``rows`` (tuples in ``names`` order) into ``table`` in the caller's
    open transaction; returns len(rows)."""
    if not rows:
        return 0
    cur.register("market_batch", _columns(rows, names))
    try:
        cur.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) "
                    f"SELECT {', '.join(names)} FROM market_batch")
    finally:
        cur.unregister("market_batch")
    return len(rows)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new cursor on ``con`` inside one transaction: committed when the block ends, rolled
    back (and the error raised) when it raises; the cursor is closed either way."""
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()


def _upsert(con: duckdb.DuckDBPyConnection, table: str, names: tuple[str, ...], rows: list[tuple]) -> int:
    if not rows:
        return 0
    with transaction(con) as cur:
        upsert_rows(cur, table, names, rows)
    return len(rows)


def oi_rows(events: Sequence[OpenInterest], source: str) -> list[tuple]:
    """``open_interest`` rows (last event per key)."""
    last = {(e.exchange, e.symbol, e.timestamp): e for e in events}
    return [(e.exchange, e.symbol, e.base, e.quote, e.timestamp, e.open_interest, e.open_interest_usd,
             e.received_at, source) for e in last.values()]


def kline_rows(events: Sequence[Kline], source: str) -> list[tuple]:
    """``klines`` rows of the CLOSED candles (last per key)."""
    last = {(k.exchange, k.symbol, k.interval, k.open_time): k for k in events if k.closed}
    return [(k.exchange, k.symbol, k.interval, k.open_time, k.close_time, k.open, k.high, k.low, k.close,
             k.volume, k.quote_volume, k.taker_buy_volume, k.taker_buy_quote_volume, k.trades, source)
            for k in last.values()]


def mark_rows(ticks: Sequence[Ticker]) -> list[tuple]:
    """``mark_prices`` rows of the tickers carrying a mark price (last per key)."""
    last = {(t.exchange, t.symbol, t.timestamp): t for t in ticks if t.mark_price is not None}
    return [(t.exchange, t.symbol, t.timestamp, t.mark_price, t.index_price, t.funding_rate, t.received_at)
            for t in last.values()]


def bar_rows(bars: "Sequence[TradeBar]") -> list[tuple]:
    """``trade_bars_1m`` rows (last per key)."""
    last = {(b.exchange, b.symbol, b.open_time): b for b in bars}
    return [(b.exchange, b.symbol, b.base, b.quote, b.open_time, b.open, b.high, b.low, b.close, b.buy_volume,
             b.sell_volume, b.buy_usd, b.sell_usd, b.trades, b.first_ts, b.last_ts, b.partial)
            for b in last.values()]


def ticker_rows(samples: Sequence[Any]) -> list[tuple]:
    """``market_tickers`` rows (last sample per key)."""
    last = {(t.exchange, t.symbol, t.second): t for t in samples}
    return [tuple(getattr(t, c) for c in TICKER_COLUMNS) for t in last.values()]


def arbitrage_rows(ops: Sequence[Any]) -> list[tuple]:
    """``arbitrage_opportunities`` rows (last state per id)."""
    last = {o.id: o for o in ops}
    return [tuple(getattr(o, "open" if c == "is_open" else c) for c in ARBITRAGE_COLUMNS) for o in last.values()]


def write_market_rows(cur: duckdb.DuckDBPyConnection, rows: "MarketRows", source: str = "live") -> int:
    """Upsert the live collector's rows into ``open_interest``, ``klines``, ``mark_prices``,
    ``trade_bars_1m``, ``market_tickers`` and ``arbitrage_opportunities`` inside the caller's
    open transaction; returns the rows written."""
    return (upsert_rows(cur, "open_interest", OI_COLUMNS, oi_rows(rows.open_interest, source))
            + upsert_rows(cur, "klines", KLINE_COLUMNS, kline_rows(rows.klines, source))
            + upsert_rows(cur, "mark_prices", MARK_COLUMNS, mark_rows(rows.marks))
            + upsert_rows(cur, "trade_bars_1m", BAR_COLUMNS, bar_rows(rows.bars))
            + upsert_rows(cur, "market_tickers", TICKER_COLUMNS, ticker_rows(rows.tickers))
            + upsert_rows(cur, "arbitrage_opportunities", ARBITRAGE_COLUMNS, arbitrage_rows(rows.arbitrage)))


def store_open_interest(con: duckdb.DuckDBPyConnection, events: Sequence[OpenInterest], source: str) -> int:
    """Upsert open-interest snapshots into ``open_interest``; returns the distinct keys written.

    Raises ``duckdb.Error`` (nothing written) when the table is missing or a value is invalid.
    """
    return _upsert(con, "open_interest", OI_COLUMNS, oi_rows(events, source))


def store_klines(con: duckdb.DuckDBPyConnection, events: Sequence[Kline], source: str) -> int:
    """Upsert closed candles into ``klines``; returns the distinct keys written.

    Candles with ``closed=False`` are skipped (a forming candle is not history).
    Raises ``duckdb.Error`` (nothing written) when the table is missing or a value is invalid.
    """
    return _upsert(con, "klines", KLINE_COLUMNS, kline_rows(events, source))


def mirror_binance_to_heatmap_tables(con: duckdb.DuckDBPyConnection, symbol: str, interval: str,
                                     start_ms: int, end_ms: int) -> tuple[int, int]:
    """Copy Binance rows of ``open_interest`` / ``klines`` in ``[start_ms, end_ms)`` into the
    archive-shaped heatmap tables the model reads today (``open_interest_history``,
    ``klines_<interval>_history``), where no row exists yet at that time (an archive row is
    never replaced: it carries more columns). Returns (OI rows, kline rows) inserted.

    The heatmap tables come from the storage migrations (``0004_archive_history.sql``).
    """
    from liqmap.storage.archive_writes import table_for

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
