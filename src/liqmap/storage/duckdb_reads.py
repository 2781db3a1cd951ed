"""Read queries over the DuckDB tier's ``liquidations`` / ``gaps`` / ``cascades`` tables (the API reads through these).

Pure functions of a DuckDB cursor plus plain arguments, returning JSON-ready
builtins. Every value filter is a bound parameter (no string-built SQL values);
only the ``IN (?, ?, ...)`` placeholder count is generated.

Units: prices in quote units, ``value_usd`` in USD (stablecoins at par), times in
ms since the Unix epoch UTC. Table schema: ``migrations/duckdb/`` (applied by
:func:`liqmap.storage.duckdb_store.apply_migrations`).
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import duckdb

from liqmap.analytics.stats import TOP_BASES, ExchangeStats, Stats, TimelineBucket, Totals, stats_body
from liqmap.models import Liquidation
from liqmap.symbols import USD_QUOTES
from liqmap.storage.duckdb_store import CASCADE_COLUMNS
from liqmap.symbols import base_of
from liqmap.units import CASCADE_MIN_USD, DAY_MS, HOUR_MS, MINUTE_MS

# Time bucket per timeframe for the heatmap's time axis (about 48-96 columns).
TIMEFRAMES_MS: dict[str, int] = {
    "1h": HOUR_MS, "4h": 4 * HOUR_MS, "12h": 12 * HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS,
}
BUCKET_MS: dict[str, int] = {
    "1h": MINUTE_MS, "4h": 5 * MINUTE_MS, "12h": 15 * MINUTE_MS, "24h": 30 * MINUTE_MS, "7d": 4 * HOUR_MS,
    "30d": 12 * HOUR_MS,
    "all": 0,  # chosen from the data span
}

_COLS = (
    "exchange, symbol, base, quote, side, price, quantity, value_usd, "
    '"timestamp", received_at, id, order_side, status, receipt_time'
)
_COL_NAMES = [c.strip().strip('"') for c in _COLS.split(",")]


def table_exists(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when table ``name`` exists in the main schema."""
    row = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def _in(column: str, values: Sequence[str] | None) -> tuple[str, list]:
    if not values:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in values)})", list(values)


#: Rows the reads use: the plausibility gate's bounds (:mod:`liqmap.exchanges.plausibility`),
#: re-stated in SQL so rows stored before the gate (or by an older version) -- NaN, infinite,
#: 1e308 prices, 1 MB symbols -- can never break a sum, a JSON answer or a symbol list.
PLAUSIBLE = ("isfinite(price) AND isfinite(quantity) AND isfinite(value_usd) AND price > 0 AND quantity > 0 "
             "AND value_usd > 0 AND price <= 1e9 AND value_usd <= 1e10 AND length(symbol) <= 64")


def _where(
    base: str | None,
    start_ms: int | None,
    end_ms: int | None,
    exchanges: Sequence[str] | None,
    min_value_usd: float | None = None,
) -> tuple[str, list]:
    sql, params = f"WHERE {PLAUSIBLE}", []
    if base:
        sql += " AND base = ?"
        params.append(base)
    if start_ms is not None:
        sql += ' AND "timestamp" > ?'
        params.append(int(start_ms))
    if end_ms is not None:
        sql += ' AND "timestamp" <= ?'
        params.append(int(end_ms))
    if min_value_usd:
        sql += " AND value_usd >= ?"
        params.append(float(min_value_usd))
    s, p = _in("exchange", exchanges)
    return sql + s, params + p


def latest_timestamp(cur: duckdb.DuckDBPyConnection) -> int | None:
    """Largest event ``timestamp`` (ms UTC) stored, or None when empty."""
    row = cur.execute(f'SELECT max("timestamp") FROM liquidations WHERE {PLAUSIBLE}').fetchone()
    return int(row[0]) if row and row[0] is not None else None


