"""Reads of the venue-keyed market series (``open_interest``, ``klines``, ``trade_bars_1m``) the live
heatmap and the open-interest API use. Tables: :mod:`liqmap.storage.market` (migrations 0003, 0005).

Time convention (the heatmap's, :mod:`liqmap.heatmap.series`): a step of ``step`` ms is named by
its END ``t_end`` and covers ``(t_end - step, t_end]``. An open-interest observation stamped ``t``
belongs to the step ending ``ceil(t / step) * step`` after a stamp up to
:data:`~liqmap.heatmap.series.STAMP_JITTER_MS` past a grid point is floored onto it (Binance
``metrics`` rows come a second or two late); the step's value is its LAST observation.

Units: times ms UTC, open interest in base units (one side of the book) and USD, prices in quote
units. Every function takes a DuckDB connection or cursor (read-only works).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import duckdb
import numpy as np

from liqmap.heatmap.series import STAMP_JITTER_MS, Klines
from liqmap.storage.duckdb_reads import _in
from liqmap.units import MINUTE_MS


@dataclass(frozen=True)
class Instrument:
    """One venue perpetual: ``exchange``, venue-native ``symbol``, its ``quote``."""

    exchange: str
    symbol: str
    quote: str

    @property
    def key(self) -> str:
        """``exchange:symbol`` (how the live feeder's state names it)."""
        return f"{self.exchange}:{self.symbol}"


def _step_end_sql(step: int) -> str:
    t = f"(CASE WHEN timestamp % {step} <= {STAMP_JITTER_MS} THEN timestamp - timestamp % {step} ELSE timestamp END)"
    return f"(({t} + {step} - 1) // {step}) * {step}"


def _only(quotes: Sequence[str] | None, exchanges: Sequence[str] | None) -> tuple[str, list]:
    """SQL conditions (and their parameters) keeping the given quotes / exchanges (None or empty = all)."""
    q, e = _in("quote", quotes), _in("exchange", exchanges)
    return q[0] + e[0], q[1] + e[1]


def oi_per_step(con: duckdb.DuckDBPyConnection, base: str, first_end: int, last_end: int, step: int,
                quotes: Sequence[str] | None = None, exchanges: Sequence[str] | None = None
                ) -> dict[Instrument, dict[int, tuple[float, float | None]]]:
    """``{instrument: {t_end: (open interest base units, USD or None)}}`` -- each instrument's last
    observation in every step ending in ``[first_end, last_end]`` (module docstring), for the
    perpetuals of underlying ``base`` (optionally only those quoted in ``quotes`` / listed on
    ``exchanges``)."""
    only, extra = _only(quotes, exchanges)
    sql = f"""SELECT exchange, symbol, quote, step_end, arg_max(open_interest, timestamp),
                     arg_max(open_interest_usd, timestamp)
              FROM (SELECT *, {_step_end_sql(step)} AS step_end FROM open_interest WHERE base = ? {only})
              WHERE step_end >= ? AND step_end <= ?
              GROUP BY ALL ORDER BY exchange, symbol, step_end"""
    params: list = [base, *extra, first_end, last_end]
    out: dict[Instrument, dict[int, tuple[float, float | None]]] = {}
    for ex, sym, quote, t, oi, usd in con.execute(sql, params).fetchall():
        out.setdefault(Instrument(ex, sym, quote), {})[int(t)] = (float(oi), None if usd is None else float(usd))
    return out


def oi_complete_through(con: duckdb.DuckDBPyConnection, base: str, since: int, quotes: Sequence[str] | None = None,
                        exchanges: Sequence[str] | None = None) -> dict[Instrument, int]:
    """``{instrument: newest observation time}`` of the instruments of ``base`` observed at or after
    ``since`` (ms): an instrument's steps ending at or before that time are final."""
    only, extra = _only(quotes, exchanges)
    sql = f"""SELECT exchange, symbol, quote, max(timestamp) FROM open_interest
              WHERE base = ? AND timestamp >= ? {only} GROUP BY ALL"""
    params: list = [base, since, *extra]
    return {Instrument(ex, sym, q): int(t) for ex, sym, q, t in con.execute(sql, params).fetchall()}


def price_complete_through(con: duckdb.DuckDBPyConnection, exchange: str, symbol: str) -> int | None:
    """End (ms) of the newest finished bar of one instrument: closed klines of any interval and
    1-minute trade bars; None without any."""
    r = con.execute("""SELECT max(t) FROM (
            SELECT max(close_time) + 1 AS t FROM klines WHERE exchange = ? AND symbol = ?
            UNION ALL SELECT max(open_time) + 60000 FROM trade_bars_1m WHERE exchange = ? AND symbol = ?)""",
                    [exchange, symbol, exchange, symbol]).fetchone()[0]
    return None if r is None else int(r)


def first_price_time(con: duckdb.DuckDBPyConnection, exchange: str, symbol: str) -> int | None:
    """Open time (ms) of the oldest stored bar of one instrument (klines or trade bars), or None."""
    r = con.execute("""SELECT min(t) FROM (
            SELECT min(open_time) AS t FROM klines WHERE exchange = ? AND symbol = ?
            UNION ALL SELECT min(open_time) FROM trade_bars_1m WHERE exchange = ? AND symbol = ?)""",
                    [exchange, symbol, exchange, symbol]).fetchone()[0]
    return None if r is None else int(r)


def reference_bars(con: duckdb.DuckDBPyConnection, exchange: str, symbol: str, lo: int, hi: int,
                   step: int) -> list[Klines]:
    """Price bars of one instrument opening in ``[lo, hi)`` for the heatmap's per-step inputs,
    one bar source per step, the fullest first: klines of the step's own interval (venue REST
    backfill, a venue kline stream), else 1-minute bars -- the venue's 1-minute klines, else the
    1-minute bars built from its trades (``trade_bars_1m``). Taker-buy quote volume: the kline's
    (Binance), else the trades' buy notional. Returns :class:`~liqmap.heatmap.series.Klines` per
    interval (empty list without data)."""
    out: list[Klines] = []
    whole = con.execute("""SELECT open_time, open, high, low, close, quote_volume, taker_buy_quote_volume
                           FROM klines WHERE exchange = ? AND symbol = ? AND close_time + 1 - open_time = ?
                             AND open_time >= ? AND open_time < ? AND open_time % ? = 0 ORDER BY open_time""",
                        [exchange, symbol, step, lo, hi, step]).fetchnumpy()
    if len(whole["open_time"]):
        out.append(_klines(step, whole))
    minute = con.execute(f"""
        WITH k AS (SELECT open_time, open, high, low, close, quote_volume, taker_buy_quote_volume FROM klines
                   WHERE exchange = $1 AND symbol = $2 AND close_time + 1 - open_time = {MINUTE_MS}
                     AND open_time >= $3 AND open_time < $4),
             b AS (SELECT open_time, open, high, low, close, buy_usd + sell_usd AS quote_volume,
                          buy_usd AS taker_buy_quote_volume FROM trade_bars_1m
                   WHERE exchange = $1 AND symbol = $2 AND open_time >= $3 AND open_time < $4),
             m AS (SELECT * FROM k UNION ALL SELECT * FROM b WHERE open_time NOT IN (SELECT open_time FROM k))
        SELECT * FROM m WHERE open_time // {step} NOT IN (
            SELECT open_time // {step} FROM klines WHERE exchange = $1 AND symbol = $2
               AND close_time + 1 - open_time = {step} AND open_time >= $3 AND open_time < $4)
        ORDER BY open_time""", [exchange, symbol, lo, hi]).fetchnumpy()
    if len(minute["open_time"]):
        out.append(_klines(MINUTE_MS, minute))
    return out


def _klines(interval_ms: int, r: dict) -> Klines:
    f = [np.ma.asarray(r[c], dtype=float).filled(np.nan)
         for c in ("open", "high", "low", "close", "quote_volume", "taker_buy_quote_volume")]
    return Klines(interval_ms, np.asarray(r["open_time"], dtype=np.int64), *f)
