"""Shared test helpers: fixture paths, ports, replay clients, the headless browser.

Test modules import the plain helpers (``from conftest import FIX, free_port``); pytest
loads this file first, so the import finds it. Everything here works on the real
recorded data under ``tests/fixtures/`` (provenance in ``tests/fixtures/PROVENANCE.md``).
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures"
#: 42 real Binance USD-M forceOrder frames (2025-10-02), liqmap recording format.
BINANCE_FRAMES = FIX / "binance_forceorder_arbitra" / "binance_force_orders_ws.jsonl"
#: 117 real BitMEX ``liquidation`` table inserts (2019-11).
BITMEX_INSERTS = FIX / "bitmex_liquidations_ticktrades" / "bitmex_liquidation_inserts_2019-11.jsonl"
#: Binance "data streams" forceOrder CSV captures (PROVENANCE.md, ``binance_forceorder_datastreams``).
DATASTREAMS = FIX / "binance_forceorder_datastreams"
PAULIUS = DATASTREAMS / "PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz"
NEOPARTH_1 = DATASTREAMS / "NeoParth_binance_liquidations_2025-06-23_2059-2122.csv"
NEOPARTH_2 = DATASTREAMS / "NeoParth_binance_liquidations_2025-06-23_2122-2156.csv"
ALEJANDRO = DATASTREAMS / "AlejandroME01_binance_liquidations_2024-06-20.csv"
BANDS = DATASTREAMS / "BandsThoBaby_binance_liquidations_2024-08-17.csv"
RIFTFERN = DATASTREAMS / "riftfern_binance_liquidations_2025-12-27_2025-12-28.csv.gz"
#: data.binance.vision archive layout with real rows (klines, metrics, aggTrades, snapshots).
VISION = FIX / "heatmap" / "binance_vision"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _loopback(host: object) -> bool:
    h = str(host).lower()
    return h in ("localhost", "::1", "0.0.0.0", "") or h.startswith(("127.", "::ffff:127."))


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch):
    """No test reaches the internet: an in-process connect to anything but loopback fails at once
    with the address named (CI has no network; a test that tried would hang or pass by luck on a
    developer's machine), and the test fails even when a feed's reconnect loop swallowed the error.
    Child processes (serve, record) get only 127.0.0.1 URLs from the tests."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    attempts: list = []

    def check(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(address)
            raise OSError(f"test tried to reach {address!r}: tests use local servers on 127.0.0.1 only")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    if attempts:  # also when a feed's reconnect loop swallowed the error
        pytest.fail(f"the test tried to reach the network: {attempts[:3]!r}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_liquidations(paths: Sequence[str | Path], dedupe: bool = True) -> list:
    """Liquidations of recorded files through the real replay path (venue parsers), in replay
    order; ``dedupe`` keeps the first event per id, as the aggregator and DuckDB do."""
    from liqmap.models import Liquidation
    from liqmap.replay.runner import ReplayRunner

    events = [e for e in ReplayRunner([str(p) for p in paths]).iter_events() if isinstance(e, Liquidation)]
    if not dedupe:
        return events
    seen: set[str] = set()
    out = []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            out.append(e)
    return out


def load_liquidations(*paths: str | Path) -> list:
    """Liquidations of real captures through the real reader and venue parsers, one per id,
    in ``(timestamp, id)`` order -- the order a merged live feed approximately delivers."""
    return sorted(replay_liquidations(paths), key=lambda e: (e.timestamp, e.id))


def bitmex_xbtusd() -> list:
    """The BitMEX XBTUSD liquidations of the 2019-11 inserts (inverse: ``value_usd`` = contracts,
    1 USD each), through the real BitMEX parser, in ``(timestamp, id)`` order."""
    return [e for e in load_liquidations(BITMEX_INSERTS) if e.symbol == "XBTUSD"]


def wait_finished(client, timeout: float = 20.0) -> dict:
    """Poll ``/health`` of a replaying app until its source finished; returns that body."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        h = client.get("/health").json()
        if h["pipeline"] and h["pipeline"]["source_finished"]:
            return h
        time.sleep(0.05)
    raise AssertionError("replay did not finish")


@contextmanager
def replay_client(paths: Sequence[str | Path], db: str | Path, **client_kw) -> Iterator:
    """A TestClient on ``create_app(build_replay_state(paths, db))`` once the replay is stored."""
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.serve.server import build_replay_state

    state = build_replay_state([str(p) for p in paths], str(db), speed=None)
    with TestClient(create_app(state), **client_kw) as c:
        wait_finished(c)
        yield c


@contextmanager
def browser_page(viewport: dict[str, int]) -> Iterator[tuple]:
    """``(page, errors)`` in headless Debian Chromium (skips loudly when it is missing);
    ``errors`` collects the page's uncaught JavaScript errors."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"!!! {CHROMIUM} missing: install it with `apt-get install -y chromium` "
                    "to run the browser tests !!!")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()


def stop_process(proc, wait_s: float = 10.0) -> None:
    """Terminate a child process; kill it when it has not exited after ``wait_s`` seconds."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def fast_polls(monkeypatch):
    """Binance's REST open-interest poll every 0.1 s (settings cache cleared around the test)."""
    from liqmap.settings import get_settings

    monkeypatch.setenv("BINANCE_POLL_INTERVAL", "0.1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@contextmanager
def serve_process(db: Path, *args: str, env: dict[str, str] | None = None, up_s: float = 20.0) -> Iterator[str]:
    """``liqmap serve --db db *args`` as a child process on a free 127.0.0.1 port; yields its base
    URL once ``/health`` answers, terminates it after the block (killed after 10 s)."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--port", str(port), "--db", str(db), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {proc.stdout.read()}")
            if time.monotonic() - t0 > up_s:
                pytest.fail("serve did not come up")
            try:
                if httpx.get(base + "/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)


def db_with_rows(path: Path, events: Sequence, raw: Sequence = ()) -> "duckdb.DuckDBPyConnection":
    """A DuckDB file at ``path`` holding ``events`` stored through :class:`DuckDBStore`, plus the
    liquidations ``raw`` inserted as they are (rows no current parser emits: written before the
    plausibility gate, or by hand). Returns an open read-write connection (close it)."""
    import asyncio

    import duckdb

    from liqmap.storage.duckdb_store import STORED_COLUMNS, DuckDBStore

    async def store():
        s = DuckDBStore(path, flush_interval_s=60)
        await s.write(list(events))
        await s.close()

    asyncio.run(store())
    con = duckdb.connect(str(path))
    cols = ", ".join(f'"{c}"' for c in STORED_COLUMNS)
    if raw:
        con.executemany(f"INSERT INTO liquidations ({cols}, id_key) VALUES ({', '.join('?' * len(STORED_COLUMNS))}, "
                        "md5_number(?))", [[getattr(e, c) for c in STORED_COLUMNS] + [e.id] for e in raw])
    return con
