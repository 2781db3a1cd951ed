"""`liqmap download` against a local data.binance.vision (tests/archive_server.py) serving REAL Binance rows.

Checked: monthly file for a whole past month (daily files otherwise, and as the fallback when the
monthly one is missing), published SHA-256 enforced, interrupted and partial transfers resumed
with HTTP Range, missing days named (exit 3), an idempotent re-run, 429 Retry-After honoured,
an unreachable host named (exit 1), and the ingested values equal the archive's CSV rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from archive_server import ArchiveServer, csv_rows, fixture_archives, kline_archives
from conftest import free_port
from liqmap.cli import app
from liqmap.history.fetch import fetch_file
from liqmap.history.vision import ArchiveFile, plan

MONTHLY_5M = "data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2025-12.zip"
METRICS = "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-12-{:02d}.zip"


async def _cli(*args: str):
    """Run the CLI in a thread (it runs its own event loop) while this loop serves the archive."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def _args(srv: ArchiveServer, tmp_path: Path, *extra: str) -> list[str]:
    return ["download", "--symbol", "BTCUSDT", "--base-url", srv.url, "--db", str(tmp_path / "h.duckdb"),
            "--dest", str(tmp_path / "vision"), "--retries", "1", *extra]


def _q(tmp_path: Path, sql: str):
    con = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_plan_uses_monthly_files_only_for_whole_past_months():
    files = plan("BTCUSDT", ["klines", "metrics"], ["5m"], dt.date(2025, 11, 30), dt.date(2026, 1, 2),
                 today=dt.date(2026, 1, 5))
    kl = [f for f in files if f.dataset == "klines"]
    assert [f.period for f in kl] == ["2025-11-30", "2025-12", "2026-01-01", "2026-01-02"]
    assert kl[1].path == MONTHLY_5M and (kl[1].start_ms, kl[1].end_ms) == (1764547200000, 1767225600000)
    metrics = [f for f in files if f.dataset == "metrics"]  # metrics exist as daily files only
    assert len(metrics) == 34 and not any(f.monthly for f in metrics)
    # the current month is never monthly, even when wholly requested
    assert not any(f.monthly for f in plan("BTCUSDT", ["klines"], ["5m"], dt.date(2025, 12, 1),
                                           dt.date(2025, 12, 31), today=dt.date(2025, 12, 31)))
    with pytest.raises(ValueError, match="unknown dataset"):
        plan("BTCUSDT", ["trades"], ["5m"], dt.date(2025, 12, 1), dt.date(2025, 12, 2), dt.date(2026, 1, 1))


async def test_whole_month_comes_from_the_monthly_file_and_matches_the_real_csv(tmp_path):
    files = kline_archives()
    async with ArchiveServer(files) as srv:
        r = await _cli(*_args(srv, tmp_path, "--start-date", "2025-12-01", "--end-date", "2025-12-31",
                              "--data", "klines", "--interval", "5m"))
    assert r.exit_code == 0, r.output
    assert [p for p, _ in srv.gets()] == [MONTHLY_5M]  # one request for the month, no daily file
    want = csv_rows(files[MONTHLY_5M])
    assert len(want) == 8928
    got = _q(tmp_path, "SELECT count(*), min(open_time), max(open_time), sum(close), sum(taker_buy_volume) "
                       "FROM klines_5m_history WHERE symbol = 'BTCUSDT'")[0]
    assert got[:3] == (8928, int(want[0][0]), int(want[-1][0]))
    assert got[3] == pytest.approx(sum(float(x[4]) for x in want), rel=1e-12)
    assert got[4] == pytest.approx(sum(float(x[9]) for x in want), rel=1e-12)
    assert (tmp_path / "vision" / MONTHLY_5M).exists() and (tmp_path / "vision" / (MONTHLY_5M + ".CHECKSUM")).exists()


async def test_missing_monthly_file_falls_back_to_the_days(tmp_path):
    files = kline_archives()
    del files[MONTHLY_5M]
    async with ArchiveServer(files) as srv:
        r = await _cli(*_args(srv, tmp_path, "--start-date", "2025-12-01", "--end-date", "2025-12-31",
                              "--data", "klines"))
    assert r.exit_code == 0, r.output
    assert len(srv.gets()) == 31
    assert _q(tmp_path, "SELECT count(*), count(DISTINCT open_time) FROM klines_5m_history") == [(8928, 8928)]


