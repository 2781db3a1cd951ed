"""Binance USD-M REST history: open interest (5-minute statistics) and klines.

* ``GET /futures/data/openInterestHist?symbol=&period=&limit=&startTime=&endTime=`` --
  periods 5m 15m 30m 1h 2h 4h 6h 12h 1d; ``limit`` default 30, max 500; "Only the data of the
  latest 30 days is available"; rows ``{symbol, sumOpenInterest, sumOpenInterestValue,
  timestamp}`` oldest first -- ``sumOpenInterest`` in base units (one side, BTC for BTCUSDT),
  ``sumOpenInterestValue`` in USDT; ``timestamp`` ms (a number or a numeric string).
  Request weight 0 on the page; exchanges.md §1.6 records an IP limit of 1,000 requests / 5 min
  for ``/futures/data`` -- paced with its own budget.
  https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest-Statistics
* ``GET /fapi/v1/klines?symbol=&interval=&startTime=&endTime=&limit=`` -- ``limit`` default 500,
  max 1500; weight 1/2/5/10 for limit [1,100)/[100,500)/[500,1000]/>1000; rows ``[openTime, o,
  h, l, c, volume (base), closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]``
  oldest first. https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
* IP limit 2,400 request weight per minute (``exchangeInfo.rateLimits``; exchanges.md §1.6);
  429/418 handling: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info

Pagination: both endpoints are walked forward from ``start_ms`` with ``startTime`` windows of
``limit`` rows; OI before ``now - 30 days`` is not requested (the archive ``metrics`` files hold
it: ``liqmap download --data metrics``).
"""

from __future__ import annotations

from liqmap.feed.rest import TokenBucket
from liqmap.history.rest import RestClient, utc
from liqmap.models import Kline, OpenInterest
from liqmap.units import DAY_MS, INTERVAL_MS

NAME = "binance"
BASE_URL = "https://fapi.binance.com"
OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
INTERVALS = OI_PERIODS  #: what backfill() accepts: an OI period that is also a kline interval
OI_LIMIT = 500
OI_WINDOW_MS = 30 * DAY_MS
KLINE_LIMIT = 1500
KLINE_WEIGHT = 10  # limit > 1000
OI_SOURCE = "rest:openInterestHist"
KLINE_SOURCE = "rest:klines"


def budgets() -> dict[str, TokenBucket]:
    """Request budgets: 2,400 weight/min (klines), 1,000 requests/5 min (``/futures/data``)."""
    return {"weight": TokenBucket.per_minute(2400), "futures_data": TokenBucket(1000, 1000 / 300)}


def body_check(body) -> str | None:
    """Binance errors carry ``{"code": <0, "msg": ...}``; data is a list."""
    if isinstance(body, dict) and "code" in body:
        return f"code {body.get('code')}: {body.get('msg')}"
    return None if isinstance(body, list) else f"unexpected body {str(body)[:120]}"


def parse_open_interest(rows: list, symbol: str, base: str, quote: str, received_at: int) -> list[OpenInterest]:
    """``openInterestHist`` rows -> OpenInterest (base units, USD = USDT value). Raises KeyError/ValueError."""
    return [OpenInterest(NAME, symbol, base, quote, float(r["sumOpenInterest"]), float(r["sumOpenInterestValue"]),
                         int(r["timestamp"]), received_at) for r in rows]


def parse_klines(rows: list, symbol: str, interval: str, now_ms: int) -> list[Kline]:
    """``/fapi/v1/klines`` rows -> Kline; the still-open last candle (closeTime >= now) is dropped."""
    return [Kline(NAME, symbol, interval, int(k[0]), int(k[6]), float(k[1]), float(k[2]), float(k[3]), float(k[4]),
                  float(k[5]), float(k[7]), float(k[9]), float(k[10]), int(k[8]))
            for k in rows if int(k[6]) < now_ms]


async def fetch_open_interest(rc: RestClient, symbol: str, base: str, quote: str, start_ms: int, end_ms: int,
                              interval: str, now_ms: int) -> tuple[list[OpenInterest], list[str]]:
    """OI snapshots with ``start_ms <= timestamp < end_ms`` (clamped to the last 30 days). Returns (rows, notes)."""
    if interval not in OI_PERIODS:
        raise ValueError(f"binance openInterestHist period must be one of {OI_PERIODS}, got {interval!r}")
    step = INTERVAL_MS[interval]
    notes = []
    floor = now_ms - OI_WINDOW_MS + step
    if start_ms < floor:
        notes.append(f"binance serves open interest for the last 30 days only: nothing before {utc(floor)} "
                     "(older: `liqmap download --data metrics`)")
        start_ms = floor
    out: list[OpenInterest] = []
    cursor = start_ms
    while cursor < end_ms:
        hi = min(cursor + OI_LIMIT * step, end_ms) - 1
        rows = await rc.get_json("/futures/data/openInterestHist",
                                 {"symbol": symbol, "period": interval, "limit": OI_LIMIT,
                                  "startTime": cursor, "endTime": hi}, budget="futures_data")
        out += [o for o in parse_open_interest(rows, symbol, base, quote, now_ms) if start_ms <= o.timestamp < end_ms]
        cursor = hi + 1  # a window holds at most OI_LIMIT periods
    return out, notes


async def fetch_klines(rc: RestClient, symbol: str, start_ms: int, end_ms: int, interval: str,
                       now_ms: int) -> list[Kline]:
    """Closed candles with ``start_ms <= open_time < end_ms``, oldest first."""
    step = INTERVAL_MS[interval]
    out: list[Kline] = []
    cursor = start_ms
    while cursor < end_ms:
        rows = await rc.get_json("/fapi/v1/klines",
                                 {"symbol": symbol, "interval": interval, "limit": KLINE_LIMIT,
                                  "startTime": cursor, "endTime": end_ms - 1}, budget="weight", weight=KLINE_WEIGHT)
        if not rows:
            break
        out += [k for k in parse_klines(rows, symbol, interval, now_ms) if start_ms <= k.open_time < end_ms]
        nxt = int(rows[-1][0]) + step
        if nxt <= cursor or len(rows) < KLINE_LIMIT:
            break
        cursor = nxt
    return out
