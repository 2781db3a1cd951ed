"""``liqmap download``: fetch data.binance.vision archives and ingest them into DuckDB.

:func:`download` plans the files (:func:`liqmap.history.vision.plan`), fetches them with at most
``parallel`` transfers at a time (:func:`liqmap.history.fetch.fetch_file`: published SHA-256,
HTTP Range resume), and hands every verified file to the existing file ingest
(:func:`liqmap.heatmap.ingest.load_file`: one transaction per file that replaces the file's UTC
range, skipped when the same file is already in ``ingest_log``), so a re-run neither downloads
nor stores anything twice. Ingest runs in a worker thread while later files still download.

A monthly file that is missing falls back to its daily files; a missing daily file is reported
by name (``DownloadReport.missing``) and the run goes on. A host that cannot be reached stops
the run with :class:`~liqmap.history.fetch.ArchiveUnreachable`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import httpx

from liqmap.heatmap.ingest import FileReport, IngestError, SourceFile, load_file
from liqmap.storage.duckdb_store import apply_migrations
from liqmap.history.fetch import FetchResult, fetch_file
from liqmap.history.vision import BASE_URL, ArchiveFile, plan


@dataclass
class DownloadReport:
    """Everything one :func:`download` call did.

    ``fetched``: one FetchResult per file tried (monthly files that fell back to daily ones are
    listed as ``missing`` with a note); ``ingested``: one ingest FileReport per verified file.
    """

    fetched: list[FetchResult] = field(default_factory=list)
    ingested: list[FileReport] = field(default_factory=list)
    fallbacks: list[ArchiveFile] = field(default_factory=list)

    @property
    def missing(self) -> list[FetchResult]:
        """Files the server does not have (days named in ``.file.period``), fallbacks excluded."""
        fell = set(self.fallbacks)
        return [r for r in self.fetched if r.status == "missing" and r.file not in fell]

    @property
    def errors(self) -> list[str]:
        """One line per failed file (checksum mismatch, HTTP error, bad file)."""
        out = [r.message for r in self.fetched if r.status == "error"]
        return out + [r.message for r in self.ingested if r.status == "error"]

    @property
    def rows(self) -> int:
        """Rows inserted in this run (files already ingested count 0)."""
        return sum(r.rows for r in self.ingested if r.status == "loaded")

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.fetched)


#: progress callback: (event, file, payload) with event in
#: "planned" (payload = number of files), "bytes" (payload = byte count), "fetched" (FetchResult),
#: "ingested" (FileReport)
Progress = Callable[[str, ArchiveFile | None, object], None]


def _source(r: FetchResult) -> SourceFile:
    f = r.file
    return SourceFile(r.path, f.kind, f.symbol, f.interval, f.start_ms, f.end_ms, monthly=f.monthly)


async def _ingest_worker(con: duckdb.DuckDBPyConnection, queue: asyncio.Queue, report: DownloadReport,
                         progress: Progress) -> None:
    while (r := await queue.get()) is not None:
        try:
            rep = await asyncio.to_thread(load_file, con, _source(r), sha256=r.sha256)
        except IngestError as exc:
            rep = FileReport(str(r.path), "error", message=str(exc))
        report.ingested.append(rep)
        progress("ingested", r.file, rep)


async def download(symbol: str, datasets: list[str], intervals: list[str], start: dt.date, end: dt.date, *,
                   con: duckdb.DuckDBPyConnection, dest: str | Path, base_url: str = BASE_URL,
                   parallel: int = 4, today: dt.date | None = None, client: httpx.AsyncClient | None = None,
                   progress: Progress = lambda *a: None, **fetch_kw) -> DownloadReport:
    """Fetch, verify and ingest ``datasets`` of ``symbol`` for days ``start..end`` (inclusive).

    Args:
        symbol: Binance USD-M symbol, e.g. ``BTCUSDT`` (upper-cased).
        datasets: subset of ``aggTrades``, ``klines``, ``metrics``.
        intervals: kline intervals (``5m``, ``1h`` ...), used for ``klines``.
        con: DuckDB connection the ingest writes to (pending storage migrations applied first).
        dest: folder the archive tree is mirrored into (``dest/data/futures/um/...``).
        base_url: archive root, default ``https://data.binance.vision``.
        parallel: concurrent transfers (>= 1).
        today: current UTC date (default: now), decides which months are complete.
        fetch_kw: passed to :func:`~liqmap.history.fetch.fetch_file` (``retries``, ``min_retry_s``, ``sleep``).

    Raises:
        ValueError: bad dataset / interval / dates / parallel.
        ArchiveUnreachable: the host cannot be reached (files already ingested stay ingested).
    """
    if parallel < 1:
        raise ValueError(f"--parallel must be >= 1, got {parallel}")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    files = plan(symbol.upper(), datasets, intervals, start, end, today)
    apply_migrations(con)
    report = DownloadReport()
    progress("planned", None, len(files))
    sem = asyncio.Semaphore(parallel)
    queue: asyncio.Queue = asyncio.Queue()
    worker = asyncio.create_task(_ingest_worker(con, queue, report, progress))
    own = client is None
    client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True)

    async def one(f: ArchiveFile) -> None:
        async with sem:
            r = await fetch_file(client, base_url, f, Path(dest), on_bytes=lambda n: progress("bytes", f, n),
                                 **fetch_kw)
        report.fetched.append(r)
        if r.status == "missing" and f.monthly:
            report.fallbacks.append(f)
            progress("planned", None, len(f.days()))
            progress("fetched", f, r)
            await asyncio.gather(*(one(d) for d in f.days()))
            return
        progress("fetched", f, r)
        if r.path is not None:
            await queue.put(r)

    tasks = [asyncio.create_task(one(f)) for f in files]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        await queue.put(None)
        await worker
        if own:
            await client.aclose()
    return report
