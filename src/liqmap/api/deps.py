"""Request helpers: state lookup and validation of common query parameters.

Invalid parameters raise ``HTTPException(422)`` with a one-line reason; an unknown
symbol raises 404 listing the known symbols.
"""

from __future__ import annotations

from typing import Annotated, Iterator

import duckdb
from fastapi import Depends, HTTPException, Request

from liqmap.api.state import AppState
from liqmap.exchanges.registry import VENUE_NAMES
from liqmap.storage import duckdb_reads
from liqmap.units import MINUTE_MS

TIMEFRAMES = tuple(duckdb_reads.TIMEFRAMES_MS) + ("all",)


def get_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    return request.app.state.liqmap


def db_cursor(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the app's database for one request (closed after the response)."""
    cur = get_state(request).cursor()
    try:
        yield cur
    finally:
        cur.close()


#: endpoint parameter type: ``cur: Cursor`` gets :func:`db_cursor`.
Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(db_cursor)]


def parse_timeframe(timeframe: str) -> str:
    """Validate a timeframe: one of 1h, 4h, 12h, 24h, 7d, 30d, all."""
    tf = timeframe.strip().lower()
    if tf not in TIMEFRAMES:
        raise HTTPException(422, f"timeframe must be one of {', '.join(TIMEFRAMES)}; got {timeframe!r}")
    return tf


LIVE_SKEW_MS = MINUTE_MS


def window(state: AppState, timeframe: str) -> tuple[int | None, int]:
    """``(start_ms, end_ms)`` of a timeframe ending at the state's clock (start None for ``all``).

    Live mode keeps events up to 60 s ahead of the local clock (venue clocks run ahead
    of ours by up to seconds; an event must not vanish until our clock catches up).
    """
    now = state.now_ms()
    end = now + (LIVE_SKEW_MS if state.mode == "live" else 0)
    if timeframe == "all":
        return None, end
    return now - duckdb_reads.TIMEFRAMES_MS[timeframe], end


def parse_exchanges(state: AppState, exchanges: str | None) -> list[str] | None:
    """Comma list of venue ids -> list (None = all). Unknown ids -> 422."""
    if exchanges is None or not exchanges.strip():
        return None
    names = [x.strip().lower() for x in exchanges.split(",") if x.strip()]
    known = set(VENUE_NAMES)

    def stored():
        with state.cursor() as cur:
            return duckdb_reads.stored_exchanges(cur)

    if any(n not in known for n in names):
        known |= state.cached(("exchanges",), stored)
    bad = [n for n in names if n not in known]
    if bad:
        raise HTTPException(422, f"unknown exchange(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    return names


def resolve_symbol(state: AppState, symbol: str | None, required: bool = True) -> str | None:
    """Map a user symbol to its underlying base asset (``BTCUSDT`` -> ``BTC``).

    Unknown symbol -> 404 with ``known_symbols``; empty and ``required`` -> 422.
    """
    if symbol is None or not symbol.strip():
        if required:
            raise HTTPException(422, "symbol is required, e.g. symbol=BTCUSDT")
        return None
    def load():
        with state.cursor() as cur:
            return duckdb_reads.known_underlyings(cur)

    known = state.cached(("underlyings",), load)
    base = duckdb_reads.resolve_underlying(symbol, known)
    if base is None:  # maybe new since the cached list
        known = load()
        base = duckdb_reads.resolve_underlying(symbol, known)
    if base is None:
        raise HTTPException(
            404,
            {"reason": f"unknown symbol {symbol!r}: no liquidations stored for its underlying",
             "known_symbols": sorted(known)},
        )
    return base
