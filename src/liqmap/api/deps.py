"""Request helpers: state lookup and validation of common query parameters.

Invalid parameters raise ``HTTPException(422)`` with a one-line reason; an unknown
symbol raises 404 listing the known symbols.

**One parameter vocabulary** (every endpoint; README "API parameters"):

* ``symbol``, ``exchanges`` (comma list, case-insensitive), ``interval`` (candle/column width);
* ``time_window``: a window ending at ``end_time`` (default: the app's "now"), ``30m`` ... ``52w``
  or ``all``; alias ``timeframe`` (the realized-liquidation endpoints' earlier name);
* ``start_time`` / ``end_time``: ms since the epoch (UTC) or ISO-8601 (``2025-12-27``,
  ``2025-12-27T14:30:00Z``; no zone = UTC); aliases ``start_ms`` / ``end_ms`` and ``start`` / ``end``;
* ``min_value_usd`` (per event), ``limit``.

Giving a name and its alias with different values is a 422. Responses name times ``*_ms``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Iterator

import duckdb
from fastapi import Depends, HTTPException, Query, Request

from liqmap.api.errors import echo
from liqmap.api.state import AppState
from liqmap.exchanges.registry import VENUE_NAMES
from liqmap.storage import duckdb_reads
from liqmap.units import DAY_MS, MINUTE_MS, UNIT_MS

TIMEFRAMES = tuple(duckdb_reads.TIMEFRAMES_MS) + ("all",)
_WINDOW_RE = re.compile(r"^(\d{1,4})([mhdw])$")
MAX_WINDOW_MS = 400 * DAY_MS


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


def parse_window(text: str) -> int:
    """``"7d"`` → ms. Units m, h, d, w (at most 400 days). Raises ValueError with a reason."""
    m = _WINDOW_RE.match(text.strip().lower())
    if not m or int(m[1]) == 0 or int(m[1]) * UNIT_MS[m[2]] > MAX_WINDOW_MS:
        raise ValueError(f"time_window must look like 30m, 12h, 7d or 2w (at most 400d) or be 'all', got {echo(text)}")
    return int(m[1]) * UNIT_MS[m[2]]


def parse_timeframe(timeframe: str) -> str:
    """Validate a window name: ``all`` or ``N`` + m/h/d/w (``1h``, ``24h``, ``7d``, ``90m``); lower-cased."""
    tf = timeframe.strip().lower()
    if tf != "all":
        try:
            parse_window(tf)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    return tf


def parse_time(value: str | int | None, name: str = "start_time") -> int | None:
    """A time parameter: ms since the epoch (digits) or ISO-8601 (date, or date and time with ``Z``,
    an offset or no zone = UTC) → ms UTC; None stays None. Raises HTTPException(422) naming ``name``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d{1,16}", text):
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"{name} must be ms since the epoch or ISO-8601 "
                                 f"(e.g. 2025-12-27T14:30:00Z), got {echo(text)}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    ms = int(t.timestamp() * 1000)
    if ms < 0:
        raise HTTPException(422, f"{name} must not be before 1970, got {echo(text)}")
    return ms


def one_of(name: str, value, alias: str, alias_value):
    """The value of a parameter given under its name or its documented alias (422 when both differ)."""
    if value is not None and alias_value is not None and str(value).strip() != str(alias_value).strip():
        raise HTTPException(422, f"{alias} is an alias of {name}: give one of them")
    return value if value is not None else alias_value


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
    return now - parse_window(timeframe), end


