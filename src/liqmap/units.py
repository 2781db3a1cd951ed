"""Units and constants shared by every layer: one definition each.

Times are milliseconds since the Unix epoch, UTC. Money is USD (USDT/USDC at par).

* ``SECOND_MS`` .. ``WEEK_MS``: durations in milliseconds.
* ``INTERVAL_MS``: kline / model step names (Binance vocabulary) -> milliseconds.
* ``INSTITUTIONAL_USD`` / ``LARGE_USD``: default size tiers of one liquidation's notional
  (``Settings.institutional_usd`` / ``large_usd`` override them at run time).
* ``CASCADE_MIN_USD``: default total notional that makes a burst a cascade.
* ``WHALE_TRADE_USD``: default notional of one trade that makes it a "whale" (tape, alerts).
* ``ALERT_LIQUIDATION_USD``: default notional of one liquidation worth an alert.
* ``CONTRACTS_CACHE``: default path of the contract-size cache written at start-up.
* :func:`now_ms`: the wall clock in these units; :func:`day_ms`: UTC midnight of a date.
"""

from __future__ import annotations

import datetime as dt
import time

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

#: Interval names (as Binance spells them) -> milliseconds.
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS, "3m": 3 * MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS, "1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS, "8h": 8 * HOUR_MS, "12h": 12 * HOUR_MS, "1d": DAY_MS,
}

#: Duration suffixes accepted in window strings such as ``15m``, ``24h``, ``7d``, ``1w``.
UNIT_MS: dict[str, int] = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}

INSTITUTIONAL_USD = 100_000.0
LARGE_USD = 10_000.0
CASCADE_MIN_USD = 100_000.0
WHALE_TRADE_USD = 1_000_000.0
ALERT_LIQUIDATION_USD = 1_000_000.0

CONTRACTS_CACHE = "data/contracts.json"


def now_ms() -> int:
    """Wall-clock time in ms since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000


def day_ms(d: dt.date) -> int:
    """UTC midnight of ``d`` in ms."""
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
