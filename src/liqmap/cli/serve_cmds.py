"""``liqmap serve``, ``demo``, ``monitor``, ``check`` (register on :data:`liqmap.cli.app`).

Errors are one line on stderr with a non-zero exit code (2 = bad argument or
input, 1 = runtime failure).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape

from liqmap.cli import app

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)



def _fail(msg: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(msg)}")
    raise typer.Exit(code)


def _split(values: Optional[List[str]]) -> list[str] | None:
    if not values:
        return None
    out_: list[str] = []
    for v in values:
        out_ += [x.strip() for x in v.split(",") if x.strip()]
    return out_ or None


def symbol_list(text: str | None) -> list[str]:
    """``"BTC, eth"`` -> ``["BTC", "ETH"]``; empty or ``none`` -> ``[]``."""
    if not text or text.strip().lower() == "none":
        return []
    return [x.strip().upper() for x in text.split(",") if x.strip()]


def venue_names(values: Optional[List[str]] | str, known) -> list[str] | None:
    """Comma lists / repeated options of venue names -> lower-case names (None = none given).
    Venue names are case-insensitive (``-e Binance,BYBIT``). Raises ValueError naming unknown ones."""
    names = _split([values] if isinstance(values, str) else values)
    if names is None:
        return None
    names = list(dict.fromkeys(n.lower() for n in names))
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"unknown exchange(s) {', '.join(bad)}; known: {', '.join(known)}")
    return names


def venue_urls(values: Optional[List[str]], opt: str = "--ws-url", schemes=("ws://", "wss://")) -> dict[str, str]:
    """``["binance=ws://host:port", ...]`` -> ``{venue: url}`` (``--ws-url`` / ``--rest-url``).

    Raises ValueError naming ``opt`` for an item without ``=`` or with another scheme."""
    urls: dict[str, str] = {}
    for v in values or ():
        name, sep, url = v.partition("=")
        if not sep or not name or not url.startswith(schemes):
            raise ValueError(f"{opt} must be name={schemes[0]}host:port[/path], got {v!r}")
        urls[name.strip().lower()] = url.strip()
    return urls


def _parse_urls(values: Optional[List[str]], opt: str = "--ws-url", schemes=("ws://", "wss://")) -> dict[str, str]:
    try:
        return venue_urls(values, opt, schemes)
    except ValueError as exc:
        _fail(str(exc))


def _serve(state, host: str, port: int, banner: str) -> None:
    from liqmap.serve.server import run_server

    if port == 0:  # "any free port": pick it here so the printed URL names the real port
        import socket

        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    url = f"http://{host}:{port}/"

    def ready():
        out.print(f"{banner}\n[bold green]dashboard[/] {url}   [dim]API docs {url}docs · Ctrl-C to stop[/]")

    try:
        run_server(state, host, port, on_ready=ready)
    except KeyboardInterrupt:
        pass


@app.command()
def serve(
    files: Optional[List[str]] = typer.Argument(None, metavar="FILE",
                                                help="Recorded files or directories to replay (implies --replay)"),
    exchanges: Optional[List[str]] = typer.Option(None, "--exchanges", "-e", metavar="VENUE,...", help="Venues (comma list or repeated); default all"),
    symbols: Optional[List[str]] = typer.Option(None, "--symbols", "-s", metavar="SYMBOL,...", help="Symbols to subscribe (BTCUSDT, ETH...); default all markets"),
    host: Optional[str] = typer.Option(None, help="Bind address (default LIQMAP_HOST or 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="Port (default LIQMAP_PORT or 8000)"),
    db: Optional[str] = typer.Option(None, help="DuckDB file (default LIQMAP_DB or data/liquidations.duckdb)"),
    replay: bool = typer.Option(False, "--replay", help="Replay FILE... (files or directories) instead of connecting to venues"),
    speed: Optional[float] = typer.Option(None, help="Replay pacing: N x recorded time (default: as fast as possible)"),
    ws_url: Optional[List[str]] = typer.Option(None, "--ws-url", metavar="VENUE=URL", help="Override a venue websocket URL: name=ws://..."),
    rest_url: Optional[List[str]] = typer.Option(None, "--rest-url", metavar="VENUE=URL", help="Override a venue REST base URL: name=http://..."),
    heatmap_symbols: Optional[str] = typer.Option(
        None, "--heatmap-symbols", metavar="BASE,...",
        help="Underlyings whose market series are collected and whose heatmap is kept current "
             "(default LIQMAP_HEATMAP_SYMBOLS or BTC,ETH; 'none' = off)"),
    alerts: Optional[str] = typer.Option(
        None, "--alerts", help="Alert rules and sinks file (.toml/.yaml/.json; default LIQMAP_ALERTS_CONFIG, "
                               "else the LIQMAP_ALERT_* variables; none = alerts off). Check it with `liqmap alerts test`"),
    heatmap_step: Optional[str] = typer.Option(
        None, "--heatmap-step",
        help="The live heatmap's model step: 1m, 5m, 15m or 1h (default LIQMAP_HEATMAP_STEP or 5m, "
             "the step the served parameters were validated at)"),
    log_level: str = typer.Option("warning", help="Log level"),
) -> None:
    """Collect liquidations (live venues, or --replay FILE...), store them, serve the API + dashboard.

    Connection failures are logged at the default level (warning) with the venue and the reason.
    The event log (logger liqmap.events) shows liquidations by size (>= LIQMAP_INSTITUTIONAL_USD at
    WARNING, >= LIQMAP_LARGE_USD at INFO), a WARNING line per cascade start or severity rise, and a
    STATS line every LIQMAP_STATS_INTERVAL_S seconds, unless --log-level is error or critical.
    """
    from liqmap.serve.server import ServeError, build_live_state, build_replay_state, check_port
    from liqmap.settings import get_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().level <= logging.WARNING:
        logging.getLogger("liqmap.events").setLevel(min(logging.INFO, logging.getLogger().level))
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    db = db or settings.db
    try:
        check_port(host, port)
        from liqmap.exchanges.registry import VENUE_NAMES

        try:
            ex = venue_names(exchanges, VENUE_NAMES)
        except ValueError as exc:
            raise ServeError(str(exc)) from None
        if replay and not files:
            raise ServeError("--replay needs the recorded files: liqmap serve --replay FILE [FILE...]")
        syms = _split(symbols)
        bases = None
        if syms:
            from liqmap.symbols import parse_symbol

            try:
                bases = [parse_symbol(x).base for x in syms]
            except ValueError as exc:
                raise ServeError(str(exc)) from exc
        if files:
            if speed is not None and speed <= 0:
                raise ServeError("--speed must be > 0")
            state = build_replay_state(files, db, speed, settings, only_exchanges=ex, only_bases=bases,
                                       heatmap_symbols=symbol_list(heatmap_symbols), alerts_config=alerts,
                                       heatmap_step=heatmap_step)
            banner = f"[bold yellow]REPLAY[/] of {len(files)} path(s) into {db}"
        else:
            hm = heatmap_symbols if heatmap_symbols is not None else settings.heatmap_symbols
            state = build_live_state(ex, syms, db, _parse_urls(ws_url), settings,
                                     _parse_urls(rest_url, "--rest-url", ("http://", "https://")),
                                     heatmap_symbols=symbol_list(hm), alerts_config=alerts,
                                     heatmap_step=heatmap_step)
            banner = f"[bold green]LIVE[/] {', '.join(state.enabled)} into {db}"
    except ServeError as exc:
        _fail(str(exc))
    _serve(state, host, port, banner)


@app.command()
def demo(
    port: int = typer.Option(8000, help="Port"),
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    speed: float = typer.Option(10.0, help="Pacing of the looping tail: N x recorded time"),
    db: Optional[str] = typer.Option(None, help="DuckDB file (default: a new temporary file, removed on exit)"),
) -> None:
    """The dashboard on real recordings, offline: BTC's predicted liquidation map (Binance 2025-12 klines
    and open interest) with the realized liquidations of the same days; the newest hour loops."""
    from liqmap.serve.demo import demo_paths, demo_recordings, loop_tail, seed_market_history
    from liqmap.serve.server import ServeError, build_replay_state, check_port

    logging.basicConfig(level="WARNING")
    logging.getLogger("liqmap.events").setLevel(logging.ERROR)  # the demo's replayed history is not news
    if speed <= 0:
        _fail("--speed must be > 0")
    _sigterm_like_ctrl_c()
    tmp = None
    if db is None:  # a temporary database, removed when the demo stops
        tmp = Path(tempfile.mkdtemp(prefix="liqmap-demo-"))
        db = str(tmp / "demo.duckdb")
    try:
        try:
            check_port(host, port)
            paths = demo_paths()
            seed_market_history(db)
            state = build_replay_state([], db, None, preload=paths)
        except (ServeError, FileNotFoundError) as exc:
            _fail(str(exc))
        except duckdb_error() as exc:
            _fail(f"cannot open database {db}: {str(exc).splitlines()[0]}")

        async def loop(st):
            await loop_tail(st, speed)

        state.after_source = loop
        state.recordings = demo_recordings()
        _serve(state, host, port,
               "[bold yellow]REPLAY DEMO[/]: real recordings -- BTC predicted liquidation map from Binance klines and "
               "open interest of 2025-12, realized liquidations of BitMEX 2019, Hyperliquid 2023, Binance 2024-2025; "
               f"the newest hour loops at {speed:g}x; db {db}")
    finally:
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _sigterm_like_ctrl_c() -> None:
    """SIGTERM (``kill``, a service or container stop) ends the demo as Ctrl-C does, so its
    temporary database is removed: uvicorn stops gracefully on it, then raises it again, and
    Python's default action would end the process without running any ``finally``."""
    import signal

    def _term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)


