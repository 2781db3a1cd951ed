"""Bybit v5 REST history: open interest and klines (linear USDT/USDC perpetuals, inverse USD).

* ``GET /v5/market/open-interest?category=&symbol=&intervalTime=&startTime=&endTime=&limit=&cursor=``
  -- ``intervalTime`` 5min 15min 30min 1h 4h 1d; ``limit`` 1-200 (default 50); pages through
  ``result.nextPageCursor``; rows ``{openInterest, singleOpenInterest, timestamp}`` newest first;
  history back to the symbol's launch.
  **Units and sides:** ``openInterest`` is "the sum of both sides" and ``singleOpenInterest`` "the
  single side"; unit base coin for linear (BTC for BTCUSDT), USD for inverse (BTCUSD).
  https://bybit-exchange.github.io/docs/v5/market/open-interest . Bybit moved its displayed OI to
  single-sided on 2026-06-11 and added ``singleOpenInterest`` / ``singleOpenInterestValue``
  (https://announcements.bybit.com/en/article/update-to-the-open-interest-oi-calculation-method-blta89d9c88819bfebe/).
  liqmap stores ONE side, like every other venue: ``singleOpenInterest`` when present, else
  ``openInterest / 2`` (the documented both-sides sum); the backfill notes say which. USD (linear) =
  base × the venue's kline close at the snapshot; base (inverse) = USD / that close.
* ``GET /v5/market/kline?category=&symbol=&interval=&start=&end=&limit=`` -- intervals 1 3 5 15
  30 60 120 240 360 720 D W M; ``limit`` 1-1000 (default 200); rows ``[startTime, open, high,
  low, close, volume, turnover]`` sorted newest first; volume = contracts (linear: base coin;
  inverse: USD), turnover = quote coin (linear) / base coin (inverse); the newest candle may
  still be open. https://bybit-exchange.github.io/docs/v5/market/kline
* Limits: 600 requests per 5 s per IP; "403, access too frequent" = IP ban for at least 10 min;
  ``retCode`` 10006 "Too many visits!" = API rate limit. https://bybit-exchange.github.io/docs/v5/rate-limit
"""

from __future__ import annotations

from typing import Callable

from liqmap.feed.rest import TokenBucket
from liqmap.history.rest import RATE_LIMITED, RestClient
from liqmap.models import Kline, OpenInterest
from liqmap.units import INTERVAL_MS

NAME = "bybit"
BASE_URL = "https://api.bybit.com"
OI_INTERVALS = {"5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "4h": "4h", "1d": "1d"}
INTERVALS = ("5m", "15m", "30m", "1h", "4h", "1d")  #: OI intervals that are also kline intervals
KLINE_INTERVALS = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
                   "4h": "240", "6h": "360", "12h": "720", "1d": "D"}
OI_LIMIT = 200
KLINE_LIMIT = 1000
MAX_PAGES = 10_000  # guard against a cursor that never ends


def budgets() -> dict[str, TokenBucket]:
    """20 requests/s: a tenth of the 600 / 5 s IP limit, shared with live pollers."""
    return {"default": TokenBucket(20, 20)}


def body_check(body) -> str | None:
    """``retCode`` 0 = fine, 10006 = rate limited, anything else an error."""
    if not isinstance(body, dict):
        return f"unexpected body {str(body)[:120]}"
    code = body.get("retCode")
    if code == 0:
        return None
    return RATE_LIMITED if code == 10006 else f"retCode {code}: {body.get('retMsg')}"


def category(quote: str) -> str:
    """``inverse`` for USD-margined symbols (BTCUSD), else ``linear``."""
    return "inverse" if quote == "USD" else "linear"


