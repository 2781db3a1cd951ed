"""Wiring of ``liqmap serve`` / ``demo``: build the state for live or replay mode and run uvicorn.

Kept apart from the CLI so tests and benchmarks can build the same app in-process.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import sys
from pathlib import Path
from typing import Any, Sequence

import duckdb

from liqmap.storage import duckdb_reads
from liqmap.storage.memory import MemoryStore
from liqmap.api.metrics import Metrics
from liqmap.api.state import AppState
from liqmap.serve.clock import LiveClock, ReplayClock
from liqmap.serve.hub import BroadcastHub
from liqmap.settings import Settings, get_settings

log = logging.getLogger("liqmap.serve")


class ServeError(RuntimeError):
    """A user-facing startup error (bad argument, unreadable file, port in use); one line."""


def open_store(db_path: str, settings: Settings, memory: MemoryStore | None = None,
               on_cascade_events: Any | None = None) -> Any:
    """:func:`open_store_inline` run on its own thread (:class:`liqmap.serve.store_thread.ThreadedStore`)."""
    from liqmap.serve.store_thread import ThreadedStore

    return ThreadedStore(lambda: open_store_inline(db_path, settings, memory, on_cascade_events))


def open_store_inline(db_path: str, settings: Settings, memory: MemoryStore | None = None,
                      on_cascade_events: Any | None = None) -> Any:
    """Storage sink for ``db_path``: :class:`liqmap.storage.tiered.TieredStore`
    (DuckDB, plus Redis/PostgreSQL when configured, plus cascade detection, whose cascade
    rows also go to the L1 ``memory`` when given and whose events go to ``on_cascade_events``
    (the market service: serve log, alerts), on the writer's thread).

    Raises :class:`ServeError` when the file cannot be opened (e.g. locked by another process).
    """
    if db_path != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    from liqmap.storage.base import StorageError
    from liqmap.storage.tiered import TieredStore

    try:
        return TieredStore(db_path, settings.redis_url, settings.postgres_dsn,
                           institutional_usd=settings.institutional_usd, flush_interval_s=0.25,
                           on_cascades=memory.upsert_cascades if memory is not None else None,
                           on_cascade_events=on_cascade_events)
    except (duckdb.Error, OSError) as exc:
        raise ServeError(f"cannot open database {db_path}: {str(exc).splitlines()[0]}") from exc
    except StorageError as exc:
        raise ServeError(str(exc).splitlines()[0]) from exc


def make_market(settings: Settings, aggregator: Any | None, alerts_config: str | None = None,
                replay: bool = False) -> Any:
    """The :class:`~liqmap.serve.market.MarketService` of a serve process, with an alert
    dispatcher when ``alerts_config`` (a file), ``LIQMAP_ALERTS_CONFIG`` or the
    ``LIQMAP_ALERT_*`` variables configure one. Its clock is set when the state exists.

    Raises :class:`ServeError` for an invalid alert configuration or market setting."""
    from liqmap.alerts.config import AlertConfigError, resolve_config
    from liqmap.serve.market import MarketService

    try:
        cfg = resolve_config(alerts_config, settings)
        alerts = cfg.dispatcher() if cfg is not None and cfg.sinks else None
        market = MarketService(settings, lambda: 0, aggregator=aggregator, alerts=alerts, replay=replay)
    except (AlertConfigError, ValueError) as exc:
        raise ServeError(str(exc).splitlines()[0]) from exc
    if alerts is not None:
        log.warning("alerts: %d rule(s) -> %s (%s)", len(alerts.rules), ", ".join(alerts.workers), cfg.source)
    return market


def _read_connection(db_path: str, store: Any) -> duckdb.DuckDBPyConnection:
    """Connection for reads on the same in-process database the store writes.

    DuckDB allows one read-write process per file, so the serve process answers
    every read through :meth:`liqmap.storage.duckdb_store.DuckDBStore.reader`
    (committed data only; requests take their own ``cursor()`` from it).
    """
    return getattr(store, "inner", store).duckdb.reader()


def build_replay_state(
    paths: Sequence[str],
    db_path: str,
    speed: float | None = None,
    settings: Settings | None = None,
    max_gap_s: float = 2.0,
    fmt: str = "auto",
    preload: Sequence[str] = (),
    only_exchanges: Sequence[str] | None = None,
    only_bases: Sequence[str] | None = None,
    heatmap_symbols: Sequence[str] | None = None,
    alerts_config: str | None = None,
    heatmap_step: str | None = None,
) -> AppState:
    """State that replays recorded files (or directories of them) through the parsers into
    storage + websocket.

    The files become replay feeds of an :class:`~liqmap.feed.aggregator.ExchangeAggregator`
    with no live venue, so a replay takes the live path from the merge on.
    ``speed`` None = as fast as possible; N = N x recorded time (gaps capped at
    ``max_gap_s``). ``preload`` files are replayed first, unpaced (demo backfill).
    ``only_exchanges`` / ``only_bases`` keep just those venues / underlyings. ``heatmap_symbols``:
    underlyings whose heatmap the replayed market series drive (steps follow the replayed data),
    every ``heatmap_step`` (default ``LIQMAP_HEATMAP_STEP``, 5m).
    ``alerts_config``: alert rules and sinks (:func:`make_market`).
    Raises :class:`ServeError` for a missing/unreadable file or a directory holding none, an
    invalid alert configuration, or an unknown heatmap step.
    """
    settings = settings or get_settings()
    check_heatmap_step(heatmap_step or settings.heatmap_step)
    for p in [*preload, *paths]:
        if not Path(p).exists():
            raise ServeError(f"replay file or directory not found: {p}")
    from liqmap.feed.aggregator import ExchangeAggregator
    from liqmap.feed.replay import ReplayFeed

    agg = ExchangeAggregator(exchanges=[])
    select = {"only_exchanges": only_exchanges, "only_bases": only_bases}
    try:  # sniffs every file now: a clear one-line error before anything is opened
        feeds = [agg.add_replay(ReplayFeed(preload, fmt, **select))] if preload else []
        if paths or not preload:
            feeds.append(agg.add_replay(ReplayFeed(paths, fmt, speed=speed, max_gap_s=max_gap_s, **select)))
    except (OSError, ValueError) as exc:
        raise ServeError(f"cannot replay: {str(exc).splitlines()[0]}") from exc
    if not any(s.format != "unknown" for f in feeds for s in f.runner.sources):
        raise ServeError(f"nothing to replay: no recorded file in {', '.join(map(str, [*preload, *paths]))}")
    market = make_market(settings, None, alerts_config, replay=True)
    memory = MemoryStore()
    store = open_store(db_path, settings, memory, market.on_cascade_events)
    con = _read_connection(db_path, store)
    state = AppState(con=con, clock=ReplayClock(duckdb_reads.latest_timestamp(con)), hub=BroadcastHub(),
                     metrics=Metrics(), settings=settings, db_path=db_path, enabled=agg.exchanges(),
                     aggregator=agg, store=store, memory=memory, market=market)
    if heatmap_symbols:
        attach_heatmap(state, heatmap_symbols, live=False, step=heatmap_step or settings.heatmap_step)
    return state


def build_live_state(
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    db_path: str,
    ws_urls: dict[str, str] | None = None,
    settings: Settings | None = None,
    rest_urls: dict[str, str] | None = None,
    heatmap_symbols: Sequence[str] | None = None,
    alerts_config: str | None = None,
    heatmap_step: str | None = None,
) -> AppState:
    """State collecting live from venue websockets via :class:`~liqmap.feed.aggregator.ExchangeAggregator`.

    ``ws_urls`` / ``rest_urls``: ``{venue: url}`` overrides (local venue servers, proxies).
    ``heatmap_symbols``: underlyings whose market series (trades, open interest, mark price,
    klines) are collected on top of the liquidation subscription (``market_symbols``); their
    tickers feed the cross-exchange view; their heatmap steps every ``heatmap_step`` (default
    ``LIQMAP_HEATMAP_STEP``, 5m). ``alerts_config``: alert rules and sinks (:func:`make_market`).
    Raises :class:`ServeError` for an unknown exchange or symbol, an invalid alert configuration,
    or an unknown heatmap step.
    """
    settings = settings or get_settings()
    check_heatmap_step(heatmap_step or settings.heatmap_step)
    from liqmap.feed.aggregator import ExchangeAggregator

    from liqmap.symbols import parse_symbol

    for s in [*(symbols or ()), *(heatmap_symbols or ())]:
        try:
            parse_symbol(s)
        except ValueError as exc:
            raise ServeError(str(exc)) from exc
    try:
        agg = ExchangeAggregator(exchanges=list(exchanges) if exchanges else None, symbols=symbols,
                                 market_symbols=heatmap_symbols, ws_urls=ws_urls or {}, rest_urls=rest_urls or {})
    except ValueError as exc:
        raise ServeError(str(exc).splitlines()[0]) from exc
    market = make_market(settings, agg, alerts_config)
    memory = MemoryStore()
    store = open_store(db_path, settings, memory, market.on_cascade_events)
    con = _read_connection(db_path, store)
    state = AppState(con=con, clock=LiveClock(), hub=BroadcastHub(), metrics=Metrics(), settings=settings,
                     db_path=db_path, enabled=list(agg.adapters), aggregator=agg, store=store, memory=memory,
                     market=market)
    if heatmap_symbols:
        from liqmap.feed.adapter import _is_loopback

        local = [n for n, a in agg.adapters.items() if _is_loopback(a.ws_url)]
        attach_heatmap(state, heatmap_symbols, live=True, rest_urls=dict(rest_urls or {}), local_ws=local,
                       backfill_days=settings.heatmap_backfill_days, step=heatmap_step or settings.heatmap_step)
    return state


def check_heatmap_step(step: str) -> None:
    """Raise :class:`ServeError` unless ``step`` is one the live heatmap runs (``serve.heatmap.STEPS``)."""
    from liqmap.serve.heatmap import STEPS

    if step not in STEPS:
        raise ServeError(f"--heatmap-step must be one of {', '.join(STEPS)}, got {step!r}")


def attach_heatmap(state: AppState, bases: Sequence[str], *, live: bool, rest_urls: dict[str, str] | None = None,
                   local_ws: Sequence[str] = (), backfill_days: float = 0.0, step: str | None = None) -> None:
    """Give ``state`` a live heatmap (:class:`~liqmap.serve.heatmap.HeatmapService`) of ``bases``
    (underlyings, e.g. ``BTC``) stepping every ``step`` (``1m``/``5m``/``15m``/``1h``, default the
    parameters' 5m), started with the pipeline. Raises ValueError for another step."""
    from liqmap.serve.heatmap import HeatmapService
    from liqmap.symbols import parse_symbol

    state.heatmap = HeatmapService(cursor=state.cursor, bases=list(dict.fromkeys(parse_symbol(b).base for b in bases)),
                                   exchanges=list(state.enabled), now_ms=state.now_ms, live=live,
                                   rest_urls=rest_urls or {}, local_ws=local_ws, backfill_days=backfill_days,
                                   step=step)


def check_port(host: str, port: int) -> None:
    """Raise :class:`ServeError` when ``host:port`` cannot be bound (out of range, in use, not allowed)."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port must be between 1 and 65535 (0 = any free port), got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is already in use (choose another with --port)") from exc
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        except OverflowError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc}") from exc


def run_server(state: AppState, host: str, port: int, log_level: str = "warning",
               on_ready: Any | None = None) -> None:
    """Run the API (uvicorn) with the pipeline until interrupted."""
    import uvicorn

    from liqmap.api.app import create_app
    from liqmap.api.guard import BoundedHandshakeProtocol

    app = create_app(state)
    # No per-message deflate on the API's websockets: messages are small JSON events (a few
    # hundred bytes) and compressing each one costs serve CPU (benchmarks/RESULTS.md, bench_api).
    # Caps (issue #12): connections + requests in flight (503 beyond), and a websocket
    # protocol that answers an unparseable (oversized) handshake instead of hanging.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            ws_ping_interval=20, ws_ping_timeout=20, ws_per_message_deflate=False,
                            ws=BoundedHandshakeProtocol, limit_concurrency=state.settings.max_connections)
    server = uvicorn.Server(config)

    async def main():
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            # startup objects (venue tables, FastAPI routes) never die: keep them
            # out of the cyclic GC so full collections do not pause the event path
            gc.collect()
            gc.freeze()
            sys.setswitchinterval(0.0005)  # storage thread hands the GIL back quickly
            if on_ready is not None:
                on_ready()
        await task

    try:
        asyncio.run(main())
    finally:
        # frozen objects are never collected, so DuckDB's nanobind types would be reported as
        # "leaked" (some 50 lines on stderr) at interpreter exit: hand them back to the GC
        gc.unfreeze()
