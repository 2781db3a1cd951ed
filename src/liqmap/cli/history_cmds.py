"""``liqmap download`` (data.binance.vision archives) and ``liqmap backfill`` (venue REST history).

Commands register on liqmap.cli.app::

    liqmap download --symbol BTCUSDT --start-date 2025-12-01 --end-date 2025-12-31
                    [--data aggTrades,klines,metrics] [--interval 5m ...] [--db PATH] [--dest DIR]
                    [--base-url URL] [--parallel 4]
    liqmap backfill [-e binance,bybit,okx] [-s BTCUSDT,ETHUSDT] [--days 3 | --start-date D --end-date D]
                    [--interval 5m] [--db PATH] [--base-url venue=URL ...]

Exit codes: 0 everything stored; 1 a failure (host unreachable, checksum mismatch, bad file,
venue error, database locked); 2 bad arguments; 3 (download only) finished, but the archive has
no file for some requested days (each named on stderr).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from liqmap.cli import app
from liqmap.cli.serve_cmds import _fail, _parse_urls, _split

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)
EXIT_MISSING = 3


def _date(s: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except (TypeError, ValueError):
        _fail(f"{name} must be YYYY-MM-DD, got {s!r}")


def _connect(db: str | None):
    import duckdb

    from liqmap.settings import get_settings

    path = db or get_settings().db
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(path), path
    except duckdb.Error as exc:
        _fail(f"cannot open {path}: {str(exc).splitlines()[0]} (is `liqmap serve` writing to it?)", 1)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), console=err)


def _run_download(symbol, datasets, intervals, start, end, con, dest, base_url, parallel, retries):
    from liqmap.history.download import download

    with _progress() as prog:
        fetch = prog.add_task("download", total=0, info="")
        load = prog.add_task("ingest", total=0, info="0 rows")
        rows, nbytes = [0], [0]

        def on(event, f, payload):
            if event == "planned":
                prog.update(fetch, total=prog.tasks[fetch].total + payload)
                prog.update(load, total=prog.tasks[load].total + payload)
            elif event == "bytes":
                nbytes[0] += payload
                prog.update(fetch, info=f"{nbytes[0] / 1e6:,.1f} MB  {f.label}")
            elif event == "fetched":
                prog.advance(fetch)
                if payload.path is None:  # nothing to ingest for this file
                    prog.advance(load)
            elif event == "ingested":
                rows[0] += payload.rows if payload.status == "loaded" else 0
                prog.update(load, advance=1, info=f"{rows[0]:,} rows")
        return asyncio.run(download(symbol, datasets, intervals, start, end, con=con, dest=dest, base_url=base_url,
                                    parallel=parallel, progress=on, retries=retries))


@app.command("download")
def download_cmd(
    symbol: str = typer.Option(..., "--symbol", "-s", help="Binance USD-M symbol, e.g. BTCUSDT"),
    start_date: str = typer.Option(..., "--start-date", help="first day, YYYY-MM-DD (UTC, inclusive)"),
    end_date: str = typer.Option(..., "--end-date", help="last day, YYYY-MM-DD (UTC, inclusive)"),
    data: str = typer.Option("aggTrades,klines,metrics", "--data", metavar="DATASET,...", help="datasets: aggTrades,klines,metrics"),
    interval: Optional[List[str]] = typer.Option(None, "--interval", metavar="INTERVAL,...", help="kline interval(s), default 5m"),
    db: Optional[str] = typer.Option(None, "--db", help="DuckDB file (default LIQMAP_DB)"),
    dest: Optional[Path] = typer.Option(None, "--dest", help="archive folder (default LIQMAP_DOWNLOAD_DIR)"),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="archive root (default https://data.binance.vision)"),
    parallel: int = typer.Option(4, "--parallel", help="concurrent downloads"),
    retries: int = typer.Option(3, "--retries", help="retries per file after a network error, HTTP 5xx or 429"),
) -> None:
    """Download data.binance.vision archives (verified, resumable) and ingest them into DuckDB."""
    from liqmap.history.fetch import ArchiveUnreachable
    from liqmap.history.vision import BASE_URL, plan
    from liqmap.settings import get_settings

    start, end = _date(start_date, "--start-date"), _date(end_date, "--end-date")
    datasets = _split([data]) or []
    intervals = _split(interval) or ["5m"]
    try:
        plan(symbol.upper(), datasets, intervals, start, end, dt.date.today())  # argument check only
    except ValueError as exc:
        _fail(str(exc))
    if parallel < 1:
        _fail(f"--parallel must be >= 1, got {parallel}")
    if base_url and not base_url.startswith(("http://", "https://")):
        _fail(f"--base-url must start with http:// or https://, got {base_url!r}")
    dest = dest or Path(get_settings().download_dir)
    con, path = _connect(db)
    try:
        rep = _run_download(symbol.upper(), datasets, intervals, start, end, con, dest, base_url or BASE_URL,
                            parallel, max(0, retries))
    except ArchiveUnreachable as exc:
        _fail(f"{exc} -- nothing more downloaded (files already ingested stay)", 1)
    except OSError as exc:  # disk full, no permission under --dest
        _fail(f"cannot write the archive files: {exc}", 1)
    finally:
        con.close()
    _summary(rep, dest, path)


def _day_ranges(results) -> str:
    """``metrics 2025-12-01..2025-12-04, 2025-12-08; klines 5m 2025-12-02`` (consecutive days merged)."""
    groups: dict[str, list[dt.date]] = {}
    for r in results:
        f = r.file
        groups.setdefault(f"{f.dataset}{' ' + f.interval if f.interval else ''}", []).extend(
            [d.first for d in f.days()] if f.monthly else [f.first])
    parts = []
    for key, days in sorted(groups.items()):
        days = sorted(set(days))
        runs, lo = [], days[0]
        for a, b in zip(days, days[1:] + [None]):
            if b is None or (b - a).days != 1:
                runs.append(lo.isoformat() if lo == a else f"{lo}..{a}")
                lo = b
        parts.append(f"{key} {', '.join(runs)} ({len(days)} day{'s' * (len(days) > 1)})")
    return "; ".join(parts)


def _summary(rep, dest, path) -> None:
    got = [r for r in rep.fetched if r.path is not None]
    kept = sum(r.status == "cached" for r in got)
    resumed = sum(r.status == "resumed" for r in got)
    skipped = sum(r.status == "skipped" for r in rep.ingested)
    err.print(f"{len(got)} file{'s' * (len(got) != 1)} verified ({rep.nbytes / 1e6:,.1f} MB downloaded, {resumed} resumed, "
              f"{kept} already here) under {dest}; {rep.rows:,} rows ingested into {path}"
              + (f" ({skipped} files were already ingested)" if skipped else ""))
    if rep.missing:
        err.print(f"[yellow]missing on the archive (HTTP 404), not ingested:[/] {escape(_day_ranges(rep.missing))}")
    for e in rep.errors:
        err.print(f"[bold red]error:[/] {escape(e)}")
    if rep.errors:
        raise typer.Exit(1)
    if rep.missing:
        raise typer.Exit(EXIT_MISSING)


def _window(days: float, start_date: str | None, end_date: str | None) -> tuple[int, int]:
    from liqmap.units import DAY_MS, day_ms, now_ms

    now = now_ms()
    if start_date or end_date:
        if not (start_date and end_date):
            _fail("--start-date and --end-date go together")
        s, e = _date(start_date, "--start-date"), _date(end_date, "--end-date")
        if s > e:
            _fail(f"--start-date {s} is after --end-date {e}")
        return day_ms(s), min(day_ms(e) + DAY_MS, now)
    if not 0 < days <= 365:
        _fail(f"--days must be in (0, 365], got {days}")
    return now - int(days * DAY_MS), now


@app.command("backfill")
def backfill_cmd(
    exchanges: Optional[List[str]] = typer.Option(None, "--exchanges", "-e", metavar="VENUE,...", help="binance,bybit,okx (default all three)"),
    symbols: Optional[List[str]] = typer.Option(None, "--symbols", "-s", metavar="SYMBOL,...", help="e.g. BTCUSDT,ETHUSDT (default BTCUSDT)"),
    days: float = typer.Option(3.0, "--days", help="how far back from now"),
    start_date: Optional[str] = typer.Option(None, "--start-date", help="instead of --days: first day YYYY-MM-DD"),
    end_date: Optional[str] = typer.Option(None, "--end-date", help="with --start-date: last day YYYY-MM-DD"),
    interval: str = typer.Option("5m", "--interval", help="OI period and kline interval"),
    db: Optional[str] = typer.Option(None, "--db", help="DuckDB file (default LIQMAP_DB)"),
    base_url: Optional[List[str]] = typer.Option(None, "--base-url", metavar="VENUE=URL", help="venue REST root: name=https://..."),
    retries: int = typer.Option(3, "--retries", help="retries per request after a network error, HTTP 5xx or 429"),
) -> None:
    """Fetch recent open interest and klines from the venues' public REST APIs into DuckDB."""
    from liqmap.history.backfill import VENUES, backfill_many
    from liqmap.units import INTERVAL_MS

    venues = [v.lower() for v in _split(exchanges) or list(VENUES)]
    bad = [v for v in venues if v not in VENUES]
    if bad:
        _fail(f"backfill supports {', '.join(VENUES)}; unknown: {', '.join(bad)}")
    if interval not in INTERVAL_MS:
        _fail(f"--interval must be one of {', '.join(INTERVAL_MS)}, got {interval!r}")
    syms = [s.upper() for s in (_split(symbols) or ["BTCUSDT"])]
    urls = _parse_urls(base_url, "--base-url", ("http://", "https://"))
    start_ms, end_ms = _window(days, start_date, end_date)
    con, path = _connect(db)
    try:
        with err.status(f"backfilling {', '.join(syms)} from {', '.join(venues)} ..."):
            results = asyncio.run(backfill_many(venues, syms, start_ms, end_ms, con, base_urls=urls, interval=interval,
                                                retries=max(0, retries)))
    finally:
        con.close()
    t = Table(title=f"REST backfill into {path} ({interval})")
    for c in ("venue", "symbol", "open interest rows", "kline rows", "notes"):
        t.add_column(c)
    for r in results:
        t.add_row(r.venue, r.symbol, str(r.oi_rows), str(r.kline_rows),
                  "failed (below)" if r.error else escape("; ".join(r.notes)), style="red" if r.error else None)
    out.print(t)
    for r in results:
        if r.error:
            err.print(f"[bold red]error:[/] {escape(r.error)}")
    if any(r.error for r in results):
        raise typer.Exit(1)
