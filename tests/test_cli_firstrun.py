"""Issue #11, the newcomer's CLI defects: each one as a user meets it (exit code, message, no
traceback). Real recordings from ``tests/fixtures`` only; "no network" is a venue URL on a
127.0.0.1 port nothing listens on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import BINANCE_FRAMES, BITMEX_INSERTS, FIX, ROOT, free_port
from liqmap import __version__
from liqmap.cli import app

runner = CliRunner()
HYPERLIQUID_DIR = FIX / "hyperliquid_historical_data"


def one_line_error(r, needle: str, code: int = 2) -> None:
    """A user error: exit ``code``, one line naming the problem, no traceback."""
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.output


def test_version_flag():
    for flag in ("--version", "-V"):
        r = runner.invoke(app, [flag])
        assert r.exit_code == 0 and r.output.strip() == f"liqmap {__version__}"


def test_help_shows_no_type_placeholder_for_flags():
    names = [[c.name or c.callback.__name__] for c in app.registered_commands]
    for g in app.registered_groups:  # alerts, ingest and their subcommands
        names += [[g.name], *([g.name, c.name or c.callback.__name__] for c in g.typer_instance.registered_commands)]
    for args in ([], *names):
        r = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
        assert r.exit_code == 0, (args, r.output)
        assert "<bool>" not in r.output, (args, r.output)
        assert "<list[" not in r.output, (args, r.output)  # list options say what they take: VENUE,...
    r = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "120"})
    assert re.search(r"--exchanges\s+-e\s+VENUE,\.\.\.\s", r.output), r.output
    assert re.search(r"--ws-url\s+VENUE=URL\s", r.output), r.output
    r = runner.invoke(app, ["replay", "--help"], env={"COLUMNS": "120"})
    assert re.search(r"--print\s+Print normalized", r.output), r.output  # no placeholder between


def test_help_paragraphs_are_reflowed_and_usage_names_the_files():
    wide = {"COLUMNS": "200"}
    r = runner.invoke(app, ["replay", "--help"], env=wide)  # its docstring breaks lines mid-sentence
    assert re.search(r"A summary of frames, events, duplicates", r.output), r.output
    assert re.search(r"Usage: liqmap replay \[OPTIONS\] \S*FILE\S*\.\.\.", r.output), r.output
    r = runner.invoke(app, ["--help"], env=wide)
    assert re.search(r"BTC's predicted liquidation map \(Binance 2025-12 klines and open interest\)", r.output), r.output
    r = runner.invoke(app, ["serve", "--help"], env=wide)
    assert "liqmap serve [OPTIONS] [FILE]..." in r.output, r.output
    r = runner.invoke(app, ["ingest", "klines", "--help"], env=wide)
    assert "klines_<interval>_history" in r.output, r.output  # markdown keeps code spans literal


@pytest.mark.parametrize("cmd", ["serve", "demo"])
def test_port_out_of_range_is_one_line(cmd, tmp_path):
    r = runner.invoke(app, [cmd, "--port", "99999", "--db", str(tmp_path / "p.duckdb")])
    one_line_error(r, "--port must be between 1 and 65535")


def test_exchange_names_are_case_insensitive(tmp_path):
    r = runner.invoke(app, ["replay", str(BINANCE_FRAMES), "--exchange", "BINANCE", "--print"])
    assert r.exit_code == 0, r.output
    assert r.stdout.count('"exchange":"binance"') == 42
    one_line_error(runner.invoke(app, ["serve", "-e", "Binance,MtGox", "--db", str(tmp_path / "x.duckdb")]),
                   "unknown exchange(s) mtgox")


def test_record_without_network_says_so_and_fails(tmp_path):
    """Issue: ``record -e binance,bybit --duration 20`` offline exited 0 with a 0-frame file."""
    dead = free_port()
    out = tmp_path / "rec.jsonl.gz"
    r = subprocess.run(
        [sys.executable, "-m", "liqmap", "record", "-e", "Binance", "--duration", "2", "-o", str(out), "--no-rest",
         "--ws-url", f"BINANCE=ws://127.0.0.1:{dead}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "no venue sent a frame (binance)" in r.stderr
    assert "binance: nothing received" in r.stderr and "connect failed" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    """Ctrl-C (or ``sig``) the process and return its stderr (it must stop cleanly)."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return err


