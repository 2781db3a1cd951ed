"""``liqmap check`` / ``monitor --once`` on a DuckDB file and a running API, and the
one-line errors of ``serve``/``demo``/``monitor`` (exit code != 0)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, FIX, replay_liquidations, wait_finished
from liqmap.api.app import create_app
from liqmap.cli.monitor import fetch_snapshot, render
from liqmap.serve.server import build_replay_state
from liqmap.cli import app

BINANCE = str(BINANCE_FRAMES)
BITMEX = str(BITMEX_INSERTS)
runner = CliRunner()


@pytest.fixture(scope="module")
def db_file(tmp_path_factory) -> str:
    """A DuckDB file filled by the serve pipeline from real recordings, then closed."""
    db = str(tmp_path_factory.mktemp("cli") / "cli.duckdb")
    state = build_replay_state([BITMEX, BINANCE], db)
    with TestClient(create_app(state)) as c:
        wait_finished(c)
    return db


def text_of(renderable) -> str:
    con = Console(width=160, record=True, color_system=None)
    con.print(renderable)
    return con.export_text()


def test_check_reports_coverage(db_file):
    r = runner.invoke(app, ["check", "--db", db_file])
    assert r.exit_code == 0, r.output
    assert "binance" in r.output and "bitmex" in r.output and "XBTUSD" not in r.output  # per exchange
    assert "159 liquidations, 2 exchanges" in r.output  # 42 Binance + 117 BitMEX rows
    assert "Gaps" in r.output
    r = runner.invoke(app, ["check", "--db", db_file, "--by-symbol"])
    assert r.exit_code == 0 and "XBTUSD" in r.output


def test_monitor_once_from_db(db_file):
    r = runner.invoke(app, ["monitor", "--db", db_file, "--once", "--timeframe", "all"])
    assert r.exit_code == 0, r.output
    for needle in ("Latest liquidations", "Exchanges", "Long / short", "Cascades", "Health", "binance", "bitmex"):
        assert needle in r.output, needle
    # the 2019-11-15 BitMEX squeeze shows up as a detected cascade ($54.5M of longs)
    assert "Cascades (detector)" in r.output and "critical" in r.output


def test_monitor_snapshot_from_api():
    state = build_replay_state([BINANCE], ":memory:")
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        snap = fetch_snapshot(api="http://testserver", symbol="BTCUSDT", timeframe="24h", client=c)
    assert snap["meta"]["mode"] == "replay"
    btc = [e for e in replay_liquidations([BINANCE]) if e.base == "BTC"]
    assert snap["stats"]["count"] == len(btc) == 2  # BTCUSDT liquidations of the 2025-10-02 session
    assert snap["stats"]["total_usd"] == pytest.approx(sum(e.value_usd for e in btc), rel=1e-12)
    assert snap["stats"]["long_usd"] == pytest.approx(sum(e.value_usd for e in btc if e.side == "long"), rel=1e-12)
    assert [h["status"] for h in snap["health"] if h["exchange"] == "binance"] == ["replay"]
    out = text_of(render(snap))
    assert "REPLAY" in out and "BTCUSDT" in out and "AIAUSDT" not in out


@pytest.mark.parametrize("args,needle", [
    (["serve", "--exchanges", "binance,mtgox", "--port", "0"], "unknown exchange"),
    (["serve", "--replay", "/nonexistent/file.jsonl", "--port", "0"], "not found"),
    (["serve", "--replay", str(FIX / "README.md"), "--port", "0"], "cannot replay"),
    (["serve", "--replay", BINANCE, "--speed", "-1", "--port", "0"], "--speed"),
    (["serve", "--symbols", "$$$", "--port", "0"], "invalid symbol"),
    (["serve", "--ws-url", "binance", "--port", "0"], "--ws-url"),
    (["monitor", "--db", "/nonexistent/x.duckdb", "--once"], "no database file"),
    (["monitor", "--api", "http://127.0.0.1:9", "--once"], "cannot reach"),
    (["check", "--db", "/nonexistent/x.duckdb"], "no database file"),
])
def test_cli_errors_are_one_line(args, needle, tmp_path):
    r = runner.invoke(app, [*args, *(["--db", str(tmp_path / "e.duckdb")] if args[0] == "serve" else [])])
    assert r.exit_code != 0
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert needle in lines[0]


def test_serve_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = runner.invoke(app, ["serve", "--replay", BINANCE, "--port", str(port), "--db", str(tmp_path / "p.duckdb")])
    assert r.exit_code == 2
    assert f"port {port}" in r.output and "in use" in r.output
    r = runner.invoke(app, ["demo", "--port", str(port), "--speed", "0"])
    assert r.exit_code == 2 and "--speed" in r.output


def test_serve_on_a_database_another_process_holds(tmp_path):
    """DuckDB's file lock (StorageError from the store) becomes a one-line error, exit 2."""
    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = runner.invoke(app, ["serve", "--replay", BINANCE, "--port", "0", "--db", str(db)])
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot open" in lines[0] and str(db) in lines[0], r.output


def test_replay_honours_exchange_and_symbol_filters(tmp_path):
    state = build_replay_state([BITMEX, BINANCE], str(tmp_path / "f.duckdb"),
                               only_exchanges=["bitmex"], only_bases=["ETH"])
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        st = c.get("/liquidations/stats", params={"timeframe": "all"}).json()
    assert [e["exchange"] for e in st["by_exchange"]] == ["bitmex"]
    assert [u["base"] for u in st["by_underlying"]] == ["ETH"]
    assert st["count"] == 50  # the 50 real BitMEX ETHUSD rows (PROVENANCE.md)
