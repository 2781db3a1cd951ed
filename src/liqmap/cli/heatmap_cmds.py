"""``liqmap ingest ...`` (local data.binance.vision files); ``liqmap validate`` is in cli.validate_cmd.

Fetching files and venue REST history: ``liqmap download`` / ``liqmap backfill`` (cli.history_cmds).

Commands register on liqmap.cli.app (see liqmap/cli/__init__.py)::

    liqmap ingest aggtrades --symbol ETHUSDT --start-date 2024-11-01 --end-date 2024-11-30 --data-dir DIR [--db PATH] [--dry-run] [--force]
    liqmap ingest klines    --symbol ETHUSDT --start-date ... --end-date ... --data-dir DIR --interval 15m
    liqmap ingest metrics | liquidation-snapshot  (same options as aggtrades)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from liqmap.cli import app

ingest_app = typer.Typer(help="Load local data.binance.vision files into DuckDB (fetch them: liqmap download).",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

_console = Console(stderr=True)


def _db(db: str | None) -> str:
    from liqmap.settings import get_settings

    path = db or get_settings().db
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


def _date(s: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise typer.BadParameter(f"{name} must be YYYY-MM-DD, got {s!r}") from None


def _run_files(kind: str, symbol: str, start_date: str, end_date: str, data_dir: Path, db: str | None,
               interval: str | None, dry_run: bool, force: bool) -> None:
    if not (start_date and end_date and data_dir):
        raise typer.BadParameter("--start-date, --end-date and --data-dir are required for file ingest")
    import duckdb

    from liqmap.heatmap.ingest import IngestError, discover, ingest

    start, end = _date(start_date, "--start-date"), _date(end_date, "--end-date")
    try:
        files = discover(data_dir, kind, symbol.upper(), start, end, interval)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not files:
        _console.print(f"[red]no {kind} files for {symbol.upper()} {start}..{end} under {data_dir}[/red]")
        raise typer.Exit(2)
    con = duckdb.connect(":memory:" if dry_run else _db(db))
    total = sum(f.path.stat().st_size for f in files)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=_console) as prog:
        task = prog.add_task(f"{kind} {symbol.upper()}", total=len(files), rows=0)
        state = {"rows": 0}

        def on_file(f, rep):
            if rep is None:
                prog.update(task, description=f"{kind} {f.path.name}")
                return
            state["rows"] += rep.rows
            prog.update(task, advance=1, rows=state["rows"])
            if rep.status == "dry-run":
                prog.console.print(f"would load {f.path}: {rep.message}")
            elif rep.status == "skipped":
                prog.console.print(f"skip {f.path.name}: {rep.message}")
        try:
            summary = ingest(con, kind, symbol, start, end, data_dir, interval=interval, dry_run=dry_run,
                             force=force, on_file=on_file)
        except IngestError as exc:
            prog.stop()
            _console.print(f"[red]error:[/red] {exc}")
            _console.print("nothing of that file was loaded (transaction rolled back); earlier files stay loaded.")
            raise typer.Exit(1) from None
    verb = "would load" if dry_run else "loaded"
    skipped = sum(f.status == "skipped" for f in summary.files)
    _console.print(f"{verb} {sum(f.rows for f in summary.files):,} rows from {len(summary.files) - skipped} files "
                   f"({total / 1e6:.1f} MB){'' if dry_run else ' into ' + _db(db)}"
                   + (f"; {skipped} files skipped (already in ingest_log with the same sha256; --force reloads)"
                      if skipped else ""))


_SYMBOL = typer.Option(..., "--symbol", help="e.g. ETHUSDT")
_START = typer.Option(None, "--start-date", help="YYYY-MM-DD (inclusive)")
_END = typer.Option(None, "--end-date", help="YYYY-MM-DD (inclusive)")
_DIR = typer.Option(None, "--data-dir", help="folder holding futures/um/... (or data/futures/um/...)")
_DBO = typer.Option(None, "--db", help="DuckDB file (default LIQMAP_DB)")
_DRY = typer.Option(False, "--dry-run", help="validate files and print what would be loaded")
_FORCE = typer.Option(False, "--force", help="reload files already in the ingest log")


def _files_command(kind: str, doc: str) -> Callable[..., None]:
    """One ``liqmap ingest <kind>`` command: the same options, loaded by :func:`_run_files`."""

    def command(symbol: str = _SYMBOL, start_date: str = _START, end_date: str = _END,
                data_dir: Path = _DIR, db: str = _DBO, dry_run: bool = _DRY, force: bool = _FORCE) -> None:
        _run_files(kind, symbol, start_date, end_date, data_dir, db, None, dry_run, force)

    command.__doc__ = doc
    return command


for _kind, _doc in (
    ("aggtrades", "aggTrades files -> aggtrades_history."),
    ("metrics", "metrics files (5-minute OI, contracts and USDT value) -> open_interest_history."),
    ("liquidation-snapshot",
     "liquidationSnapshot files (USDⓈ-M archive ended 2024-03-31) -> liquidation_snapshot_history."),
):
    ingest_app.command(_kind)(_files_command(_kind, _doc))


@ingest_app.command("klines")
def ingest_klines(symbol: str = _SYMBOL, start_date: str = _START, end_date: str = _END,
                  data_dir: Path = _DIR, db: str = _DBO, interval: str = typer.Option("15m", "--interval"),
                  dry_run: bool = _DRY, force: bool = _FORCE) -> None:
    """klines files -> `klines_<interval>_history`."""
    _run_files("klines", symbol, start_date, end_date, data_dir, db, interval, dry_run, force)