def _wait_health(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            h = httpx.get(base + "/health", timeout=1).json()
            if h["pipeline"] and h["pipeline"]["source_finished"]:
                return h
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not finish its replay")


def test_serve_replays_several_files_and_a_directory_and_stops_quietly(tmp_path):
    """``serve --replay a b DIR`` (the README's FILE...) works; Ctrl-C prints no DuckDB
    "nanobind: leaked" noise and no traceback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqmap", "serve", "--replay", str(BINANCE_FRAMES), str(BITMEX_INSERTS),
         str(HYPERLIQUID_DIR), "--port", str(port), "--db", str(tmp_path / "s.duckdb")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        h = _wait_health(f"http://127.0.0.1:{port}", proc)
    finally:
        err = _stop(proc)
    assert set(h["pipeline"]["by_exchange"]) == {"binance", "bitmex", "hyperliquid"}, h
    assert h["pipeline"]["by_exchange"]["binance"] == 42 and h["pipeline"]["by_exchange"]["bitmex"] == 117
    assert "nanobind" not in err and "leaked" not in err and "Traceback" not in err, err
    assert proc.returncode == 0


def test_serve_replay_of_a_directory_without_recordings_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a recording\n")
    one_line_error(runner.invoke(app, ["serve", "--replay", str(tmp_path), "--db", str(tmp_path / "x.duckdb")]),
                   "nothing to replay")
    one_line_error(runner.invoke(app, ["serve", "--replay", "--db", str(tmp_path / "x.duckdb")]),
                   "--replay needs the recorded files")


def test_serve_logs_connection_failures_at_the_default_level(tmp_path):
    dead = free_port()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqmap", "serve", "-e", "binance", "--port", str(port), "--db",
         str(tmp_path / "l.duckdb"), "--ws-url", f"binance=ws://127.0.0.1:{dead}",
         "--rest-url", f"binance=http://127.0.0.1:{dead}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(3)
    finally:
        err = _stop(proc)
    assert re.search(rf"binance/\S+: cannot connect to ws://127\.0\.0\.1:{dead}\S*: .*\(attempt 1\); retrying in",
                     err), err
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_removes_its_temporary_database(tmp_path, sig):
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "demo", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            assert proc.poll() is None, proc.communicate()
            if list(tmp_path.glob("liqmap-demo-*/demo.duckdb")):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        assert list(tmp_path.glob("liqmap-demo-*"))
    finally:
        err = _stop(proc, sig)
    assert proc.returncode == 0, (proc.returncode, err)
    assert not list(tmp_path.glob("liqmap-demo-*")), "the demo left its temporary database behind"
    assert "nanobind" not in err and "Traceback" not in err, err


@pytest.mark.postgres
def test_replay_into_a_missing_postgres_database_fails(tmp_path):
    import psycopg

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"!!! PostgreSQL not reachable at 127.0.0.1:5432: {exc} !!!")
    # a process of its own: the store it opened must be closed before exit, or DuckDB's bindings
    # print ~50 "nanobind: leaked" lines after the error
    r = subprocess.run([sys.executable, "-m", "liqmap", "replay", str(BINANCE_FRAMES), "--db", str(tmp_path / "r.duckdb"),
                        "--postgres", "postgresql://postgres@127.0.0.1:5432/liqmap_no_such_database_11"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert 'database "liqmap_no_such_database_11" does not exist' in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("error: storage failed"), r.stderr
    assert "nanobind" not in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    """The demo recordings stored by ``liqmap replay --db`` (2019-2025, three venues)."""
    db = str(tmp_path_factory.mktemp("check") / "c.duckdb")
    r = runner.invoke(app, ["replay", str(ROOT / "src/liqmap/demo_data"), "--db", db])
    assert r.exit_code == 0, r.output
    return db


def test_check_is_readable_at_80_columns(demo_db):
    r = runner.invoke(app, ["check", "--db", demo_db], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert all(len(ln) <= 80 for ln in lines)
    assert "…" not in r.output  # nothing truncated
    rows = {ln.split()[0]: ln for ln in lines if ln.strip().startswith(("binance ", "bitmex ", "hyperliquid "))}
    assert set(rows) == {"binance", "bitmex", "hyperliquid"}  # one row per exchange, not 245 symbols
    assert re.search(r"\b6\.\d y\s*$", rows["bitmex"]), rows["bitmex"]  # 2019 vs 2025-12: years, not seconds
    assert not re.search(r"\d{4,}s\b", r.output)
    r = runner.invoke(app, ["check", "--db", demo_db, "--by-symbol"], env={"COLUMNS": "80"})
    assert r.exit_code == 0 and "XBTUSD" in r.output and "more" in r.output
    assert re.search(r"ACHUSDT .*\b33\d d \d+ h", r.output), r.output  # 2025-01-27 vs 2025-12-28


def test_monitor_fits_80x24(demo_db):
    from liqmap.cli.monitor import fetch_snapshot, render

    snap = fetch_snapshot(db=demo_db, timeframe="all")
    con = Console(width=80, height=24, record=True, color_system=None)
    con.print(render(snap, 80, 24))
    text = con.export_text().rstrip("\n").splitlines()
    assert len(text) <= 24, "\n".join(text)
    assert all(len(ln) <= 80 for ln in text)
    feed = [ln for ln in text if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \w", ln)]
    assert len(feed) >= 10, text  # a screenful of liquidations, one line each, dated with the year
    assert all("…" not in ln for ln in feed)
    assert all(re.search(r"\$[\d.]+[KM]?\s*$", ln) for ln in feed)  # the value column is whole
    wide = Console(width=160, record=True, color_system=None)
    wide.print(render(snap, 160, 50))
    out = wide.export_text()
    assert "Latest liquidations" in out  # the wide layout is unchanged
    # the data spans 2019-2025: every date in either layout carries its year (no bare "01-27 17:07")
    dates = re.findall(r"(?<![\d-])(?:\d{4}-)?\d\d-\d\d \d\d:\d\d", "\n".join(text) + out)
    assert dates and all(re.match(r"\d{4}-", d) for d in dates), dates
    assert re.search(r"2019-11-15 14:30 +BTC", out), out  # the BitMEX cascade, told apart from 2025's
    assert re.search(r"bitmex +stored +117 +6\.1 y", out), out  # ages read as ages, not 193040997s