async def test_missing_day_is_named_and_the_rest_is_ingested(tmp_path):
    files = fixture_archives("metrics")  # 2025-12-05, 06, 07 exist; 04 does not
    async with ArchiveServer(files) as srv:
        r = await _cli(*_args(srv, tmp_path, "--start-date", "2025-12-04", "--end-date", "2025-12-07",
                              "--data", "metrics"))
    assert r.exit_code == 3, r.output
    assert "missing on the archive" in r.output and "metrics 2025-12-04" in r.output
    assert "Traceback" not in r.output
    want = sum(len(csv_rows(files[METRICS.format(d)])) for d in (5, 6, 7))
    assert _q(tmp_path, "SELECT count(*) FROM open_interest_history") == [(want,)]


async def test_checksum_mismatch_is_rejected_and_nothing_of_it_ingested(tmp_path):
    files = fixture_archives("metrics")
    async with ArchiveServer(files) as srv:
        srv.bad_checksum.add(METRICS.format(6))
        r = await _cli(*_args(srv, tmp_path, "--start-date", "2025-12-05", "--end-date", "2025-12-07",
                              "--data", "metrics"))
    assert r.exit_code == 1, r.output
    assert "does not match the published" in r.output and "BTCUSDT-metrics-2025-12-06.zip" in r.output
    days = _q(tmp_path, "SELECT DISTINCT CAST(to_timestamp(timestamp / 1000) AS DATE) FROM open_interest_history")
    assert sorted(d[0].isoformat() for d in days) == ["2025-12-05", "2025-12-07"]
    bad = tmp_path / "vision" / METRICS.format(6)
    assert not bad.exists() and not bad.with_name(bad.name + ".part").exists()


async def test_interrupted_transfer_resumes_with_range(tmp_path):
    files = kline_archives()
    size = len(files[MONTHLY_5M])
    async with ArchiveServer(files) as srv:
        srv.cut_after[MONTHLY_5M] = size // 3
        r = await _cli(*_args(srv, tmp_path, "--start-date", "2025-12-01", "--end-date", "2025-12-31",
                              "--data", "klines"))
    assert r.exit_code == 0, r.output
    gets = srv.gets()
    assert gets[0] == (MONTHLY_5M, None) and gets[1] == (MONTHLY_5M, f"bytes={size // 3}-")
    assert "1 resumed" in r.output
    local = tmp_path / "vision" / MONTHLY_5M
    assert local.read_bytes() == files[MONTHLY_5M]
    assert _q(tmp_path, "SELECT count(*) FROM klines_5m_history") == [(8928,)]


async def test_partial_file_from_an_earlier_run_is_continued_and_a_corrupt_one_refetched(tmp_path):
    files = fixture_archives("aggTrades")
    name = "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    f = ArchiveFile("aggTrades", "BTCUSDT", None, dt.date(2025, 1, 27))
    assert f.path == name
    part = tmp_path / "vision" / (name + ".part")
    part.parent.mkdir(parents=True)
    half = len(files[name]) // 2
    async with ArchiveServer(files) as srv, httpx.AsyncClient() as client:
        part.write_bytes(files[name][:half])  # what a killed run left behind
        res = await fetch_file(client, srv.url, f, tmp_path / "vision")
        assert (res.status, res.nbytes) == ("resumed", len(files[name]) - half)
        assert srv.gets() == [(name, f"bytes={half}-")]
        assert res.path.read_bytes() == files[name] and not part.exists()

        res.path.unlink()
        part.write_bytes(b"\0" * half)  # a corrupt partial: the resumed file fails its checksum
        srv.requests.clear()
        res = await fetch_file(client, srv.url, f, tmp_path / "vision")
        assert res.status == "downloaded" and res.path.read_bytes() == files[name]
        assert srv.gets() == [(name, f"bytes={half}-"), (name, None)]  # resumed, rejected, fetched whole


