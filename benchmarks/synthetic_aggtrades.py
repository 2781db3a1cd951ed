"""SYNTHETIC aggTrades in Binance's archive layout, for load tests only. NOT MARKET DATA.

Rows follow the data.binance.vision USD-M aggTrades CSV exactly (header
``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker``, ms
timestamps) with made-up values: a random-walk price around 90,000 (~10 % standard deviation over
the span), lognormal quantities, taker side a coin flip, trades evenly spaced in time. The symbol
is ``SYNTHUSDT`` so no file can be mistaken for a real archive.

:func:`write_synthetic_aggtrades` writes one CSV; :func:`build_month_archive` writes one month as
the archive serves it -- the monthly zip, or one zip per day -- each with its ``.CHECKSUM``::

    uv run python benchmarks/synthetic_aggtrades.py OUT_DIR [--rows 45000000] [--month 2024-11] [--daily]

A BTCUSDT USD-M month is roughly 45 M aggregate trades (~3 GB of CSV), the default.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import hashlib
import time
import zipfile
from pathlib import Path

import duckdb

SYMBOL = "SYNTHUSDT"
DAY_MS = 86_400_000


def _select(rows: int, t0_ms: int, span_ms: int, first_id: int = 0) -> str:
    return f"""
      WITH r AS (SELECT range AS i, random() AS u1, random() AS u2, random() AS u3 FROM range({rows})),
      w AS (SELECT i, u2, u3, sum((u1 - 0.5) * {3.4641 * 0.10 / rows ** 0.5})
                  OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS lr FROM r)
      SELECT 2000000000 + {first_id} + i AS agg_trade_id,
             round(90000 * exp(lr), 1) AS price,
             round(exp(ln(0.01) + 3.0 * u2), 3) AS quantity,
             5000000000 + 3 * ({first_id} + i) AS first_trade_id,
             5000000000 + 3 * ({first_id} + i) + 2 AS last_trade_id,
             {t0_ms} + CAST(i * {span_ms} // {rows} AS BIGINT) AS transact_time,
             u3 < 0.5 AS is_buyer_maker
      FROM w ORDER BY i"""


def write_synthetic_aggtrades(path: Path, rows: int, t0_ms: int, span_ms: int) -> float:
    """SYNTHETIC trades spread evenly over ``[t0_ms, t0_ms + span_ms)`` -> one CSV. Returns seconds."""
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"COPY ({_select(rows, t0_ms, span_ms)}) TO '{path}' (HEADER, DELIMITER ',')")
    con.close()
    return time.perf_counter() - t


def _zip_with_checksum(csv_path: Path, zip_path: Path) -> None:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv_path, csv_path.name)
    h = hashlib.sha256()
    with open(zip_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    zip_path.with_name(zip_path.name + ".CHECKSUM").write_text(f"{h.hexdigest()}  {zip_path.name}\n")
    csv_path.unlink()


def build_month_archive(root: Path, year: int, month: int, rows: int, daily: bool = False) -> list[Path]:
    """Write a SYNTHETIC month of ``SYNTHUSDT`` aggTrades under ``root/data/futures/um/...``.

    Monthly: one ``SYNTHUSDT-aggTrades-YYYY-MM.zip``; ``daily``: one zip per UTC day. Returns the
    zip paths (each with a ``.CHECKSUM`` beside it).
    """
    days = calendar.monthrange(year, month)[1]
    t0 = int(dt.datetime(year, month, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    base = root / "data" / "futures" / "um" / ("daily" if daily else "monthly") / "aggTrades" / SYMBOL
    base.mkdir(parents=True, exist_ok=True)
    out = []
    if not daily:
        name = f"{SYMBOL}-aggTrades-{year:04d}-{month:02d}"
        write_synthetic_aggtrades(base / f"{name}.csv", rows, t0, days * DAY_MS)
        _zip_with_checksum(base / f"{name}.csv", base / f"{name}.zip")
        return [base / f"{name}.zip"]
    per_day = rows // days
    con = duckdb.connect()
    for d in range(days):
        name = f"{SYMBOL}-aggTrades-{year:04d}-{month:02d}-{d + 1:02d}"
        con.execute(f"COPY ({_select(per_day, t0 + d * DAY_MS, DAY_MS, d * per_day)}) TO '{base / name}.csv' (HEADER)")
        _zip_with_checksum(base / f"{name}.csv", base / f"{name}.zip")
        out.append(base / f"{name}.zip")
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=45_000_000)
    ap.add_argument("--month", default="2024-11", help="YYYY-MM")
    ap.add_argument("--daily", action="store_true", help="one zip per day instead of the monthly zip")
    a = ap.parse_args()
    y, m = (int(x) for x in a.month.split("-"))
    t = time.perf_counter()
    files = build_month_archive(a.out, y, m, a.rows, a.daily)
    size = sum(f.stat().st_size for f in files)
    print(f"SYNTHETIC {SYMBOL} aggTrades {a.month}: {a.rows:,} rows, {len(files)} zip(s), {size / 1e6:.0f} MB "
          f"in {time.perf_counter() - t:.0f} s under {a.out}")


if __name__ == "__main__":
    main()
