"""Historical ingest of data.binance.vision files into DuckDB (streaming, idempotent, resumable).

Layout read (exchanges.md §11; https://github.com/binance/binance-public-data README), under
``data_dir`` or ``data_dir/data``:

* ``futures/um/{daily,monthly}/aggTrades/<SYM>/<SYM>-aggTrades-YYYY-MM-DD.zip`` (monthly ``-YYYY-MM``)
* ``futures/um/{daily,monthly}/klines/<SYM>/<interval>/<SYM>-<interval>-YYYY-MM-DD.zip``
* ``futures/um/daily/metrics/<SYM>/<SYM>-metrics-YYYY-MM-DD.zip``
* ``futures/um/daily/liquidationSnapshot/<SYM>/<SYM>-liquidationSnapshot-YYYY-MM-DD.zip``

Each file may be ``.zip`` (one CSV inside; DuckDB's read_csv cannot read zip, so the member's
deflate stream is copied, still compressed, into a temp gzip file that DuckDB inflates while it
parses) or ``.csv``; with or without a header row (detected from
the first line); timestamps in ms or µs (values > 1e14 are µs and divided by 1000).
Columns are parsed **by position** with the explicit types declared here; the SQL that reads and
loads them is :mod:`liqmap.storage.archive_writes`.

Tables (created by the storage migrations, ``storage/migrations/duckdb/0004_archive_history.sql``,
applied by :func:`ingest`; all with a ``symbol`` column; times BIGINT ms UTC; prices USDT;
quantities base units):

* ``aggtrades_history(symbol, agg_trade_id, price, quantity, first_trade_id, last_trade_id,
  timestamp, is_buyer_maker)`` -- no PRIMARY KEY (heatmap-model.md §5.1).
* ``klines_<interval>_history(symbol, open_time, open, high, low, close, volume, close_time,
  quote_volume, count, taker_buy_volume, taker_buy_quote_volume)``.
* ``open_interest_history(symbol, timestamp, sum_open_interest [contracts = base units],
  sum_open_interest_value [USDT], count_toptrader_long_short_ratio,
  sum_toptrader_long_short_ratio, count_long_short_ratio, sum_taker_long_short_vol_ratio,
  source)``.
* ``liquidation_snapshot_history(symbol, time, side, order_type, time_in_force,
  original_quantity, price, average_price, order_status, last_fill_quantity,
  accumulated_fill_quantity)`` -- exact duplicate rows removed (issue #259).
* ``aggtrades_flow_5m(symbol, step_end, taker_sell, cell, qty, notional)`` -- 5-minute taker flow
  (:mod:`liqmap.storage.archive_writes`), rebuilt for a file's range in the same transaction as
  its trades.
* ``ingest_log(kind, symbol, interval, file_name, size, sha256, rows, range_start, range_end, loaded_at)``.

Idempotency: every file covers a UTC range (its day, or its month clipped to the request);
loading deletes that symbol's rows in the range and inserts the file's rows in ONE
transaction (:func:`liqmap.storage.archive_writes.replace_range`), so a re-ingest replaces,
never duplicates, and a bad file leaves nothing half-loaded. A file whose name, size and sha256 are already in ``ingest_log`` is skipped
(resume) unless ``force``. A ``.CHECKSUM`` file beside a zip is verified when present.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
import shutil
import struct
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from liqmap.storage.archive_writes import (KINDS, FileRecord, count_rows, csv_rows_sql, file_loaded, load_rows,
                                           table_for)
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.units import DAY_MS, day_ms

DIR_NAME = {"aggtrades": "aggTrades", "klines": "klines", "metrics": "metrics",
            "liquidation-snapshot": "liquidationSnapshot"}

AGG_COLS = {"agg_trade_id": "BIGINT", "price": "DOUBLE", "quantity": "DOUBLE", "first_trade_id": "BIGINT",
            "last_trade_id": "BIGINT", "transact_time": "BIGINT", "is_buyer_maker": "BOOLEAN"}
KLINE_COLS = {"open_time": "BIGINT", "open": "DOUBLE", "high": "DOUBLE", "low": "DOUBLE", "close": "DOUBLE",
              "volume": "DOUBLE", "close_time": "BIGINT", "quote_volume": "DOUBLE", "count": "BIGINT",
              "taker_buy_volume": "DOUBLE", "taker_buy_quote_volume": "DOUBLE", "ignore": "VARCHAR"}
METRIC_COLS = {"create_time": "VARCHAR", "symbol": "VARCHAR", "sum_open_interest": "DOUBLE",
               "sum_open_interest_value": "DOUBLE", "count_toptrader_long_short_ratio": "DOUBLE",
               "sum_toptrader_long_short_ratio": "DOUBLE", "count_long_short_ratio": "DOUBLE",
               "sum_taker_long_short_vol_ratio": "DOUBLE"}
LIQ_COLS = {"time": "BIGINT", "side": "VARCHAR", "order_type": "VARCHAR", "time_in_force": "VARCHAR",
            "original_quantity": "DOUBLE", "price": "DOUBLE", "average_price": "DOUBLE",
            "order_status": "VARCHAR", "last_fill_quantity": "DOUBLE", "accumulated_fill_quantity": "DOUBLE"}

_LEN_COLS = {"aggtrades": AGG_COLS, "klines": KLINE_COLS, "metrics": METRIC_COLS, "liquidation-snapshot": LIQ_COLS}


class IngestError(Exception):
    """A file could not be loaded; the message names the file (and line when known). Nothing was loaded."""


@dataclass
class SourceFile:
    """One archive file: path, kind, and the UTC ms range [start, end) it is authoritative for."""

    path: Path
    kind: str
    symbol: str
    interval: str | None
    start: int
    end: int
    monthly: bool = False


@dataclass
class FileReport:
    """Outcome of one file: status in {loaded, skipped, dry-run, error}, rows, seconds, message."""

    file: str
    status: str
    rows: int = 0
    seconds: float = 0.0
    message: str = ""
    range: tuple[int, int] = (0, 0)


@dataclass
class IngestSummary:
    """All file reports of one ingest call plus totals."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files if f.status == "loaded")

    @property
    def errors(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "error"]