async def test_rerun_downloads_and_stores_nothing_twice(tmp_path):
    files = fixture_archives("aggTrades")
    async with ArchiveServer(files) as srv:
        args = _args(srv, tmp_path, "--start-date", "2025-01-26", "--end-date", "2025-01-27", "--data", "aggTrades")
        first = await _cli(*args)
        assert first.exit_code == 0, first.output
        before = _q(tmp_path, "SELECT count(*), sum(price * quantity), count(DISTINCT agg_trade_id) FROM aggtrades_history")
        srv.requests.clear()
        again = await _cli(*args)
    assert again.exit_code == 0, again.output
    assert srv.gets() == []  # only the .CHECKSUM files were asked for: the local zips verify
    assert len(srv.gets(".CHECKSUM")) == 2
    assert "2 already here" in again.output and "0 rows ingested" in again.output
    assert "2 files were already ingested" in again.output
    after = _q(tmp_path, "SELECT count(*), sum(price * quantity), count(DISTINCT agg_trade_id) FROM aggtrades_history")
    assert after[0][::2] == before[0][::2] and after[0][1] == pytest.approx(before[0][1], rel=1e-12)  # float sum order varies
    want = sum(len(csv_rows(files[p])) for p in files if "2025-01-2" in p)
    assert before[0][0] == want and before[0][2] == want


async def test_429_retry_after_is_honoured_with_a_floor(tmp_path):
    files = fixture_archives("metrics")
    f = ArchiveFile("metrics", "BTCUSDT", None, dt.date(2025, 12, 5))
    waits: list[float] = []

    async def sleep(s):
        waits.append(s)

    async with ArchiveServer(files) as srv, httpx.AsyncClient() as client:
        srv.scripted[f.path + ".CHECKSUM"] = [(429, {"Retry-After": "3"}), (429, {"Retry-After": "0"})]
        res = await fetch_file(client, srv.url, f, tmp_path / "v", sleep=sleep, min_retry_s=0.5)
    assert res.status == "downloaded"
    assert waits == [3.0, 0.5]  # the server's delay, then the floor for "Retry-After: 0"
    assert hashlib.sha256(res.path.read_bytes()).hexdigest() == res.sha256


async def test_unreachable_host_is_named_without_traceback(tmp_path):
    port = free_port()  # nothing listens there
    r = await _cli("download", "--symbol", "BTCUSDT", "--start-date", "2025-12-05", "--end-date", "2025-12-05",
                   "--data", "metrics", "--base-url", f"http://127.0.0.1:{port}", "--db", str(tmp_path / "x.duckdb"),
                   "--dest", str(tmp_path / "v"), "--retries", "0")
    assert r.exit_code == 1
    assert f"cannot reach 127.0.0.1:{port}" in r.output and "Traceback" not in r.output


async def test_bad_arguments_exit_2(tmp_path):
    for extra in (["--start-date", "2025-12-05", "--end-date", "2025-12-01"],
                  ["--start-date", "2025-13-01", "--end-date", "2025-12-01"],
                  ["--start-date", "2025-12-01", "--end-date", "2025-12-01", "--data", "trades"],
                  ["--start-date", "2025-12-01", "--end-date", "2025-12-01", "--interval", "7m"],
                  ["--start-date", "2025-12-01", "--end-date", "2025-12-01", "--symbol", "../../etc"]):
        r = await _cli("download", "--symbol", "BTCUSDT", "--db", str(tmp_path / "x.duckdb"), *extra)
        assert r.exit_code == 2, (extra, r.output)
        assert "error:" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("method", ["deflated", "stored"])
def test_zip_members_load_the_same_rows_whether_deflated_or_stored(tmp_path, method):
    """A deflated member is handed to DuckDB as gzip without inflating it; a stored one is copied."""
    import io
    import zipfile

    from liqmap.heatmap.ingest import SourceFile, load_file
    from liqmap.storage.duckdb_store import apply_migrations

    text = kline_archives()["data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-12-27.zip"]
    with zipfile.ZipFile(io.BytesIO(text)) as zf:
        csv_bytes = zf.read(zf.namelist()[0])
    path = tmp_path / "BTCUSDT-5m-2025-12-27.zip"
    comp = zipfile.ZIP_DEFLATED if method == "deflated" else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", comp) as zf:
        zf.writestr("BTCUSDT-5m-2025-12-27.csv", csv_bytes)
    con = duckdb.connect()
    apply_migrations(con)
    day = ArchiveFile("klines", "BTCUSDT", "5m", dt.date(2025, 12, 27))
    rep = load_file(con, SourceFile(path, "klines", "BTCUSDT", "5m", day.start_ms, day.end_ms))
    rows = [r for r in csv_bytes.decode().splitlines() if r[:1].isdigit()]
    assert rep.status == "loaded" and rep.rows == len(rows) == 288
    got = con.execute("SELECT open_time, high, volume FROM klines_5m_history ORDER BY 1").fetchall()
    assert got == [(int(r.split(",")[0]), float(r.split(",")[2]), float(r.split(",")[5])) for r in rows]
