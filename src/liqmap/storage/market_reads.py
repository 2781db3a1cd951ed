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
    r = con.execute(f"""SELECT max(t) FROM (
            SELECT max(close_time) + 1 AS t FROM klines WHERE exchange = ? AND symbol = ?
            UNION ALL SELECT max(open_time) + {MINUTE_MS} FROM trade_bars_1m WHERE exchange = ? AND symbol = ?)""",
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
    1-minute bars built from its trades (``trade_bars_1m``) --, else klines of another stored
    interval that divides the step (coarsest first) or spans whole steps (finest first): the
    warm-up's 5-minute klines under 15-minute or 1-hour steps, or under 1-minute steps (a bar
    longer than the step gives its range to its last step, :func:`~liqmap.heatmap.series.build_series`).
    Taker-buy quote volume: the kline's (Binance), else the trades' buy notional. Returns
    :class:`~liqmap.heatmap.series.Klines` per interval (empty list without data)."""
    out: list[Klines] = []
    covered: set[int] = set()  # steps (by start // step) that have their bars
    for iv in dict.fromkeys([step, MINUTE_MS, *_other_intervals(con, exchange, symbol, lo, hi, step)]):
        if iv == MINUTE_MS:
            iv_rows = _minute_bars(con, exchange, symbol, lo, hi)
        else:
            iv_rows = con.execute("""SELECT open_time, open, high, low, close, quote_volume, taker_buy_quote_volume
                                     FROM klines WHERE exchange = ? AND symbol = ? AND close_time + 1 - open_time = ?
                                       AND open_time >= ? AND open_time < ? AND open_time % ? = 0 ORDER BY open_time""",
                                  [exchange, symbol, iv, lo, hi, iv]).fetchnumpy()
        rows = _not_covered(iv_rows, iv, step, covered)
        if len(rows["open_time"]):
            out.append(_klines(iv, rows))
    return out


def _minute_bars(con: duckdb.DuckDBPyConnection, exchange: str, symbol: str, lo: int, hi: int) -> dict:
    """1-minute bars opening in ``[lo, hi)``: the venue's 1-minute klines, else the bars built from its trades."""
    return con.execute(f"""
        WITH k AS (SELECT open_time, open, high, low, close, quote_volume, taker_buy_quote_volume FROM klines
                   WHERE exchange = $1 AND symbol = $2 AND close_time + 1 - open_time = {MINUTE_MS}
                     AND open_time >= $3 AND open_time < $4),
             b AS (SELECT open_time, open, high, low, close, buy_usd + sell_usd AS quote_volume,
                          buy_usd AS taker_buy_quote_volume FROM trade_bars_1m
                   WHERE exchange = $1 AND symbol = $2 AND open_time >= $3 AND open_time < $4)
        SELECT * FROM (SELECT * FROM k UNION ALL SELECT * FROM b WHERE open_time NOT IN (SELECT open_time FROM k))
        ORDER BY open_time""", [exchange, symbol, lo, hi]).fetchnumpy()


def _other_intervals(con: duckdb.DuckDBPyConnection, exchange: str, symbol: str, lo: int, hi: int,
                     step: int) -> list[int]:
    """Stored kline intervals (ms) of the instrument in ``[lo, hi)`` other than ``step`` and one
    minute that divide the step (coarsest first), then those spanning whole steps (finest first)."""
    ivs = [int(r[0]) for r in con.execute(
        """SELECT DISTINCT close_time + 1 - open_time FROM klines
           WHERE exchange = ? AND symbol = ? AND open_time >= ? AND open_time < ?""",
        [exchange, symbol, lo, hi]).fetchall()]
    ivs = [iv for iv in ivs if iv > 0 and iv not in (step, MINUTE_MS)]
    return (sorted((iv for iv in ivs if step % iv == 0), reverse=True)
            + sorted(iv for iv in ivs if iv % step == 0))


def _not_covered(rows: dict, iv: int, step: int, covered: set[int]) -> dict:
    """The bars of interval ``iv`` touching no step in ``covered`` (steps named start // step);
    adds the steps they touch to ``covered``."""
    t = np.asarray(rows["open_time"], dtype=np.int64)
    if not len(t):
        return rows
    n = max(iv // step, 1)  # steps a bar touches
    first = t // step
    keep = np.array([not any(k in covered for k in range(f, f + n)) for f in first.tolist()], dtype=bool)
    for f in first[keep].tolist():
        covered.update(range(f, f + n))
    return {c: np.asarray(v)[keep] for c, v in rows.items()}


def _klines(interval_ms: int, r: dict) -> Klines:
    f = [np.ma.asarray(r[c], dtype=float).filled(np.nan)
         for c in ("open", "high", "low", "close", "quote_volume", "taker_buy_quote_volume")]
    return Klines(interval_ms, np.asarray(r["open_time"], dtype=np.int64), *f)