def parse_open_interest(rows: list[dict], symbol: str, base: str, quote: str, received_at: int,
                        price_at: Callable[[int], float | None]) -> tuple[list[OpenInterest], bool]:
    """Rows -> one-side OpenInterest (module docstring). Returns (events, used_single_field).

    A row whose conversion needs a price that ``price_at`` cannot give is skipped.
    """
    out, single = [], False
    inverse = category(quote) == "inverse"
    for r in rows:
        ts = int(r["timestamp"])
        if r.get("singleOpenInterest") not in (None, ""):
            amount, single = float(r["singleOpenInterest"]), True
        else:
            amount = float(r["openInterest"]) / 2.0
        px = price_at(ts)
        if inverse:
            if not px:
                continue
            out.append(OpenInterest(NAME, symbol, base, quote, amount / px, amount, ts, received_at))
        else:
            out.append(OpenInterest(NAME, symbol, base, quote, amount, amount * px if px else None, ts, received_at))
    return out, single


def parse_klines(rows: list[list], symbol: str, interval: str, quote: str, now_ms: int) -> list[Kline]:
    """Kline rows (any order) -> closed Kline oldest first; volume in base units either way."""
    step = INTERVAL_MS[interval]
    inverse = category(quote) == "inverse"
    out = []
    for k in rows:
        t = int(k[0])
        if t + step > now_ms:
            continue  # still open
        vol, turnover = float(k[5]), float(k[6])
        base_vol, quote_vol = (turnover, vol) if inverse else (vol, turnover)
        out.append(Kline(NAME, symbol, interval, t, t + step - 1, float(k[1]), float(k[2]), float(k[3]),
                         float(k[4]), base_vol, quote_vol))
    return sorted(out, key=lambda k: k.open_time)


async def fetch_klines(rc: RestClient, symbol: str, quote: str, start_ms: int, end_ms: int, interval: str,
                       now_ms: int) -> list[Kline]:
    """Closed candles with ``start_ms <= open_time < end_ms``, paging backwards with ``end``."""
    iv = KLINE_INTERVALS.get(interval)
    if iv is None:
        raise ValueError(f"bybit kline interval must be one of {tuple(KLINE_INTERVALS)}, got {interval!r}")
    rows_all: list[list] = []
    end = end_ms - 1
    while end >= start_ms:
        body = await rc.get_json("/v5/market/kline", {"category": category(quote), "symbol": symbol, "interval": iv,
                                                      "start": start_ms, "end": end, "limit": KLINE_LIMIT})
        rows = body["result"]["list"]
        if not rows:
            break
        rows_all += rows
        oldest = min(int(k[0]) for k in rows)
        if len(rows) < KLINE_LIMIT or oldest - 1 >= end:
            break
        end = oldest - 1
    keep = [k for k in rows_all if start_ms <= int(k[0]) < end_ms]
    return list({k.open_time: k for k in parse_klines(keep, symbol, interval, quote, now_ms)}.values())


async def fetch_open_interest(rc: RestClient, symbol: str, base: str, quote: str, start_ms: int, end_ms: int,
                              interval: str, now_ms: int,
                              price_at: Callable[[int], float | None]) -> tuple[list[OpenInterest], list[str]]:
    """One-side OI with ``start_ms <= timestamp < end_ms``, following ``nextPageCursor``. Returns (rows, notes)."""
    iv = OI_INTERVALS.get(interval)
    if iv is None:
        raise ValueError(f"bybit open-interest interval must be one of {tuple(OI_INTERVALS)}, got {interval!r}")
    params = {"category": category(quote), "symbol": symbol, "intervalTime": iv, "startTime": start_ms,
              "endTime": end_ms - 1, "limit": OI_LIMIT}
    rows_all: list[dict] = []
    for _page in range(MAX_PAGES):
        body = await rc.get_json("/v5/market/open-interest", params)
        res = body["result"]
        rows_all += res["list"]
        cursor = res.get("nextPageCursor") or ""
        if not res["list"] or not cursor:
            break
        params = {**params, "cursor": cursor}
    keep = [r for r in rows_all if start_ms <= int(r["timestamp"]) < end_ms]
    events, single = parse_open_interest(keep, symbol, base, quote, now_ms, price_at)
    notes = [] if single or not keep else ["bybit gave no singleOpenInterest: stored openInterest / 2 (both sides → one)"]
    dropped = len(keep) - len(events)
    if dropped:
        notes.append(f"bybit: {dropped} inverse OI rows without a kline price to convert USD to base were skipped")
    return sorted(events, key=lambda e: e.timestamp), notes
