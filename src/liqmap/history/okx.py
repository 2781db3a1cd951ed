"""OKX v5 REST history: contract open interest and candles (SWAP instruments, e.g. BTC-USDT-SWAP).

* ``GET /api/v5/rubik/stat/contracts/open-interest-history?instId=&period=&begin=&end=&limit=``
  -- "can retrieve the latest 1,440 data entries" (5 days at 5m); periods 5m 15m 30m 1H 2H 4H
  (6H and longer are UTC+8 candles unless suffixed ``utc``); ``end`` = records earlier than
  ``ts``, ``begin`` = newer than; ``limit`` max 100 (default 100); rows ``[ts, oi, oiCcy,
  oiUsd]`` newest first: ``oi`` contracts, ``oiCcy`` coin (base units), ``oiUsd`` USD. One side
  of the book. Rate limit 10 requests / 2 s per IP + instrument.
  https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-open-interest-history
  liqmap stores ``oiCcy`` as base units and ``oiUsd`` as USD: no contract-size conversion needed.
* ``GET /api/v5/market/history-candles?instId=&bar=&after=&before=&limit=`` -- "history
  candlestick charts from recent years"; ``after`` = records earlier than ``ts``; ``limit`` max
  100 here (the docs give 100 or 300 by version; 100 is accepted by both); rows ``[ts, o, h, l,
  c, vol (contracts), volCcy (base coin), volCcyQuote (quote), confirm]`` newest first,
  ``confirm`` 0 = candle still open. Rate limit 20 requests / 2 s per IP.
  https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-candlesticks-history
* Errors come as ``{"code": "<non-zero>", "msg": ...}``; ``50011`` = rate limit reached
  (also HTTP 429). https://www.okx.com/docs-v5/en/#error-code-rest-api-public
* REST host: the current docs give ``https://openapi.okx.com`` (``www.okx.com`` before
  2026-05; exchanges.md §14); override with ``--base-url okx=...``.
"""

from __future__ import annotations

from liqmap.feed.rest import TokenBucket
from liqmap.history.rest import RATE_LIMITED, RestClient, utc
from liqmap.models import Kline, OpenInterest
from liqmap.units import INTERVAL_MS

NAME = "okx"
BASE_URL = "https://openapi.okx.com"
BARS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
        "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc"}
OI_PERIODS = {k: v for k, v in BARS.items() if k in ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")}
INTERVALS = tuple(OI_PERIODS)  #: OI periods that are also candle bars
OI_LIMIT = 100
OI_MAX_ENTRIES = 1440
CANDLE_LIMIT = 100
MAX_PAGES = 10_000


def budgets() -> dict[str, TokenBucket]:
    """10 requests / 2 s for open-interest history, 20 / 2 s for history candles."""
    return {"oi": TokenBucket(10, 5), "candles": TokenBucket(20, 10)}


def body_check(body) -> str | None:
    """``code`` "0" = fine, "50011" = rate limited, anything else an error."""
    if not isinstance(body, dict):
        return f"unexpected body {str(body)[:120]}"
    code = str(body.get("code"))
    if code == "0":
        return None
    return RATE_LIMITED if code == "50011" else f"code {code}: {body.get('msg')}"


def parse_open_interest(rows: list[list], inst: str, base: str, quote: str, received_at: int) -> list[OpenInterest]:
    """``[ts, oi, oiCcy, oiUsd]`` rows -> OpenInterest (base = oiCcy, USD = oiUsd), oldest first."""
    out = [OpenInterest(NAME, inst, base, quote, float(r[2]), float(r[3]) if len(r) > 3 and r[3] != "" else None,
                        int(r[0]), received_at) for r in rows]
    return sorted(out, key=lambda e: e.timestamp)


def parse_candles(rows: list[list], inst: str, interval: str) -> list[Kline]:
    """Candle rows -> closed Kline (``confirm`` == "1"), oldest first; volume = volCcy (base)."""
    step = INTERVAL_MS[interval]
    out = [Kline(NAME, inst, interval, int(c[0]), int(c[0]) + step - 1, float(c[1]), float(c[2]), float(c[3]),
                 float(c[4]), float(c[6]), float(c[7])) for c in rows if str(c[8]) == "1"]
    return sorted(out, key=lambda k: k.open_time)


async def _walk_back(rc: RestClient, path: str, params: dict, key: str, limit: int, start_ms: int,
                     budget: str) -> list[list]:
    """Page newest -> oldest with ``key`` (= records earlier than ts) until before ``start_ms``."""
    rows_all: list[list] = []
    for _page in range(MAX_PAGES):
        rows = (await rc.get_json(path, params, budget=budget))["data"]
        if not rows:
            break
        rows_all += rows
        oldest = min(int(r[0]) for r in rows)
        if oldest <= start_ms or len(rows) < limit:
            break
        params = {**params, key: oldest}
    return rows_all


async def fetch_open_interest(rc: RestClient, inst: str, base: str, quote: str, start_ms: int, end_ms: int,
                              interval: str, now_ms: int) -> tuple[list[OpenInterest], list[str]]:
    """OI with ``start_ms <= ts < end_ms`` (the venue keeps the latest 1,440 periods). Returns (rows, notes)."""
    period = OI_PERIODS.get(interval)
    if period is None:
        raise ValueError(f"okx open-interest period must be one of {tuple(OI_PERIODS)}, got {interval!r}")
    notes = []
    floor = now_ms - OI_MAX_ENTRIES * INTERVAL_MS[interval]
    if start_ms < floor:
        notes.append(f"okx keeps the latest {OI_MAX_ENTRIES} {interval} open-interest entries: nothing before {utc(floor)}")
        start_ms = floor
    params = {"instId": inst, "period": period, "end": end_ms, "begin": start_ms - 1, "limit": OI_LIMIT}
    rows = await _walk_back(rc, "/api/v5/rubik/stat/contracts/open-interest-history", params, "end", OI_LIMIT,
                            start_ms, "oi")
    keep = [r for r in rows if start_ms <= int(r[0]) < end_ms]
    events = parse_open_interest(keep, inst, base, quote, now_ms)
    return list({e.timestamp: e for e in events}.values()), notes


async def fetch_klines(rc: RestClient, inst: str, start_ms: int, end_ms: int, interval: str,
                       now_ms: int) -> list[Kline]:
    """Closed candles with ``start_ms <= open_time < end_ms``, paging back with ``after``."""
    bar = BARS.get(interval)
    if bar is None:
        raise ValueError(f"okx candle bar must be one of {tuple(BARS)}, got {interval!r}")
    params = {"instId": inst, "bar": bar, "after": end_ms, "limit": CANDLE_LIMIT}
    rows = await _walk_back(rc, "/api/v5/market/history-candles", params, "after", CANDLE_LIMIT, start_ms, "candles")
    keep = [r for r in rows if start_ms <= int(r[0]) < end_ms]
    return list({k.open_time: k for k in parse_candles(keep, inst, interval)}.values())