def stored_exchanges(cur: duckdb.DuckDBPyConnection) -> set[str]:
    """Venue ids with stored liquidations."""
    return {r[0] for r in cur.execute(f"SELECT DISTINCT exchange FROM liquidations WHERE {PLAUSIBLE}").fetchall()}


def known_underlyings(cur: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Map base asset -> sorted venue symbols seen for it, e.g. ``{"BTC": ["BTC-PERPETUAL", "BTCUSDT"]}``."""
    rows = cur.execute(
        f"SELECT base, symbol FROM liquidations WHERE {PLAUSIBLE} GROUP BY base, symbol ORDER BY base, symbol"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for base, symbol in rows:
        out.setdefault(base, []).append(symbol)
    return out


def resolve_underlying(symbol: str, known: dict[str, list[str]]) -> str | None:
    """Base asset a user symbol refers to, matched by underlying, or None.

    ``BTCUSDT``, ``BTC``, ``XBTUSD``, ``BTC-PERPETUAL``, ``BTC-USDT-SWAP`` all map to
    ``BTC`` when BTC liquidations are stored. Exact venue symbols win; then the
    underlying as :func:`liqmap.symbols.base_of` reads it.
    """
    s = symbol.strip().upper()
    if not s:
        return None
    for base, symbols in known.items():
        if s == base.upper() or s in (x.upper() for x in symbols):
            return base
    upper = {b.upper(): b for b in known}
    return upper.get(base_of(s))


def nice_step(raw: float) -> float:
    """Round a positive step up to 1, 2, 2.5 or 5 times a power of ten."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * base * (1 + 1e-9):
            return m * base
    return 10.0 * base


def level_size_for(prices_lo: float, prices_hi: float, target_levels: int = 50) -> float:
    """Price-level size (quote units) giving about ``target_levels`` rows over the range.

    Never finer than 0.05 % of the mid price, so a single print does not produce a
    degenerate grid.
    """
    mid = (prices_lo + prices_hi) / 2 or 1.0
    span = max(prices_hi - prices_lo, mid * 0.0005 * target_levels)
    return nice_step(span / target_levels)


def heatmap(
    cur: duckdb.DuckDBPyConnection,
    base: str,
    start_ms: int | None,
    end_ms: int,
    exchanges: Sequence[str] | None,
    bucket_ms: int,
    level_size: float | None = None,
) -> dict[str, Any]:
    """Realized liquidations aggregated by price level x side, and by time bucket.

    Returns ``{"level_size", "bucket_ms", "levels": [{price, long_usd, short_usd,
    long_count, short_count}], "cells": [{t, price, long_usd, short_usd, count}],
    "price": [{t, vwap, low, high}], "by_exchange": [{exchange, long_usd, short_usd, count}]}``.
    ``price`` is the value-weighted mean liquidation price per time bucket (the
    only price series stored); ``price`` of a level is its lower edge.

    Prices are on ONE axis in USD: only markets quoted in USD, USDT or USDC
    (:data:`liqmap.symbols.USD_QUOTES`) are aggregated; ``other_quotes`` counts the events
    left out per quote (e.g. ``{"BTC": 7}`` for BitMEX's XBT-quoted ADA futures, priced ~5e-06).
    """
    where, params = _where(base, start_ms, end_ms, exchanges)
    other = dict(cur.execute(f"SELECT upper(quote), count(*) FROM liquidations {where} "
                             f"AND upper(quote) NOT IN ({', '.join('?' for _ in USD_QUOTES)}) GROUP BY 1",
                             [*params, *sorted(USD_QUOTES)]).fetchall())
    where += f" AND upper(quote) IN ({', '.join('?' for _ in USD_QUOTES)})"
    params = [*params, *sorted(USD_QUOTES)]
    _lo, _hi, t0, t1, n = cur.execute(
        f"SELECT min(price), max(price), min(\"timestamp\"), max(\"timestamp\"), count(*) "
        f"FROM liquidations {where}",
        params,
    ).fetchone()
    if not n:
        return {"level_size": level_size, "bucket_ms": bucket_ms, "levels": [], "cells": [],
                "price": [], "by_exchange": [], "other_quotes": other}
    if not level_size:
        # robust range: 2nd..98th percentile so one outlier print does not flatten the grid
        q = cur.execute(
            f"SELECT quantile_cont(price, 0.02), quantile_cont(price, 0.98) FROM liquidations {where}",
            params,
        ).fetchone()
        level_size = level_size_for(float(q[0]), float(q[1]))
    if not bucket_ms:
        bucket_ms = max(MINUTE_MS, nice_step(max(t1 - t0, 1) / 60 / MINUTE_MS) * MINUTE_MS)
    return {"level_size": level_size, "bucket_ms": int(bucket_ms), "other_quotes": other,
            **_heatmap_rows(cur, where, params, level_size, int(bucket_ms))}


def _heatmap_rows(cur: duckdb.DuckDBPyConnection, where: str, params: list, level_size: float,
                  bucket_ms: int) -> dict[str, list[dict[str, Any]]]:
    """The ``levels``, ``cells``, ``price`` and ``by_exchange`` lists of :func:`heatmap`."""
    levels = cur.execute(
        f"""SELECT floor(price / ?) * ? AS lvl,
                   sum(value_usd) FILTER (WHERE side = 'long'),
                   sum(value_usd) FILTER (WHERE side = 'short'),
                   count(*) FILTER (WHERE side = 'long'),
                   count(*) FILTER (WHERE side = 'short')
            FROM liquidations {where} GROUP BY lvl ORDER BY lvl""",
        [level_size, level_size, *params],
    ).fetchall()
    cells = cur.execute(
        f"""SELECT ("timestamp" // ?) * ? AS t, floor(price / ?) * ? AS lvl,
                   sum(value_usd) FILTER (WHERE side = 'long'),
                   sum(value_usd) FILTER (WHERE side = 'short'), count(*)
            FROM liquidations {where} GROUP BY t, lvl ORDER BY t, lvl""",
        [bucket_ms, bucket_ms, level_size, level_size, *params],
    ).fetchall()
    price = cur.execute(
        f"""SELECT ("timestamp" // ?) * ? AS t, sum(price * value_usd) / nullif(sum(value_usd), 0),
                   min(price), max(price)
            FROM liquidations {where} GROUP BY t ORDER BY t""",
        [bucket_ms, bucket_ms, *params],
    ).fetchall()
    by_ex = cur.execute(
        f"""SELECT exchange, coalesce(sum(value_usd) FILTER (WHERE side = 'long'), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'short'), 0), count(*)
            FROM liquidations {where} GROUP BY exchange ORDER BY exchange""",
        params,
    ).fetchall()
    return {
        "levels": [
            {"price": round(p, 10), "long_usd": lu or 0.0, "short_usd": su or 0.0,
             "long_count": lc, "short_count": sc}
            for p, lu, su, lc, sc in levels
        ],
        "cells": [
            {"t": int(t), "price": round(p, 10), "long_usd": lu or 0.0, "short_usd": su or 0.0, "count": c}
            for t, p, lu, su, c in cells
        ],
        "price": [{"t": int(t), "vwap": v, "low": a, "high": b} for t, v, a, b in price],
        "by_exchange": [
            {"exchange": e, "long_usd": lu, "short_usd": su, "count": c} for e, lu, su, c in by_ex
        ],
    }


def recent(
    cur: duckdb.DuckDBPyConnection,
    base: str | None,
    exchanges: Sequence[str] | None,
    min_value_usd: float | None,
    limit: int,
    end_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Latest liquidations, newest first (each a dict with the Liquidation fields)."""
    where, params = _where(base, None, end_ms, exchanges, min_value_usd)
    rows = cur.execute(
        f'SELECT {_COLS} FROM liquidations {where} ORDER BY "timestamp" DESC, id DESC LIMIT ?',
        [*params, int(limit)],
    ).fetchall()
    return [dict(zip(_COL_NAMES, r)) for r in rows]


def stats(
    cur: duckdb.DuckDBPyConnection,
    base: str | None,
    start_ms: int | None,
    end_ms: int,
    exchanges: Sequence[str] | None,
    large_usd: float,
    institutional_usd: float,
    bucket_ms: int = 10 * MINUTE_MS,
) -> dict[str, Any]:
    """Totals over a window: long/short USD and counts, per exchange, per size tier,
    largest event, top 20 underlyings by USD, and a timeline of ``bucket_ms`` buckets
    (default 10 minutes); the body shape is :func:`liqmap.analytics.stats.stats_body`.

    Size tiers (:func:`liqmap.analytics.sizing.size_tier`): ``retail`` < ``large_usd`` <=
    ``large`` < ``institutional_usd`` <= ``institutional``. Ties: ``largest`` is the earliest
    (then smallest id) of equal values; equal sums order by name.
    """
    where, params = _where(base, start_ms, end_ms, exchanges)
    tot = cur.execute(
        f"""SELECT count(*), coalesce(sum(value_usd), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'long'), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'short'), 0),
                   count(*) FILTER (WHERE side = 'long'), count(*) FILTER (WHERE side = 'short'),
                   min("timestamp"), max("timestamp")
            FROM liquidations {where}""",
        params,
    ).fetchone()
    out = Stats(count=tot[0], value_usd=float(tot[1]), long_usd=float(tot[2]), short_usd=float(tot[3]),
                long_count=tot[4], short_count=tot[5], first_ts=tot[6], last_ts=tot[7])
    for e, c, v, lu, su, last in cur.execute(
        f"""SELECT exchange, count(*), sum(value_usd),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'long'), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'short'), 0), max("timestamp")
            FROM liquidations {where} GROUP BY exchange""",
        params,
    ).fetchall():
        out.by_exchange[e] = ExchangeStats(count=c, value_usd=v, long_usd=lu, short_usd=su, last_ts=last)
    for t, c, v in cur.execute(
        f"""SELECT CASE WHEN value_usd >= ? THEN 'institutional'
                        WHEN value_usd >= ? THEN 'large' ELSE 'retail' END AS tier,
                   count(*), sum(value_usd)
            FROM liquidations {where} GROUP BY tier""",
        [institutional_usd, large_usd, *params],
    ).fetchall():
        out.tiers[t] = Totals(c, v)
    largest = cur.execute(
        f'SELECT {_COLS} FROM liquidations {where} ORDER BY value_usd DESC, "timestamp", id LIMIT 1', params
    ).fetchone()
    out.largest = [Liquidation(**dict(zip(_COL_NAMES, largest)))] if largest else []
    for b, c, v in cur.execute(
        f"""SELECT base, count(*), sum(value_usd) FROM liquidations {where}
            GROUP BY base ORDER BY sum(value_usd) DESC, base LIMIT {TOP_BASES}""",
        params,
    ).fetchall():
        out.by_base[b] = Totals(c, v)
    out.timeline = [TimelineBucket(int(t), lu, su, c) for t, lu, su, c in cur.execute(
        f"""SELECT ("timestamp" // ?) * ? AS t,
                   coalesce(sum(value_usd) FILTER (WHERE side = 'long'), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'short'), 0), count(*)
            FROM liquidations {where} GROUP BY t ORDER BY t""",
        [bucket_ms, bucket_ms, *params],
    ).fetchall()]
    return stats_body(out, bucket_ms)


def cascades(
    cur: duckdb.DuckDBPyConnection,
    base: str | None,
    start_ms: int | None,
    end_ms: int,
    exchanges: Sequence[str] | None,
    window_ms: int = MINUTE_MS,
    min_usd: float = CASCADE_MIN_USD,
    min_count: int = 5,
) -> list[dict[str, Any]]:
    """Liquidation cascades: bursts where liquidations of one underlying within
    ``window_ms`` sum to at least ``min_usd`` USD over at least ``min_count`` events.

    Consecutive qualifying windows are merged into one cascade. Returns newest
    first: ``{base, start_ms, end_ms, count, value_usd, long_usd, short_usd,
    dominant_side, exchanges: [..], low, high}``.
    """
    where, params = _where(base, start_ms, end_ms, exchanges)
    rows = cur.execute(
        f"""SELECT base, ("timestamp" // ?) AS w, count(*), sum(value_usd),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'long'), 0),
                   coalesce(sum(value_usd) FILTER (WHERE side = 'short'), 0),
                   min("timestamp"), max("timestamp"), list(DISTINCT exchange), min(price), max(price)
            FROM liquidations {where} GROUP BY base, w HAVING sum(value_usd) >= ? AND count(*) >= ?
            ORDER BY base, w""",
        [window_ms, *params, min_usd, min_count],
    ).fetchall()
    out: list[dict[str, Any]] = []
    for b, w, c, v, lu, su, t0, t1, exs, lo, hi in rows:
        prev = out[-1] if out else None
        if prev and prev["base"] == b and prev["_w"] == w - 1:
            prev.update(_w=w, end_ms=t1, count=prev["count"] + c, value_usd=prev["value_usd"] + v,
                        long_usd=prev["long_usd"] + lu, short_usd=prev["short_usd"] + su,
                        low=min(prev["low"], lo), high=max(prev["high"], hi),
                        exchanges=sorted(set(prev["exchanges"]) | set(exs)))
        else:
            out.append({"base": b, "_w": w, "start_ms": t0, "end_ms": t1, "count": c, "value_usd": v,
                        "long_usd": lu, "short_usd": su, "exchanges": sorted(exs), "low": lo, "high": hi})
    for c in out:
        c.pop("_w")
        c["dominant_side"] = "long" if c["long_usd"] >= c["short_usd"] else "short"
    out.sort(key=lambda c: c["end_ms"], reverse=True)
    return out


def coverage(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per exchange and symbol: event count, USD total, first/last event time and
    last receipt time (ms UTC), largest first by count."""
    rows = cur.execute(
        f"""SELECT exchange, symbol, count(*), sum(value_usd), min("timestamp"), max("timestamp"),
                  max(received_at)
           FROM liquidations WHERE {PLAUSIBLE} GROUP BY exchange, symbol ORDER BY exchange, count(*) DESC"""
    ).fetchall()
    return [
        {"exchange": e, "symbol": s, "count": c, "value_usd": v, "first_ms": a, "last_ms": b,
         "last_received_ms": r}
        for e, s, c, v, a, b, r in rows
    ]


def gaps(cur: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict[str, Any]]:
    """Most recent coverage gaps ``{exchange, connection, start, end, reason, filled}``
    (ms UTC; ``filled``: backfilled from the venue's liquidation history)."""
    if not table_exists(cur, "gaps"):
        return []
    rows = cur.execute(
        'SELECT exchange, connection, start, "end", reason, filled FROM gaps ORDER BY start DESC LIMIT ?',
        [limit],
    ).fetchall()
    return [dict(zip(("exchange", "connection", "start", "end", "reason", "filled"), r)) for r in rows]


def stored_cascades(
    cur: duckdb.DuckDBPyConnection,
    base: str | None,
    start_ms: int | None,
    end_ms: int,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Cascades written by the storage tier's streaming detector (``cascades`` table:
    risk score, severity, status active/ended) overlapping ``(start_ms, end_ms]``, newest first.
    Empty when the table does not exist."""
    if not table_exists(cur, "cascades"):
        return []
    sql = ("SELECT id, symbol, start_ts, end_ts, n_events, value_usd, long_usd, short_usd, exchanges, "
           "risk_score, severity, cross_exchange, status FROM cascades WHERE start_ts <= ? "
           "AND isfinite(value_usd) AND isfinite(long_usd) AND isfinite(short_usd) AND value_usd <= 1e13 "
           "AND (risk_score IS NULL OR isfinite(risk_score))")
    params: list[Any] = [end_ms]
    if start_ms is not None:
        sql += " AND end_ts > ?"
        params.append(start_ms)
    if base:
        sql += " AND upper(symbol) = upper(?)"
        params.append(base)
    sql += " ORDER BY end_ts DESC, id LIMIT ?"
    params.append(limit)
    return [cascade_status(r) for r in cur.execute(sql, params).fetchall()]


_CASCADE_KEYS = ("id", "base", "start_ms", "end_ms", "count", "value_usd", "long_usd", "short_usd", "exchanges",
                 "risk_score", "severity", "cross_exchange", "status")


def cascade_status(row: Sequence[Any]) -> dict[str, Any]:
    """API dict of one detector cascade row (``cascades`` columns ``id`` .. ``status``, in table
    order): ``{id, base, start_ms, end_ms, count, value_usd, long_usd, short_usd, exchanges,
    risk_score, severity, cross_exchange, status, dominant_side}`` with the column types."""
    d = dict(zip(_CASCADE_KEYS, row))
    for k in ("value_usd", "long_usd", "short_usd"):
        d[k] = float(d[k])
    if d["risk_score"] is not None:
        d["risk_score"] = float(d["risk_score"])
    d["exchanges"] = list(d["exchanges"] or [])
    d["dominant_side"] = "long" if d["long_usd"] >= d["short_usd"] else "short"
    return d


def newest_rows(cur: duckdb.DuckDBPyConnection, after_ms: int | None, limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` liquidations with ``timestamp > after_ms`` (None: any), newest first
    (``timestamp``, ``id`` descending), as dicts of the Liquidation fields (L1 warm-up)."""
    where, params = _where(None, after_ms, None, None)
    rows = cur.execute(
        f'SELECT {_COLS} FROM liquidations {where} ORDER BY "timestamp" DESC, id DESC LIMIT ?',
        [*params, int(limit)],
    ).fetchall()
    return [dict(zip(_COL_NAMES, r)) for r in rows]


def cascade_rows_since(cur: duckdb.DuckDBPyConnection, after_ms: int | None) -> list[dict[str, Any]]:
    """Detector cascade rows (``CASCADE_COLUMNS`` keys) still active or ending after ``after_ms``
    (None: every row)."""
    rows = cur.execute(f"SELECT {', '.join(CASCADE_COLUMNS)} FROM cascades WHERE end_ts > ? OR status = 'active'",
                       [-(2**63) if after_ms is None else int(after_ms)]).fetchall()
    return [dict(zip(CASCADE_COLUMNS, r)) for r in rows]


def liquidations_received_since(
    cur: duckdb.DuckDBPyConnection, since_ms: int, min_value_usd: float = 0.0, chunk: int = 5_000
) -> Iterator[list[Liquidation]]:
    """Committed liquidations received at or after ``since_ms`` (ms UTC) with ``value_usd >=
    min_value_usd``, in receipt order, as lists of at most ``chunk`` events: what an optional
    tier that missed events is back-filled with (:mod:`liqmap.storage.mirror`)."""
    from liqmap.storage.duckdb_store import STORED_COLUMNS

    cols = ", ".join(f'"{c}"' for c in STORED_COLUMNS)
    res = cur.execute(f"SELECT {cols} FROM liquidations WHERE {PLAUSIBLE} AND received_at >= ? AND value_usd >= ? "
                      "ORDER BY received_at, id", [int(since_ms), float(min_value_usd)])
    while True:
        rows = res.fetchmany(chunk)
        if not rows:
            return
        yield [Liquidation(*r) for r in rows]
