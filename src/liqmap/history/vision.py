"""data.binance.vision archive layout for USD-M futures, and which files a date range needs (pure).

Layout (https://github.com/binance/binance-public-data README, "Where do I access it" and
"CHECKSUM"; ``../shared/docs/exchanges.md`` §11)::

    <base>/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-26.zip
    <base>/data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01.zip
    <base>/data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-12-05.zip
    <base>/data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2025-12.zip
    <base>/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-12-05.zip   (daily only)

Every zip has ``<zip>.CHECKSUM`` beside it: one ``sha256sum`` line, ``<hex>  <file name>``.
Daily files appear the next day, monthly ones at the start of the next month (README: "new
`daily` data becoming available the next day and new `monthly` data at the beginning of next
month"). ``liquidationSnapshot`` is not offered: the USD-M archive stopped on 2024-03-31 and
its directory was removed (exchanges.md §11).

Planning rule (:func:`plan`): a calendar month lying wholly inside the requested range and
already over is fetched as ONE monthly file (fewer requests, same rows); if that file turns
out missing, the caller falls back to its daily files (:meth:`ArchiveFile.days`). Everything
else is fetched day by day. Each file is authoritative for a UTC range ``[start_ms, end_ms)``
(its day or month), which is what the ingest replaces.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from liqmap.units import DAY_MS, INTERVAL_MS, day_ms

BASE_URL = "https://data.binance.vision"
#: user-facing dataset name -> (ingest kind in liqmap.heatmap.ingest, monthly files exist)
DATASETS: dict[str, tuple[str, bool]] = {
    "aggTrades": ("aggtrades", True),
    "klines": ("klines", True),
    "metrics": ("metrics", False),
}


def _month_end(y: int, m: int) -> dt.date:
    return dt.date(y, m, calendar.monthrange(y, m)[1])


@dataclass(frozen=True)
class ArchiveFile:
    """One archive zip: dataset, symbol, interval (klines only), daily or monthly period.

    ``period`` is ``YYYY-MM-DD`` (daily) or ``YYYY-MM`` (monthly); ``start_ms``/``end_ms`` the
    UTC range the file covers.
    """

    dataset: str
    symbol: str
    interval: str | None
    first: dt.date
    monthly: bool = False

    @property
    def last(self) -> dt.date:
        """Last calendar day covered (inclusive)."""
        return _month_end(self.first.year, self.first.month) if self.monthly else self.first

    @property
    def period(self) -> str:
        return self.first.strftime("%Y-%m") if self.monthly else self.first.isoformat()

    @property
    def name(self) -> str:
        """File name, e.g. ``BTCUSDT-5m-2025-12.zip`` or ``BTCUSDT-metrics-2025-12-05.zip``."""
        middle = self.interval if self.dataset == "klines" else self.dataset
        return f"{self.symbol}-{middle}-{self.period}.zip"

    @property
    def path(self) -> str:
        """Path below the base URL (and below the local destination folder)."""
        freq = "monthly" if self.monthly else "daily"
        sub = f"{self.symbol}/{self.interval}" if self.dataset == "klines" else self.symbol
        return f"data/futures/um/{freq}/{self.dataset}/{sub}/{self.name}"

    @property
    def kind(self) -> str:
        """The ``liqmap.heatmap.ingest`` kind that loads this file."""
        return DATASETS[self.dataset][0]

    @property
    def start_ms(self) -> int:
        return day_ms(self.first)

    @property
    def end_ms(self) -> int:
        return day_ms(self.last) + DAY_MS

    @property
    def label(self) -> str:
        """Short human name: ``klines 5m 2025-12``, ``aggTrades 2025-01-26``."""
        iv = f" {self.interval}" if self.interval else ""
        return f"{self.dataset}{iv} {self.period}"

    def days(self) -> list["ArchiveFile"]:
        """The daily files of a monthly file (the fallback when the monthly file is missing)."""
        n = (self.last - self.first).days + 1
        return [ArchiveFile(self.dataset, self.symbol, self.interval, self.first + dt.timedelta(i))
                for i in range(n)]


def _months(start: dt.date, end: dt.date):
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def plan(symbol: str, datasets: list[str], intervals: list[str], start: dt.date, end: dt.date,
         today: dt.date) -> list[ArchiveFile]:
    """Files covering ``start..end`` (inclusive) for each dataset (klines: each interval).

    ``today`` is the current UTC date: a month is fetched as a monthly file only when it lies
    wholly in the range and ended before ``today``. Raises ValueError for a symbol that is not
    upper-case letters and digits (it becomes part of URLs and local paths), an unknown dataset or
    interval, or ``start > end``.
    """
    if not re.fullmatch(r"[A-Z0-9]{2,40}", symbol):
        raise ValueError(f"symbol must be a Binance USD-M symbol like BTCUSDT (letters and digits), got {symbol!r}")
    if start > end:
        raise ValueError(f"--start-date {start} is after --end-date {end}")
    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"unknown dataset {d!r}: choose from {', '.join(DATASETS)}")
    for iv in intervals:
        if iv not in INTERVAL_MS:
            raise ValueError(f"unknown kline interval {iv!r}: choose from {', '.join(INTERVAL_MS)}")
    out: list[ArchiveFile] = []
    for ds in datasets:
        monthly_ok = DATASETS[ds][1]
        for iv in (intervals if ds == "klines" else [None]):
            for y, m in _months(start, end):
                first, last = dt.date(y, m, 1), _month_end(y, m)
                if monthly_ok and start <= first and last <= end and last < today:
                    out.append(ArchiveFile(ds, symbol, iv, first, monthly=True))
                    continue
                d = max(first, start)
                while d <= min(last, end):
                    out.append(ArchiveFile(ds, symbol, iv, d))
                    d += dt.timedelta(1)
    return out
