"""Reads of the stored cross-exchange market view (issue #15): arbitrage opportunities and the
per-second ticker series. Tables: :mod:`liqmap.storage.market` (migration ``0011_market_view``).

Units: times ms UTC, prices in quote units, spreads in bps, funding rates as fractions per
funding interval, sizes / volumes / open interest in base units, ``*_usd`` in USD. Every function
takes a DuckDB connection or cursor (read-only works) and returns JSON-ready dicts.
"""

from __future__ import annotations

from typing import Any, Literal

import duckdb

from liqmap.storage.market import ARBITRAGE_COLUMNS, TICKER_COLUMNS


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict[str, Any]]:
    res = cur.execute(sql, params)
    cols = [d[0] for d in res.description]
    return [dict(zip(cols, r)) for r in res.fetchall()]


def arbitrage_history(cur: duckdb.DuckDBPyConnection, *, base: str | None = None, family: str | None = None,
                      since_ms: int | None = None, until_ms: int | None = None, min_net_bps: float = 0.0,
                      status: Literal["open", "closed", "all"] = "all", limit: int = 100) -> list[dict[str, Any]]:
    """Stored opportunities (their last state) whose life overlaps ``[since_ms, until_ms]``,
    best peak first: ``peak_net_bps >= min_net_bps``; ``status`` open / closed / all; optionally
    one underlying (``base``) and quote family. Each row has the
    :class:`~liqmap.analytics.arbitrage.ArbitrageOpportunity` fields (``open`` for ``is_open``)."""
    where, params = ["peak_net_bps >= ?"], [float(min_net_bps)]
    if base is not None:
        where.append("base = ?")
        params.append(base)
    if family is not None:
        where.append("quote_family = ?")
        params.append(family)
    if since_ms is not None:
        where.append("coalesce(closed_at, updated_at) >= ?")
        params.append(int(since_ms))
    if until_ms is not None:
        where.append("opened_at <= ?")
        params.append(int(until_ms))
    if status != "all":
        where.append("is_open" if status == "open" else "NOT is_open")
    cols = ", ".join(c if c != "is_open" else "is_open AS open" for c in ARBITRAGE_COLUMNS)
    sql = (f"SELECT {cols} FROM arbitrage_opportunities WHERE {' AND '.join(where)} "
           "ORDER BY peak_net_bps DESC, opened_at DESC LIMIT ?")
    return _rows(cur, sql, [*params, int(limit)])


def ticker_history(cur: duckdb.DuckDBPyConnection, exchange: str, symbol: str, since_ms: int, until_ms: int,
                   limit: int = 10_000) -> list[dict[str, Any]]:
    """One instrument's stored per-second ticker samples in ``[since_ms, until_ms]`` (by the
    sample's second, ms UTC), oldest first: the ``market_tickers`` columns."""
    sql = (f"SELECT {', '.join(TICKER_COLUMNS)} FROM market_tickers WHERE exchange = ? AND symbol = ? "
           "AND second BETWEEN ? AND ? ORDER BY second LIMIT ?")
    return _rows(cur, sql, [exchange, symbol, int(since_ms), int(until_ms), int(limit)])
