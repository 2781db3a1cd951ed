"""``liqmap replay``: recorded files -> live venue parsers -> print and/or store.

Registers on :data:`liqmap.cli.app`. The files become a replay feed of an
:class:`~liqmap.feed.aggregator.ExchangeAggregator` (the one ingestion path); this module
only parses options, taps the parsed events for printing (stdout, JSON lines), writes the
aggregator's stream to storage, and prints the summary (stderr, rich).

Exit codes: 0 done (parse errors are counted, not fatal); 1 a storage tier failed (e.g.
``--postgres`` names a database that does not exist): nothing more is written and the error is
named; 2 bad usage, missing file or unrecognized file format (one-line message on stderr).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from liqmap.cli import app
from liqmap.models import Event, Liquidation, event_type, to_dict, to_json
from liqmap.replay.formats import FORMATS, UnknownFormatError
from liqmap.replay.runner import ReplayStats

_encoder = msgspec.json.Encoder()
_KIND_LABELS = {
    "liquidation": "liquidations", "trade": "trades", "openinterest": "oi",
    "ticker": "tickers", "kline": "klines", "gap": "gaps",
}


def _fail(console: Console, message: str) -> None:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _event_line(ev: Event, all_events: bool) -> bytes:
    if not all_events:
        return to_json(ev) + b"\n"
    return _encoder.encode({"type": event_type(ev), **to_dict(ev)}) + b"\n"


def _reasons(counter: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "-"


def print_summary(console: Console, stats: ReplayStats) -> None:
    """Render per-file reading counts, events per exchange and parse errors (stderr)."""
    files = Table(title="replay: files", title_justify="left")
    files.add_column("file", overflow="fold", max_width=40)
    files.add_column("format", no_wrap=True)
    for col in ("lines", "frames", "skipped", "repaired"):
        files.add_column(col, justify="right", no_wrap=True)
    read = [fs for fs in stats.files if fs.format != "unknown"]
    for fs in read:
        files.add_row(
            escape(Path(fs.path).name), fs.format, str(fs.lines), str(fs.frames),
            str(fs.skipped_total), str(sum(fs.repaired.values())),
        )
    console.print(files)
    for fs in read:
        name = Path(fs.path).name
        if fs.skipped:
            console.print(f"skipped: {name}: {_reasons(fs.skipped)}", highlight=False, soft_wrap=True, markup=False)
        if fs.repaired:
            console.print(f"repaired: {name}: {_reasons(fs.repaired)}", highlight=False, soft_wrap=True, markup=False)
    ignored = [Path(fs.path).name for fs in stats.files if fs.format == "unknown"]
    if ignored:
        console.print(
            f"ignored {len(ignored)} file(s) in directories, not a replay format: {', '.join(ignored)}",
            highlight=False, soft_wrap=True, markup=False,
        )
    exchanges = sorted(
        {ex for ex, _ in stats.events} | set(stats.parse_errors) | set(stats.no_parser)
    )
    if exchanges:
        ev = Table(title="replay: events per exchange", title_justify="left")
        kinds = sorted({k for _, k in stats.events}, key=lambda k: (k != "liquidation", k))
        ev.add_column("exchange", no_wrap=True)
        for col in (*(_KIND_LABELS.get(k, k) for k in kinds), "parse errors", "no parser"):
            ev.add_column(col, justify="right", no_wrap=True)
        for ex in exchanges:
            ev.add_row(
                escape(ex), *(str(stats.events[(ex, k)]) for k in kinds),
                str(stats.parse_errors[ex]), str(stats.no_parser[ex]),
            )
        console.print(ev)
    notes: dict[str, list[str]] = {}
    for fs in read:
        for note in fs.notes:
            notes.setdefault(note, []).append(Path(fs.path).name)
    for note, names in notes.items():
        where = names[0] if len(names) == 1 else f"{len(names)} files"
        console.print(f"note: {where}: {note}", highlight=False, soft_wrap=True, markup=False)
    if stats.out_of_order:
        console.print(
            f"note: {stats.out_of_order} frames arrived more than the re-order window late "
            "and were replayed out of time order", highlight=False, markup=False,
        )
    for ex, samples in stats.error_samples.items():
        for s in samples:
            console.print(f"parse error ({ex}): {s}", highlight=False, soft_wrap=True, markup=False)
    for ex, n in stats.no_parser.items():
        console.print(f"note: {n} {ex} frames not parsed: no liqmap parser for {ex} is installed",
                      highlight=False, markup=False)


def print_store_summary(console: Console, summary: Any) -> None:
    """Render the storage summary dict (nested dicts become ``a.b`` rows) as a table."""
    table = Table(title="replay: stored", title_justify="left")
    table.add_column("item")
    table.add_column("value", justify="right")

    def rows(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                rows(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            table.add_row(escape(prefix), escape(str(value)))

    rows("", summary if isinstance(summary, dict) else {"result": summary})
    console.print(table)


def _open_store(db: Path | None, redis_url: str | None, postgres_dsn: str | None) -> Any:
    from liqmap.storage.tiered import TieredStore

    # strict: a tier the user named (--redis/--postgres) that cannot connect, or is still missing
    # events when the replay ends, ends it with exit 1 instead of one row of the summary. A
    # replay outruns PostgreSQL, so its mirror may fall behind and back-fill from DuckDB: close()
    # gives it up to 10 minutes to finish
    return TieredStore(
        db_path=str(db) if db else None, redis_url=redis_url, postgres_dsn=postgres_dsn, strict=True,
        drain_s=600.0,
    )


def _printer(all_events: bool) -> Callable[[Event], None]:
    """Tap writing each parsed event to stdout as a JSON line (liquidations, or every kind)."""
    out = sys.stdout.buffer

    def print_event(ev: Event) -> None:
        if all_events or type(ev) is Liquidation:
            out.write(_event_line(ev, all_events))

    return print_event


async def _run(agg: Any, store: Any, printer: Callable[[Event], None] | None = None) -> Any:
    """Run the aggregator's replays to the end; its lossless, de-duplicated stream goes to
    ``printer`` (each event once) and, with a store, to storage.

    Returns the store's summary (None without a store). Raises what ended the replay
    (``BrokenPipeError`` from the printer, a ``StorageError`` from the store).
    """
    stream = agg.subscribe(queue_size=None) if store is not None or printer is not None else None
    await agg.connect_all()
    try:
        if stream is not None:
            async for batch in stream.batches():
                if printer is not None:
                    for ev in batch:
                        printer(ev)
                if store is not None:
                    await store.write(batch)
        await agg.wait_replays()
    finally:
        await agg.disconnect_all()
        sys.stdout.buffer.flush()
    if store is None:
        return None
    summary = await store.close()
    if isinstance(summary, dict):  # the store sees the deduplicated stream: say what it never saw
        summary = {"stream": {"events": agg.published, "duplicates_dropped": agg.duplicates}, **summary}
    return summary


async def _abandon(store: Any) -> None:
    """After a storage error: close the store without waiting for the failed tier (drain 0), so
    its mirror thread stops and the DuckDB file is closed (an open connection left to interpreter
    exit makes DuckDB's bindings print some 50 "nanobind: leaked" lines). Errors are already reported."""
    if store is None:
        return
    store.drain_s = 0.0
    try:
        await store.close()
    except Exception:  # noqa: BLE001 - the failure that brought us here was reported
        pass


def _check_options(console: Console, fmt: str, exchange: str | None, speed: float | None, afap: bool) -> None:
    """Exit 2 with one line for an unknown format / exchange or contradicting pacing options."""
    if fmt != "auto" and fmt not in FORMATS:
        _fail(console, f"unknown --format {fmt!r}; choose auto, {', '.join(FORMATS)}")
    if exchange is not None:
        from liqmap.exchanges.registry import VENUE_NAMES

        if exchange not in VENUE_NAMES:
            _fail(console, f"unknown --exchange {exchange!r}; known: {', '.join(VENUE_NAMES)}")
    if speed is not None and afap:
        _fail(console, "--speed and --as-fast-as-possible are mutually exclusive")
    if speed is not None and speed <= 0:
        _fail(console, f"--speed must be > 0 (got {speed})")


def _replay_session(console: Console, files: list[Path], db: Path | None, redis: str | None,
                    postgres: str | None, **replay: Any) -> tuple[Any, Any, Any]:
    """``(aggregator, replay feed, store or None)``; exits 2 for unreadable inputs or storage."""
    from liqmap.feed.aggregator import ExchangeAggregator
    from liqmap.feed.replay import ReplayFeed

    agg = ExchangeAggregator(exchanges=[])
    try:
        feed = agg.add_replay(ReplayFeed(files, **replay))
    except (UnknownFormatError, FileNotFoundError, ValueError) as exc:
        _fail(console, str(exc))
    store = None
    if db or redis or postgres:
        try:
            store = _open_store(db, redis, postgres)
        except ImportError as exc:
            _fail(console, f"storage is not available in this build ({exc})")
        except (RuntimeError, OSError, ValueError) as exc:  # StorageError is a RuntimeError
            _fail(console, f"cannot open storage: {exc}")
    return agg, feed, store


@app.command()
def replay(
    files: list[Path] = typer.Argument(..., metavar="FILE", help="Recorded files (gz or plain, any known format) or directories of them."),
    exchange: Optional[str] = typer.Option(
        None, "--exchange", "-e",
        help="Only replay this venue. For Binance captures it can also pick "
        "binance_coinm (a COIN-M forceOrder capture).",
    ),
    fmt: str = typer.Option(
        "auto", "--format", "-f", help=f"auto|{'|'.join(FORMATS)} (auto sniffs each file's content)."
    ),
    speed: Optional[float] = typer.Option(
        None, "--speed", help="Replay N times faster than recorded (sleeps between frames)."
    ),
    as_fast_as_possible: bool = typer.Option(
        False, "--as-fast-as-possible", help="No sleeping (the default unless --speed is given)."
    ),
    max_gap: Optional[float] = typer.Option(
        None, "--max-gap", help="With --speed: cap any idle gap at this many seconds."
    ),
    print_: bool = typer.Option(
        False, "--print", help="Print normalized liquidations as JSON lines (Liquidation fields), each event id once."
    ),
    all_events: bool = typer.Option(
        False, "--all-events", help="Print every event type, with a \"type\" key added."
    ),
    with_duplicates: bool = typer.Option(
        False, "--with-duplicates", help="Print every parsed event, also repeats of an id already printed "
        "(e.g. a capture written by two listeners); for checking a parser."
    ),
    db: Optional[Path] = typer.Option(None, "--db", help="Store into this DuckDB file."),
    redis: Optional[str] = typer.Option(None, "--redis", help="Also mirror into Redis (URL); DuckDB (--db or the default path) is always written."),
    postgres: Optional[str] = typer.Option(None, "--postgres", help="Also mirror into PostgreSQL (DSN); DuckDB is always written."),
    unordered: bool = typer.Option(
        False, "--unordered", help="Stream files in file order (constant memory, no time sort)."
    ),
) -> None:
    """Replay recorded market data through the same venue parsers as live.

    Frames are sorted by receive time within each file and merged across files.
    Events go to stdout (--print / --all-events) and/or storage (--db/--redis/--postgres):
    both get the aggregator's de-duplicated stream, as `serve` stores and broadcasts it,
    so each event id is printed once (--with-duplicates: every parsed event). A summary of
    frames, events, duplicates, parse errors and skipped lines goes to stderr.
    """
    console = Console(stderr=True)
    if not console.is_terminal:  # logs / CI: do not squeeze the tables to 80 columns
        console.width = max(console.width, 120)
    exchange = exchange.strip().lower() if exchange else exchange  # venue names are case-insensitive
    _check_options(console, fmt, exchange, speed, as_fast_as_possible)
    agg, feed, store = _replay_session(
        console, files, db, redis, postgres, fmt=fmt, exchange=exchange, ordered=not unordered,
        speed=None if as_fast_as_possible else speed, max_gap_s=max_gap)
    printer = _printer(all_events) if print_ or all_events else None
    if printer is not None and with_duplicates:
        feed.add_listener(printer)  # before the aggregator's dedupe: every parsed event
        printer = None
    try:
        if console.is_terminal:
            names = ", ".join(Path(f).name for f in files[:3]) + (" ..." if len(files) > 3 else "")
            with console.status(f"replaying {names}"):
                summary = asyncio.run(_run(agg, store, printer))
        else:
            summary = asyncio.run(_run(agg, store, printer))
    except BrokenPipeError:  # e.g. `liqmap replay ... --print | head`
        sys.stderr.close()
        raise typer.Exit(0)
    except RuntimeError as exc:  # StorageError while writing: say so, keep the counts
        asyncio.run(_abandon(store))
        print_summary(console, feed.runner.stats)
        console.print(f"[red]error:[/red] storage failed: {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    print_summary(console, feed.runner.stats)
    if summary is not None:
        print_store_summary(console, summary)
    else:
        console.print(f"stream: {agg.published} events, {agg.duplicates} duplicates dropped (same event id"
                      + (", printed anyway: --with-duplicates)" if with_duplicates else ", not printed)"),
                      highlight=False, markup=False)
