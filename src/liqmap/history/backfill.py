"""Venue REST backfill of recent open interest and klines, for a fresh ``serve`` and ``liqmap backfill``.

:func:`backfill` fetches one venue's public history for one instrument and stores it:

=========  ======================================  ==============================  =====================
venue      open interest                           klines                          how far back
=========  ======================================  ==============================  =====================
binance    ``/futures/data/openInterestHist``:     ``/fapi/v1/klines``             OI: 30 days;
           base units + USDT value                                                 klines: listing
bybit      ``/v5/market/open-interest``: one side   ``/v5/market/kline``            listing
           (``singleOpenInterest`` or half the
           both-sides ``openInterest``); USD =
           base × kline close
okx        ``/api/v5/rubik/stat/contracts/         ``/api/v5/market/               OI: latest 1,440
           open-interest-history``: ``oiCcy``      history-candles``               periods (5 d at 5m)
           base units, ``oiUsd`` USD
=========  ======================================  ==============================  =====================

Endpoint facts, limits and doc URLs: :mod:`liqmap.history.binance`, :mod:`~liqmap.history.bybit`,
:mod:`~liqmap.history.okx`. Requests go through :class:`~liqmap.history.rest.RestClient` (venue
budget, 429/418 ``Retry-After`` with a floor).

Storage (:mod:`liqmap.storage.market`): ``open_interest`` and ``klines`` keyed by
(exchange, symbol, time) -- a re-run replaces, never duplicates. Binance rows are also copied into
the archive-shaped tables the heatmap model reads today (``open_interest_history``,
``klines_<interval>_history``) where those have no row at that time, so a fresh ``serve`` can
draw a map from the backfill alone.

The user's symbol (``BTCUSDT``, ``BTC``, ``ETH-USDT``) is resolved to each venue's native
perpetual by :func:`liqmap.symbols.strict_symbols` (BTCUSDT on Binance and Bybit,
BTC-USDT-SWAP on OKX).
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import duckdb
import httpx

from liqmap.history import binance, bybit, okx
from liqmap.history.rest import RestClient, VenueError
from liqmap.models import Kline
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.storage.market import mirror_binance_to_heatmap_tables, store_klines, store_open_interest
from liqmap.symbols import QUOTE_FAMILY, parse_symbol, strict_symbols
from liqmap.units import INTERVAL_MS, now_ms as wall_ms

VENUES = {"binance": binance, "bybit": bybit, "okx": okx}


@dataclass
class BackfillResult:
    """What one :func:`backfill` stored: rows per series, the native symbol, notes (limits hit).

    ``error`` is set (and the counts cover what was stored before it) when :func:`backfill_many`
    caught a :class:`VenueError`.
    """

    venue: str
    symbol: str
    start_ms: int
    end_ms: int
    oi_rows: int = 0
    kline_rows: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def rows(self) -> int:
        """Open-interest rows + kline rows stored."""
        return self.oi_rows + self.kline_rows


def native_symbol(venue: str, symbol: str) -> tuple[str, str, str]:
    """``(native symbol, base, quote)`` of the venue's perpetual for a user symbol.

    Raises ValueError for an unknown venue or a symbol the venue has no perpetual name for.
    """
    if venue not in VENUES:
        raise ValueError(f"backfill supports {', '.join(VENUES)}, not {venue!r}")
    q = parse_symbol(symbol)
    names = sorted(s for _, s in strict_symbols(q, [venue]))
    if not names:
        raise ValueError(f"{venue} has no perpetual for {symbol!r}")
    quote = q.quote or "USDT"
    return names[0], q.base, QUOTE_FAMILY.get(quote, quote)


def price_lookup(klines: list[Kline]) -> Callable[[int], float | None]:
    """``price_at(ts)``: close of the last candle that closed before ``ts`` (at most 2 candles old)."""
    ks = sorted(klines, key=lambda k: k.close_time)
    closes = [k.close_time for k in ks]

    def price_at(ts: int) -> float | None:
        i = bisect.bisect_left(closes, ts) - 1
        if i < 0:
            return None
        k = ks[i]
        span = k.close_time + 1 - k.open_time
        return k.close if ts - k.close_time <= 2 * span else None
    return price_at


def _client(venue: str, base_url: str | None, client: httpx.AsyncClient | None, **kw) -> RestClient:
    mod = VENUES[venue]
    http = client or httpx.AsyncClient(base_url=(base_url or mod.BASE_URL).rstrip("/"),
                                       timeout=httpx.Timeout(15.0, connect=10.0))
    return RestClient(venue, http, mod.budgets(), body_check=mod.body_check, **kw)


async def _fetch(venue: str, rc: RestClient, native: str, base: str, quote: str, start_ms: int, end_ms: int,
                 interval: str, now_ms: int):
    if venue == "binance":
        kl = await binance.fetch_klines(rc, native, start_ms, end_ms, interval, now_ms)
        oi, notes = await binance.fetch_open_interest(rc, native, base, quote, start_ms, end_ms, interval, now_ms)
    elif venue == "bybit":  # one candle more: the close before the first snapshot values it in USD
        kl = await bybit.fetch_klines(rc, native, quote, start_ms - INTERVAL_MS[interval], end_ms, interval, now_ms)
        oi, notes = await bybit.fetch_open_interest(rc, native, base, quote, start_ms, end_ms, interval, now_ms,
                                                    price_lookup(kl))
        kl = [k for k in kl if k.open_time >= start_ms]
    else:
        kl = await okx.fetch_klines(rc, native, start_ms, end_ms, interval, now_ms)
        oi, notes = await okx.fetch_open_interest(rc, native, base, quote, start_ms, end_ms, interval, now_ms)
    return kl, oi, notes


async def backfill(venue: str, symbol: str, start_ms: int, end_ms: int, con: duckdb.DuckDBPyConnection, *,
                   interval: str = "5m", base_url: str | None = None, client: httpx.AsyncClient | None = None,
                   now_ms: int | None = None, min_retry_s: float = 1.0, max_wait_s: float = 120.0, retries: int = 5,
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> BackfillResult:
    """Fetch and store ``venue``'s open interest and klines of ``symbol`` for ``[start_ms, end_ms)``.

    Args:
        venue: ``binance`` | ``bybit`` | ``okx``.
        symbol: user symbol (``BTCUSDT``), resolved per venue (module docstring).
        start_ms, end_ms: UTC ms; ``end_ms`` is clamped to ``now_ms``.
        con: DuckDB connection; pending storage migrations are applied first.
        interval: OI period and kline interval (``5m`` default; Binance vocabulary).
        base_url: venue REST root (default the venue's public host); ``client`` overrides both.
        now_ms: current time (default wall clock): open candles and venue windows are relative to it.
        min_retry_s / max_wait_s / retries / sleep: :class:`~liqmap.history.rest.RestClient` retry policy.

    Returns:
        BackfillResult with the rows stored (``.rows``) and notes about venue limits.

    Raises:
        ValueError: unknown venue, symbol or interval; ``start_ms >= end_ms``.
        VenueError: the venue failed for good (unreachable, error body, rate-limit ban, a
            response that does not have the documented shape).
    """
    native, base, quote = native_symbol(venue, symbol)
    if interval not in VENUES[venue].INTERVALS:
        raise ValueError(f"{venue} backfill interval must be one of {', '.join(VENUES[venue].INTERVALS)}, got {interval!r}")
    now_ms = wall_ms() if now_ms is None else now_ms
    end_ms = min(end_ms, now_ms)
    if start_ms >= end_ms:
        raise ValueError(f"backfill window is empty: start {start_ms} >= end {end_ms} (ms)")
    apply_migrations(con)
    own = client is None
    rc = _client(venue, base_url, client, min_retry_s=min_retry_s, max_wait_s=max_wait_s, retries=retries, sleep=sleep)
    try:
        kl, oi, notes = await _fetch(venue, rc, native, base, quote, start_ms, end_ms, interval, now_ms)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # arguments were checked above: the body is off
        raise VenueError(f"{venue}: unexpected response shape ({type(exc).__name__}: {exc})") from None
    finally:
        if own:
            await rc.client.aclose()
    res = BackfillResult(venue, native, start_ms, end_ms, notes=notes)
    res.kline_rows = store_klines(con, kl, f"rest:{venue}")
    res.oi_rows = store_open_interest(con, oi, f"rest:{venue}")
    if venue == "binance":
        mirror_binance_to_heatmap_tables(con, native, interval, start_ms, end_ms)
    return res


async def backfill_many(venues: list[str], symbols: list[str], start_ms: int, end_ms: int,
                        con: duckdb.DuckDBPyConnection, *, base_urls: dict[str, str] | None = None,
                        **kw) -> list[BackfillResult]:
    """:func:`backfill` for every venue × symbol, venues concurrently; a failing venue
    (or a symbol it does not list) is reported in its result's ``error`` and never stops the
    others. Raises ValueError for an unknown venue."""
    for v in venues:
        if v not in VENUES:
            raise ValueError(f"backfill supports {', '.join(VENUES)}, not {v!r}")

    async def one(v: str, s: str) -> BackfillResult:
        try:
            return await backfill(v, s, start_ms, end_ms, con, base_url=(base_urls or {}).get(v), **kw)
        except (VenueError, ValueError) as exc:
            return BackfillResult(v, s, start_ms, end_ms, error=str(exc))

    async def venue_run(v: str) -> list[BackfillResult]:
        return [await one(v, s) for s in symbols]

    groups = await asyncio.gather(*(venue_run(v) for v in venues))
    return [r for g in groups for r in g]
