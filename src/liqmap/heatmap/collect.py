"""Live REST collectors for the heatmap inputs (Binance USDⓈ-M public market data).

* ``fetch_open_interest``: ``GET /futures/data/openInterestHist?symbol=&period=&limit=`` (only the
  latest 30 days are served; ``sumOpenInterest`` base units, ``sumOpenInterestValue`` USDT,
  ``timestamp`` ms) -- https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics
  -- plus ``GET /fapi/v1/openInterest?symbol=`` (current; ``openInterest`` base units, ``time`` ms)
  -- https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest
  → ``open_interest_history`` (``source`` = ``rest_openInterestHist`` / ``rest_openInterest``).
* ``fetch_klines``: ``GET /fapi/v1/klines?symbol=&interval=&limit=`` (limit ≤ 1500; rows
  ``[openTime, o, h, l, c, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]``)
  -- https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
  → ``klines_<interval>_history``; the still-open last candle is dropped.

Rows already stored at the same timestamps are replaced (delete + insert in one transaction).
Rate limits: HTTP 429/418 → wait ``Retry-After`` seconds (capped) and retry up to 3 times; when
the ``X-MBX-USED-WEIGHT-1M`` header passes 80 % of 2400 the collector pauses to the next minute.
Base URL: argument, else ``LIQMAP_BINANCE_FAPI_URL``, else ``https://fapi.binance.com``.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import duckdb
import httpx

from liqmap.heatmap.ingest import ensure_klines_table, ensure_schema

DEFAULT_FAPI = "https://fapi.binance.com"
WEIGHT_LIMIT_1M = 2400
MAX_RETRY_WAIT_S = 60.0


class RestError(Exception):
    """A REST call failed (status, URL and body excerpt in the message)."""


def base_url_or_default(base_url: str | None) -> str:
    """Explicit URL > env LIQMAP_BINANCE_FAPI_URL > https://fapi.binance.com (no trailing slash)."""
    return (base_url or os.environ.get("LIQMAP_BINANCE_FAPI_URL") or DEFAULT_FAPI).rstrip("/")


def get_json(client: httpx.Client, path: str, params: dict, *, retries: int = 3,
             sleep: Callable[[float], None] = time.sleep):
    """GET JSON with 429/418 back-off and used-weight throttling. Raises RestError."""
    for attempt in range(retries + 1):
        try:
            r = client.get(path, params=params)
        except httpx.HTTPError as exc:
            if attempt == retries:
                raise RestError(f"GET {path} failed: {exc}") from None
            sleep(min(2.0 ** attempt, MAX_RETRY_WAIT_S))
            continue
        if r.status_code in (429, 418):
            if attempt == retries:
                raise RestError(f"GET {path}: HTTP {r.status_code} (rate limited) after {retries} retries")
            try:
                wait = float(r.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            sleep(min(max(wait, 0.0), MAX_RETRY_WAIT_S))
            continue
        if r.status_code != 200:
            raise RestError(f"GET {path}: HTTP {r.status_code}: {r.text[:200]}")
        used = r.headers.get("X-MBX-USED-WEIGHT-1M")
        if used and used.isdigit() and int(used) > 0.8 * WEIGHT_LIMIT_1M:
            sleep(60.0 - (time.time() % 60.0))
        try:
            return r.json()
        except ValueError:
            raise RestError(f"GET {path}: body is not JSON: {r.text[:200]}") from None
    raise RestError(f"GET {path}: gave up")  # pragma: no cover


def _replace(con: duckdb.DuckDBPyConnection, table: str, ts_col: str, symbol: str, rows: list[tuple]) -> int:
    if not rows:
        return 0
    con.execute("BEGIN TRANSACTION")
    try:
        ts = [r[1] for r in rows]
        con.execute(f"DELETE FROM {table} WHERE symbol = ? AND {ts_col} IN (SELECT unnest(?))", [symbol, ts])
        ph = ",".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO {table} VALUES ({ph})", rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def fetch_open_interest(con: duckdb.DuckDBPyConnection, symbol: str, *, period: str = "5m", limit: int = 500,
                        base_url: str | None = None, client: httpx.Client | None = None,
                        sleep: Callable[[float], None] = time.sleep) -> int:
    """Store openInterestHist (≤ ``limit`` rows, ≤ 500) and the current OI. Returns rows stored."""
    symbol = symbol.upper()
    if period not in ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"):
        raise ValueError(f"period must be a Binance openInterestHist period, got {period!r}")
    ensure_schema(con)
    own = client is None
    client = client or httpx.Client(base_url=base_url_or_default(base_url), timeout=10.0)
    try:
        hist = get_json(client, "/futures/data/openInterestHist",
                        {"symbol": symbol, "period": period, "limit": min(max(limit, 1), 500)}, sleep=sleep)
        now = get_json(client, "/fapi/v1/openInterest", {"symbol": symbol}, sleep=sleep)
    finally:
        if own:
            client.close()
    rows = []
    for h in hist:
        rows.append((symbol, int(h["timestamp"]), float(h["sumOpenInterest"]), float(h["sumOpenInterestValue"]),
                     None, None, None, None, "rest_openInterestHist"))
    n = _replace(con, "open_interest_history", "timestamp", symbol, rows)
    cur = [(symbol, int(now["time"]), float(now["openInterest"]), None, None, None, None, None, "rest_openInterest")]
    return n + _replace(con, "open_interest_history", "timestamp", symbol, cur)


def fetch_klines(con: duckdb.DuckDBPyConnection, symbol: str, interval: str = "15m", *, limit: int = 1500,
                 base_url: str | None = None, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep, now_ms: int | None = None) -> int:
    """Store the latest ``limit`` (≤ 1500) closed klines. Returns rows stored."""
    symbol = symbol.upper()
    table = ensure_klines_table(con, interval)
    own = client is None
    client = client or httpx.Client(base_url=base_url_or_default(base_url), timeout=10.0)
    try:
        data = get_json(client, "/fapi/v1/klines",
                        {"symbol": symbol, "interval": interval, "limit": min(max(limit, 1), 1500)}, sleep=sleep)
    finally:
        if own:
            client.close()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    rows = []
    for k in data:
        if int(k[6]) >= now_ms:
            continue  # candle still open
        rows.append((symbol, int(k[0]), float(k[1]), float(k[2]), float(k[3]), float(k[4]), float(k[5]), int(k[6]),
                     float(k[7]), int(k[8]), float(k[9]), float(k[10])))
    return _replace(con, table, "open_time", symbol, rows)