def duckdb_error():
    import duckdb

    return duckdb.Error


@app.command()
def monitor(
    api: Optional[str] = typer.Option(None, help="Base URL of a running liqmap serve, e.g. http://127.0.0.1:8000"),
    db: Optional[str] = typer.Option(None, help="Read a DuckDB file instead (must not be open by a running serve)"),
    symbol: Optional[str] = typer.Option(None, help="Underlying filter, e.g. BTCUSDT"),
    timeframe: str = typer.Option("24h", "--time-window", "--timeframe",
                                  help="Window for totals: 1h 4h 12h 24h 7d 30d all (alias --timeframe)"),
    once: bool = typer.Option(False, "--once", help="Render one frame and exit"),
    interval: float = typer.Option(2.0, help="Refresh seconds"),
) -> None:
    """Terminal dashboard: latest liquidations, 10-minute timeline, exchange bars, long/short, cascades, health."""
    from liqmap.cli.monitor import MonitorError, fetch_snapshot, render

    if api and db:
        _fail("use either --api or --db, not both")
    if not api and not db:
        from liqmap.settings import get_settings

        api = f"http://{get_settings().host}:{get_settings().port}"
    try:
        snap = fetch_snapshot(api=api, db=db, symbol=symbol, timeframe=timeframe)
    except MonitorError as exc:
        _fail(str(exc), 1)
    import os

    con = out if out.is_terminal else Console(width=int(os.environ.get("COLUMNS", "160")),
                                              height=int(os.environ.get("LINES", "24")), highlight=False)

    def frame():
        return render(snap, con.width, con.height)

    if once:
        con.print(frame())
        return
    from rich.live import Live

    with Live(frame(), console=con, refresh_per_second=4, screen=con.is_terminal) as live:
        try:
            while True:
                time.sleep(interval)
                try:
                    snap = fetch_snapshot(api=api, db=db, symbol=symbol, timeframe=timeframe)
                except MonitorError as exc:
                    snap["error"] = str(exc)
                live.update(frame())
        except KeyboardInterrupt:
            pass


@app.command()
def check(
    db: Optional[str] = typer.Option(None, help="DuckDB file (default LIQMAP_DB)"),
    api: Optional[str] = typer.Option(None, help="Ask a running serve instead of opening the file"),
    by_symbol: bool = typer.Option(False, "--by-symbol", help="One row per exchange and symbol (the 10 busiest of each)"),
) -> None:
    """Coverage report: events per exchange (or symbol), last event and its age, gaps."""
    from liqmap.cli.monitor import MonitorError, check_report

    import os

    con = out if out.is_terminal else Console(width=int(os.environ.get("COLUMNS", "160")), highlight=False)
    try:
        con.print(check_report(db=db, api=api, by_symbol=by_symbol))
    except MonitorError as exc:
        _fail(str(exc), 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