def resolve_window(state: AppState, time_window: str | None, start_time: int | None, end_time: int | None,
                   default: str = "24h") -> tuple[int | None, int, str]:
    """``(start_ms, end_ms, label)`` from the vocabulary's window parameters (module docstring):
    ``start_time``..``end_time`` when a start is given, else ``time_window`` (default ``default``)
    ending at ``end_time`` or at the app's "now". ``label`` names the window (``24h``, ``custom``).
    Raises HTTPException(422) on a contradiction or an empty window."""
    if start_time is not None and time_window is not None:
        raise HTTPException(422, "give either time_window or start_time, not both")
    if start_time is None:
        tf = parse_timeframe(time_window or default)
        if end_time is None:
            start, end = window(state, tf)
            return start, end, tf
        return (None if tf == "all" else end_time - parse_window(tf)), end_time, tf
    end = end_time if end_time is not None else window(state, "all")[1]
    if end <= start_time:
        raise HTTPException(422, f"end_time ({end}) must be after start_time ({start_time})")
    return start_time, end, "custom"


def bucket_ms_for(label: str, start: int | None, end: int) -> int:
    """Time bucket of the realized heatmap: the fixed one of a standard window (about 48-96
    columns), else a round size giving about 60 columns (0 = chosen from the data for ``all``)."""
    if label in duckdb_reads.BUCKET_MS:
        return duckdb_reads.BUCKET_MS[label]
    if start is None:
        return 0
    return int(max(MINUTE_MS, duckdb_reads.nice_step((end - start) / 60 / MINUTE_MS) * MINUTE_MS))


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
            {"reason": f"unknown symbol {echo(symbol)}: no liquidations stored for its underlying",
             "known_symbols": sorted(known)},
        )
    return base


class TimeRange:
    """``start_time`` / ``end_time`` (aliases ``start_ms`` / ``end_ms``) as one dependency.

    ``start`` / ``end``: ms UTC or None when not given. Raises HTTPException(422) for a value
    that is neither ms nor ISO-8601, or a name and its alias with different values.
    """

    def __init__(
        self,
        start_time: str | None = Query(None, description="ms UTC or ISO-8601 (2025-12-27T00:00:00Z)"),
        end_time: str | None = Query(None, description="ms UTC or ISO-8601; default: the endpoint's latest"),
        start_ms: str | None = Query(None, description="alias of start_time"),
        end_ms: str | None = Query(None, description="alias of end_time"),
    ):
        self.start = parse_time(one_of("start_time", start_time, "start_ms", start_ms), "start_time")
        self.end = parse_time(one_of("end_time", end_time, "end_ms", end_ms), "end_time")


class Window:
    """The vocabulary's window: ``time_window`` (alias ``timeframe``) ending at ``end_time``, or
    ``start_time``..``end_time`` (:class:`TimeRange`), as one dependency."""

    def __init__(
        self,
        rng: Annotated[TimeRange, Depends()],
        time_window: str | None = Query(None, description="30m..52w (or all where the endpoint allows it), "
                                                          "ending at end_time; default 24h (heatmap-timeseries: 7d)"),
        timeframe: str | None = Query(None, description="alias of time_window"),
    ):
        self.time_window = one_of("time_window", time_window, "timeframe", timeframe)
        self.start, self.end = rng.start, rng.end

    def resolve(self, state: AppState) -> tuple[int | None, int, str]:
        """``(start_ms | None, end_ms, label)`` (:func:`resolve_window`)."""
        return resolve_window(state, self.time_window, self.start, self.end)

    def key(self) -> tuple:
        """What the parameters resolve to, for cache keys."""
        return (self.time_window, self.start, self.end)


class Scope:
    """``symbol`` (symbol or underlying, optional) and ``exchanges`` (comma list) as one dependency."""

    def __init__(
        self,
        symbol: str | None = Query(None, description="Symbol or underlying; default all"),
        exchanges: str | None = Query(None, description="Comma list of venue ids; default all"),
    ):
        self.symbol, self.exchanges = symbol, exchanges

    def resolve(self, state: AppState) -> tuple[str | None, list[str] | None]:
        """``(underlying | None, venue ids | None)``: 404 for an unknown symbol, 422 for an unknown venue."""
        ex = parse_exchanges(state, self.exchanges)
        return resolve_symbol(state, self.symbol, required=False), ex


RangeQ = Annotated[TimeRange, Depends()]
WindowQ = Annotated[Window, Depends()]
ScopeQ = Annotated[Scope, Depends()]