# ---------------------------------------------------------------- discovery

def _kind_dirs(data_dir: Path, kind: str, symbol: str, interval: str | None, freq: str) -> list[Path]:
    out = []
    for root in (data_dir, data_dir / "data"):
        d = root / "futures" / "um" / freq / DIR_NAME[kind] / symbol
        if kind == "klines":
            d = d / (interval or "15m")
        if d.is_dir():
            out.append(d)
    return out


_DAILY_RE = re.compile(r"-(\d{4})-(\d{2})-(\d{2})\.(zip|csv)$")
_MONTHLY_RE = re.compile(r"-(\d{4})-(\d{2})\.(zip|csv)$")


def discover(data_dir: str | Path, kind: str, symbol: str, start: dt.date, end: dt.date,
             interval: str | None = None) -> list[SourceFile]:
    """Files of ``kind``/``symbol`` covering days ``start..end`` (inclusive), oldest first.

    Daily files win; a monthly file is used only for a month with no daily file in range.
    Raises ValueError for an unknown kind or start > end.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if start > end:
        raise ValueError(f"start date {start} is after end date {end}")
    data_dir = Path(data_dir)
    lo, hi = day_ms(start), day_ms(end) + DAY_MS
    daily: dict[dt.date, Path] = {}
    for d in _kind_dirs(data_dir, kind, symbol, interval, "daily"):
        for p in sorted(d.iterdir()):
            m = _DAILY_RE.search(p.name)
            if not m or not p.name.startswith(symbol + "-"):
                continue
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
            if start <= day <= end and (day not in daily or p.suffix == ".zip"):
                daily[day] = p
    files = [SourceFile(p, kind, symbol, interval, day_ms(day), day_ms(day) + DAY_MS) for day, p in sorted(daily.items())]
    months_with_daily = {(d.year, d.month) for d in daily}
    for d in _kind_dirs(data_dir, kind, symbol, interval, "monthly"):
        for p in sorted(d.iterdir()):
            m = _MONTHLY_RE.search(p.name)
            if not m or not p.name.startswith(symbol + "-"):
                continue
            y, mo = int(m[1]), int(m[2])
            if (y, mo) in months_with_daily:
                continue
            m0 = day_ms(dt.date(y, mo, 1))
            m1 = day_ms(dt.date(y + (mo == 12), mo % 12 + 1, 1))
            s, e = max(m0, lo), min(m1, hi)
            if s < e:
                files.append(SourceFile(p, kind, symbol, interval, s, e, monthly=True))
    files.sort(key=lambda f: f.start)
    return files


# ---------------------------------------------------------------- loading

def sha256_of(path: Path) -> str:
    """Hex sha256 of a file (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_checksum(path: Path, digest: str) -> None:
    ck = path.with_name(path.name + ".CHECKSUM")
    if ck.exists():
        want = ck.read_text().split()[0].strip().lower() if ck.read_text().strip() else ""
        if want and want != digest:
            raise IngestError(f"{path}: sha256 {digest} does not match {ck.name} ({want})")


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no mtime/name, OS unknown (RFC 1952)


def _zip_member_as_gzip(zpath: Path, zi: zipfile.ZipInfo, out: Path) -> None:
    """Copy a deflated zip member's compressed bytes into a gzip file (header + same deflate
    stream + CRC-32 + size, RFC 1952): no inflate, no recompression, so DuckDB can read the CSV
    with ``compression='gzip'`` while it parses, instead of us inflating it to disk first."""
    with open(zpath, "rb") as fh, open(out, "wb") as dst:
        fh.seek(zi.header_offset)
        local = fh.read(30)  # local file header; name/extra lengths may differ from the central dir
        if local[:4] != b"PK\x03\x04":
            raise IngestError(f"{zpath}: bad local header for {zi.filename}")
        n_name, n_extra = struct.unpack("<HH", local[26:30])
        fh.seek(zi.header_offset + 30 + n_name + n_extra)
        dst.write(_GZIP_HEADER)
        left = zi.compress_size
        while left:
            chunk = fh.read(min(left, 1 << 22))
            if not chunk:
                raise IngestError(f"{zpath}: truncated zip member {zi.filename}")
            dst.write(chunk)
            left -= len(chunk)
        dst.write(struct.pack("<II", zi.CRC, zi.file_size & 0xFFFFFFFF))


class _Extracted:
    """Context manager yielding a CSV path DuckDB reads: a .csv as is, a .zip's deflated member
    re-wrapped as a temp ``.csv.gz`` (:func:`_zip_member_as_gzip`), other members inflated."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, None

    def __enter__(self) -> Path:
        if self.path.suffix != ".zip":
            return self.path
        try:
            with zipfile.ZipFile(self.path) as zf:
                members = [zi for zi in zf.infolist() if not zi.filename.endswith("/")]
                if len(members) != 1:
                    raise IngestError(f"{self.path}: expected one CSV inside the zip, found {[m.filename for m in members]}")
                zi = members[0]
                gz = zi.compress_type == zipfile.ZIP_DEFLATED
                fd, tmp = tempfile.mkstemp(suffix=".csv.gz" if gz else ".csv", prefix="liqmap-ingest-")
                os.close(fd)
                self.tmp = Path(tmp)
                if gz:
                    _zip_member_as_gzip(self.path, zi, self.tmp)
                else:
                    with zf.open(zi) as src, open(self.tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
        except zipfile.BadZipFile as exc:
            raise IngestError(f"{self.path}: not a valid zip ({exc})") from None
        return self.tmp

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _has_header(csv_path: Path) -> bool:
    opener = gzip.open if csv_path.suffix == ".gz" else open
    try:
        with opener(csv_path, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{csv_path}: cannot read ({exc})") from None
    if not first:
        return False
    cell = first.split(",")[0].strip().strip('"')
    try:
        float(cell)
        return False
    except ValueError:
        return not re.match(r"^\d{4}-\d{2}-\d{2}", cell)  # metrics rows start with a datetime string


_LINE_RE = re.compile(r"Line:\s*(\d+)")


def _friendly(exc: Exception, f: SourceFile) -> IngestError:
    msg = str(exc)
    m = _LINE_RE.search(msg)
    first = msg.splitlines()[0] if msg else type(exc).__name__
    detail = ""
    for line in msg.splitlines():
        if line.startswith("Original Line:") or line.startswith("Error when converting"):
            detail += " " + line.strip()
    where = f"{f.path}: line {m[1]}" if m else str(f.path)
    return IngestError(f"{where}: {first}.{detail}")


def load_file(con: duckdb.DuckDBPyConnection, f: SourceFile, *, dry_run: bool = False,
              force: bool = False, sha256: str | None = None) -> FileReport:
    """Load one file in one transaction (delete its range, insert, log). See module docstring.

    ``sha256``: the file's hex SHA-256 when the caller has just computed it (``liqmap download``
    verified it on arrival), saving one read of the file. Returns a FileReport; raises
    IngestError (file + line) on a bad file, with nothing loaded.
    """
    t0 = time.perf_counter()
    table = table_for(f.kind, f.interval)
    rec = FileRecord(f.kind, f.symbol, f.interval, f.path.name, f.path.stat().st_size, sha256 or sha256_of(f.path),
                     f.start, f.end)
    _verify_checksum(f.path, rec.sha256)
    if not dry_run and not force and file_loaded(con, rec):
        return FileReport(str(f.path), "skipped", 0, time.perf_counter() - t0, "already in ingest_log", (f.start, f.end))
    with _Extracted(f.path) as csv_path:
        header = _has_header(csv_path)
        sel = csv_rows_sql(f.kind, csv_path, _LEN_COLS[f.kind], header, f.symbol)
        try:
            if dry_run:
                n, n_in, tmin, tmax = count_rows(con, sel, f.start, f.end)
                msg = f"{n} rows ({n_in} in range), header={header}, ts {tmin}..{tmax} -> {table}"
                return FileReport(str(f.path), "dry-run", int(n_in), time.perf_counter() - t0, msg, (f.start, f.end))
            n = load_rows(con, sel, rec)
        except duckdb.Error as exc:
            raise _friendly(exc, f) from None
    return FileReport(str(f.path), "loaded", n, time.perf_counter() - t0, f"header={header}", (f.start, f.end))


def ingest(con: duckdb.DuckDBPyConnection, kind: str, symbol: str, start: dt.date, end: dt.date,
           data_dir: str | Path, *, interval: str | None = None, dry_run: bool = False, force: bool = False,
           on_file: Callable[[SourceFile, FileReport | None], None] | None = None,
           stop_on_error: bool = True) -> IngestSummary:
    """Discover and load every file of a kind/symbol/date range (module docstring).

    ``on_file(file, report)`` is called before (report None) and after each file (progress).
    A bad file raises IngestError when ``stop_on_error`` (files before it stay loaded, each
    complete); otherwise it is recorded with status "error" and the next file is tried.
    Raises ValueError for bad arguments and FileNotFoundError when no file matches.
    """
    symbol = symbol.upper()
    if kind == "klines":
        interval = interval or "15m"
        table_for(kind, interval)
    files = discover(data_dir, kind, symbol, start, end, interval)
    if not files:
        raise FileNotFoundError(
            f"no {kind} files for {symbol} {start}..{end} under {data_dir} "
            f"(expected futures/um/daily/{DIR_NAME[kind]}/{symbol}/...)")
    apply_migrations(con)  # the tables: storage/migrations/duckdb/0004_archive_history.sql
    summary = IngestSummary()
    for f in files:
        if on_file:
            on_file(f, None)
        try:
            rep = load_file(con, f, dry_run=dry_run, force=force)
        except IngestError as exc:
            rep = FileReport(str(f.path), "error", 0, 0.0, str(exc), (f.start, f.end))
            summary.files.append(rep)
            if on_file:
                on_file(f, rep)
            if stop_on_error:
                raise
            continue
        summary.files.append(rep)
        if on_file:
            on_file(f, rep)
    return summary
