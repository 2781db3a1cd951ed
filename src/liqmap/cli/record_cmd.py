"""``liqmap record``: capture live venue frames into a replayable recording.

Writes the project recording format (see :mod:`liqmap.feed.recorder`): gzip
JSON lines, header line, the contract sizes loaded from the venues'
instruments endpoints (one ``liqmap``/``contracts`` frame, when any loaded),
then one RawFrame per line, exactly the text each venue sent. Frames are
flushed every second, so a killed process loses at most ~1 s. Ctrl-C /
SIGTERM / ``--duration`` end it cleanly (gzip trailer written, exit code 0).
A live status line (rich) goes to stderr.

Example::

    liqmap record --exchanges binance,bybit --out data/rec.jsonl.gz --duration 600
    liqmap record -e hyperliquid -o /tmp/h.jsonl.gz --ws-url hyperliquid=ws://127.0.0.1:9000

Exit codes: 0 done; 1 no venue sent a frame (offline, blocked, wrong URL: each venue's last
error is named, and the empty recording is removed); 2 bad usage (unknown exchange, bad
``--ws-url``, bad symbol).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from liqmap.cli import app
from liqmap.cli.serve_cmds import symbol_list, venue_urls
from liqmap.exchanges.contracts import default_contracts
from liqmap.feed.recorder import RecordingWriter, contracts_frame


def _status(agg, writer: RecordingWriter, started: float) -> Text:
    parts = [f"recording {time.monotonic() - started:6.0f} s  frames {writer.frames:>8}  "]
    for name, adapter in agg.adapters.items():
        h = adapter.health()
        mark = "[green]●[/green]" if h.is_connected else "[red]○[/red]"
        parts.append(f"{mark} {name} {h.message_count} msg {h.event_count} ev")
        if h.parse_errors:
            parts.append(f" [yellow]{h.parse_errors} bad[/yellow]")
        if h.reconnects:
            parts.append(f" [yellow]{h.reconnects} rc[/yellow]")
        parts.append("  ")
    return Text.from_markup("".join(parts))


def silent_venues(agg) -> dict[str, str]:
    """``{venue: why}`` of the aggregator's adapters that received no frame at all (last error and
    failed attempts, or "no frame received")."""
    out = {}
    for name, adapter in agg.adapters.items():
        h = adapter.health()
        if h.message_count == 0:
            last = adapter.tracker.last_error
            out[name] = (f"{last} ({h.error_count} failed attempt(s))" if last else "no frame received")
    return out


async def _record(
    exchanges: list[str],
    out: Path,
    symbols: list[str] | None,
    duration: float | None,
    ws_urls: dict[str, str],
    rest: bool,
    console: Console,
    market_symbols: list[str] | None = None,
    rest_urls: dict[str, str] | None = None,
) -> tuple[RecordingWriter, dict[str, str]]:
    from liqmap.feed.aggregator import ExchangeAggregator

    writer = RecordingWriter(out, exchanges)
    agg = ExchangeAggregator(exchanges, symbols, market_symbols=market_symbols, ws_urls=ws_urls,
                             rest_urls=rest_urls, adapter_kwargs={"recorder": writer.write, "rest": rest})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-POSIX
            pass
    started = time.monotonic()
    try:
        # sizes first, into the recording, so an offline replay values contracts as live did
        n_specs = await agg.load_contracts()
        if n_specs:
            writer.write(contracts_frame(default_contracts().specs()))
            console.print(f"contract sizes: {n_specs} specs stored in the recording")
        await agg.connect_all()
        with Live(_status(agg, writer, started), console=console, refresh_per_second=2, transient=False) as live:
            while not stop.is_set():
                timeout = 0.5
                if duration is not None:
                    left = duration - (time.monotonic() - started)
                    if left <= 0:
                        break
                    timeout = min(timeout, left)
                try:
                    await asyncio.wait_for(stop.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                writer.flush_if_due()
                live.update(_status(agg, writer, started))
    finally:
        silent = silent_venues(agg)
        await agg.disconnect_all()
        writer.close()
    return writer, silent


@app.command("record")
def record(
    exchanges: str = typer.Option("binance", "--exchanges", "-e", metavar="VENUE,...", help="Comma-separated venues, e.g. binance,bybit."),
    out: Path = typer.Option(..., "--out", "-o", help="Output recording (.jsonl.gz)."),
    symbols: Optional[str] = typer.Option(None, "--symbols", "-s", metavar="SYMBOL,...", help="Comma-separated symbols (BTCUSDT,ETH); default: venue all-market streams."),
    duration: Optional[float] = typer.Option(None, "--duration", "-d", help="Stop after this many seconds (default: until Ctrl-C)."),
    ws_url: List[str] = typer.Option([], "--ws-url", metavar="VENUE=URL", help="Override a venue URL: NAME=ws://host:port (repeatable)."),
    rest_url: List[str] = typer.Option([], "--rest-url", metavar="VENUE=URL", help="Override a venue REST base URL: NAME=http://host:port (repeatable)."),
    rest: bool = typer.Option(True, "--rest/--no-rest", help="Also record the venues' REST polls."),
    market_symbols: str = typer.Option(
        "BTC,ETH", "--market-symbols", metavar="BASE,...",
        help="Underlyings whose market data (trades, open interest, mark price, klines) is recorded "
             "besides the liquidations, as serve collects for its heatmap; 'none' = liquidations only."),
) -> None:
    """Record raw venue frames to a gzip JSON-lines file for `liqmap replay`."""
    console = Console(stderr=True)
    names = list(dict.fromkeys(x.strip().lower() for x in exchanges.split(",") if x.strip()))
    syms = [x.strip() for x in symbols.split(",") if x.strip()] if symbols else None
    try:
        from liqmap.exchanges.registry import VENUE_NAMES
        from liqmap.symbols import parse_symbol

        unknown = [n for n in names if n not in VENUE_NAMES]
        if not names or unknown:
            raise ValueError(f"unknown exchange(s) {', '.join(unknown) or '(none)'}; known: {', '.join(VENUE_NAMES)}")
        market = symbol_list(market_symbols)
        for s in [*(syms or ()), *market]:
            parse_symbol(s)
        urls = venue_urls(ws_url, "--ws-url")
        rest_urls = venue_urls(rest_url, "--rest-url", ("http://", "https://"))
        for opt, given in (("--ws-url", urls), ("--rest-url", rest_urls)):
            bad = [n for n in given if n not in names]
            if bad:
                raise ValueError(f"{opt} for {', '.join(bad)} which is not in --exchanges")
        if duration is not None and duration <= 0:
            raise ValueError("--duration must be > 0 seconds")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    try:
        writer, silent = asyncio.run(_record(names, out, syms, duration, urls, rest, console, market, rest_urls))
    except KeyboardInterrupt:  # pragma: no cover - second Ctrl-C during shutdown
        console.print("interrupted")
        return
    for name, why in silent.items():
        console.print(f"[yellow]warning:[/yellow] {name}: nothing received: {escape(why)}", highlight=False,
                      soft_wrap=True)
    if len(silent) == len(names):
        out.unlink(missing_ok=True)
        console.print(f"[red]error:[/red] no venue sent a frame ({', '.join(names)}); is the network reachable? "
                      f"Nothing recorded, {out} not written.", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"wrote {writer.frames} frames to {out}", highlight=False)
