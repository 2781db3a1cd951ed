"""Ingest of data.binance.vision-layout files (real rows re-written in archive format, see
tests/fixtures/heatmap/README.md): zip/csv, header/no header, µs timestamps, idempotency,
resume, dry-run, bad file with file+line and nothing half-loaded."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import shutil
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FIX, VISION
from liqmap.heatmap.ingest import IngestError, discover, ingest

SRC = FIX / "binance_forceorder_datastreams" / "PauliusMinialga_binance_large_aggtrades_2025-01-26_2025-02-06.csv.gz"
D0, D1 = dt.date(2025, 1, 1), dt.date(2025, 2, 28)


def _source_rows(symbol: str) -> list[tuple[int, float, float, int, bool]]:
    """The original capture rows of one symbol (agg id, price, qty, T, is_buyer_maker)."""
    out = []
    with gzip.open(SRC, "rt") as fh:
        for line in fh:
            r = [x.strip() for x in line.split(",")]
            if r[1] == symbol:
                out.append((int(r[2]), float(r[3]), float(r[4]), int(r[5]), r[6] == "True"))
    return sorted(out)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_all_variants_load_exactly_the_source_rows(con):
    for sym in ("ETHUSDT", "BTCUSDT"):
        s = ingest(con, "aggtrades", sym, D0, D1, VISION)
        assert [f.status for f in s.files] == ["loaded"] * len(s.files)
    for sym in ("ETHUSDT", "BTCUSDT"):
        got = con.execute("SELECT agg_trade_id, price, quantity, timestamp, is_buyer_maker FROM aggtrades_history "
                          "WHERE symbol = ? ORDER BY agg_trade_id", [sym]).fetchall()
        days = {r[0] for r in con.execute("SELECT range_start FROM ingest_log WHERE symbol = ?", [sym]).fetchall()}
        want = [r for r in _source_rows(sym) if (r[3] // 86_400_000) * 86_400_000 in days]
        assert got == want  # zip+header, csv no header, µs file all decode to the same values
    # the µs file (2025-02-06) was converted to ms
    lo, hi = con.execute("SELECT min(timestamp), max(timestamp) FROM aggtrades_history WHERE symbol='BTCUSDT' "
                         "AND timestamp >= 1738800000000").fetchone()
    assert 1738800000000 <= lo <= hi < 1738886400000


def test_reingest_is_idempotent_and_resumable(con):
    ingest(con, "aggtrades", "BTCUSDT", D0, D1, VISION)
    n1 = con.execute("SELECT count(*) FROM aggtrades_history").fetchone()[0]
    again = ingest(con, "aggtrades", "BTCUSDT", D0, D1, VISION)
    assert {f.status for f in again.files} == {"skipped"}
    forced = ingest(con, "aggtrades", "BTCUSDT", D0, D1, VISION, force=True)
    assert {f.status for f in forced.files} == {"loaded"}
    assert con.execute("SELECT count(*) FROM aggtrades_history").fetchone()[0] == n1 == 8153
    assert con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 3


def test_date_filter_and_discovery():
    files = discover(VISION, "aggtrades", "BTCUSDT", dt.date(2025, 1, 27), dt.date(2025, 1, 27))
    assert [f.path.name for f in files] == ["BTCUSDT-aggTrades-2025-01-27.csv"]
    with pytest.raises(ValueError):
        discover(VISION, "aggtrades", "BTCUSDT", D1, D0)


def test_dry_run_loads_nothing(con):
    s = ingest(con, "aggtrades", "ETHUSDT", D0, D1, VISION, dry_run=True)
    assert [f.status for f in s.files] == ["dry-run", "dry-run"]
    assert [f.rows for f in s.files] == [1532, 2882]
    assert con.execute("SELECT count(*) FROM aggtrades_history").fetchone()[0] == 0


def _broken_copy(tmp_path: Path) -> Path:
    """Copy the BTCUSDT tree and corrupt line 4 of the 2025-01-27 csv (header is line 1)."""
    dst = tmp_path / "vision"
    shutil.copytree(VISION, dst)
    f = dst / "futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.csv"
    lines = f.read_text().splitlines()
    lines[3] = lines[3].replace(".", "x", 1)
    f.write_text("\n".join(lines) + "\n")
    return dst


def test_bad_file_names_file_and_line_and_loads_nothing_of_it(con, tmp_path):
    dst = _broken_copy(tmp_path)
    with pytest.raises(IngestError) as ei:
        ingest(con, "aggtrades", "BTCUSDT", D0, D1, dst)
    msg = str(ei.value)
    assert "BTCUSDT-aggTrades-2025-01-27.csv" in msg and "line 4" in msg
    days = con.execute("SELECT DISTINCT timestamp // 86400000 FROM aggtrades_history").fetchall()
    assert days == [(1737849600000 // 86400000,)]  # only the complete first file
    # previously loaded good data of that day survives a failed re-load (transaction rolled back)
    good = duckdb.connect()
    ingest(good, "aggtrades", "BTCUSDT", D0, D1, VISION)
    with pytest.raises(IngestError):
        ingest(good, "aggtrades", "BTCUSDT", D0, D1, dst, force=True)
    assert good.execute("SELECT count(*) FROM aggtrades_history").fetchone()[0] == 8153


def test_corrupt_zip_is_a_clear_error(con, tmp_path):
    dst = tmp_path / "v" / "futures/um/daily/aggTrades/ETHUSDT"
    dst.mkdir(parents=True)
    (dst / "ETHUSDT-aggTrades-2025-01-26.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IngestError, match="ETHUSDT-aggTrades-2025-01-26.zip"):
        ingest(con, "aggtrades", "ETHUSDT", D0, D1, tmp_path / "v")


def test_checksum_mismatch_is_refused(con, tmp_path):
    dst = tmp_path / "v"
    shutil.copytree(VISION, dst)
    z = dst / "futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2025-01-26.zip"
    (z.parent / (z.name + ".CHECKSUM")).write_text("0" * 64 + "  " + z.name + "\n")
    with pytest.raises(IngestError, match="CHECKSUM"):
        ingest(con, "aggtrades", "ETHUSDT", D0, D1, dst)


def test_klines_and_metrics_layouts(con):
    k = ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION, interval="1h")
    assert k.rows == 72
    m = ingest(con, "metrics", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION)
    assert m.rows == 71
    oi, val, ts = con.execute("SELECT sum_open_interest, sum_open_interest_value, timestamp FROM open_interest_history "
                              "ORDER BY timestamp LIMIT 1").fetchone()
    assert ts == 1764896400000  # '2025-12-05 01:00:00' UTC
    assert 80_000 < val / oi < 100_000  # USDT value / contracts = a BTC price of Dec 2025


def test_cli_ingest_and_dry_run(tmp_path):
    from liqmap.cli import app

    db = tmp_path / "h.duckdb"
    r = CliRunner().invoke(app, ["ingest", "aggtrades", "--symbol", "ETHUSDT", "--start-date", "2025-01-01",
                                 "--end-date", "2025-02-28", "--data-dir", str(VISION), "--db", str(db), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would load" in r.output and not db.exists()
    r = CliRunner().invoke(app, ["ingest", "aggtrades", "--symbol", "ETHUSDT", "--start-date", "2025-01-01",
                                 "--end-date", "2025-02-28", "--data-dir", str(VISION), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert duckdb.connect(str(db)).execute("SELECT count(*) FROM aggtrades_history").fetchone()[0] == 4414
    dst = _broken_copy(tmp_path)
    r = CliRunner().invoke(app, ["ingest", "aggtrades", "--symbol", "BTCUSDT", "--start-date", "2025-01-27",
                                 "--end-date", "2025-01-27", "--data-dir", str(dst), "--db", str(tmp_path / "b.duckdb")])
    assert r.exit_code == 1
    assert "line 4" in r.output


def test_flow_preaggregation_matches_raw_trades(con):
    ingest(con, "aggtrades", "BTCUSDT", D0, D1, VISION)
    raw = con.execute("SELECT NOT is_buyer_maker, round(sum(price * quantity), 2) FROM aggtrades_history "
                      "GROUP BY 1 ORDER BY 1").fetchall()
    flow = con.execute("SELECT NOT taker_sell, round(sum(notional), 2) FROM aggtrades_flow_5m GROUP BY 1 ORDER BY 1").fetchall()
    assert raw == flow
    # every trade sits in the 5-minute step that ENDS after it: (t - 5m, t]
    bad = con.execute("""SELECT count(*) FROM aggtrades_history a WHERE NOT EXISTS (
        SELECT 1 FROM aggtrades_flow_5m f WHERE f.symbol = a.symbol AND a.timestamp < f.step_end
        AND a.timestamp >= f.step_end - 300000)""").fetchone()[0]
    assert bad == 0


def test_liquidation_snapshot_layout_dedupes_duplicate_rows(con):
    s = ingest(con, "liquidation-snapshot", "BTCUSDT", D0, D1, VISION)
    # the capture has 61 BTC lines but only 31 distinct 10-field rows (two listeners wrote the same file;
    # the usd_size column differs only by float formatting)
    # independent reference: the distinct 10-field CSV rows of the archive, read with zipfile + csv
    zpath = VISION / "futures/um/daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2025-01-27.zip"
    with zipfile.ZipFile(zpath) as zf:
        lines = [r for r in csv.reader(io.StringIO(zf.read(zf.namelist()[0]).decode())) if r and r[0].isdigit()]
    distinct = {tuple(r[:10]) for r in lines}
    assert s.rows == len(distinct) == 31
    first = min(distinct, key=lambda r: int(r[0]))
    side, ap, z = con.execute("SELECT side, average_price, accumulated_fill_quantity FROM liquidation_snapshot_history "
                              "ORDER BY time LIMIT 1").fetchone()
    assert (side, ap, z) == (first[1], float(first[6]), float(first[9]))


def test_monthly_file_used_only_without_daily_files(con, tmp_path):
    # a monthly archive name holding the real 2025-01-26 ETHUSDT rows (copied file, renamed)
    mdir = tmp_path / "v" / "futures/um/monthly/aggTrades/ETHUSDT"
    mdir.mkdir(parents=True)
    shutil.copy(VISION / "futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2025-01-26.zip",
                mdir / "ETHUSDT-aggTrades-2025-01.zip")
    files = discover(tmp_path / "v", "aggtrades", "ETHUSDT", dt.date(2025, 1, 20), dt.date(2025, 3, 1))
    assert [(f.path.name, f.monthly) for f in files] == [("ETHUSDT-aggTrades-2025-01.zip", True)]
    assert files[0].start == 1737331200000 and files[0].end == 1738368000000  # 2025-01-20 .. 2025-02-01, clipped
    s = ingest(con, "aggtrades", "ETHUSDT", dt.date(2025, 1, 20), dt.date(2025, 3, 1), tmp_path / "v")
    assert s.rows == 1532
    # a daily file in the same month wins over the monthly one
    ddir = tmp_path / "v" / "futures/um/daily/aggTrades/ETHUSDT"
    ddir.mkdir(parents=True)
    shutil.copy(VISION / "futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2025-01-27.csv", ddir)
    files = discover(tmp_path / "v", "aggtrades", "ETHUSDT", dt.date(2025, 1, 20), dt.date(2025, 3, 1))
    assert [f.path.name for f in files] == ["ETHUSDT-aggTrades-2025-01-27.csv"]


def test_oi_stamp_is_the_end_of_its_model_step(con):
    """The OI row stamped T is the OI at the END of the model step (T - 5m, T]; a 1h kline opening
    T0 prices the 5-minute step ending T0 + 1h (the model's feeder, heatmap/series.py)."""
    from liqmap.heatmap.model import model_series

    ingest(con, "klines", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION, interval="1h")
    ingest(con, "metrics", "BTCUSDT", dt.date(2025, 12, 1), dt.date(2025, 12, 31), VISION)
    oi = dict(con.execute("SELECT timestamp, sum_open_interest FROM open_interest_history").fetchall())
    s, _ = model_series(con, "BTCUSDT", 1764892800000, 1765152000000, 300_000)
    k = int(np.flatnonzero(s.t_end == 1764982800000)[0])  # 2025-12-06 01:00
    assert s.oi[k] == oi[1764982800000] and np.isnan(s.oi[k - 1])  # hourly rows: nothing stamped 00:55
    assert s.high[k] == con.execute("SELECT high FROM klines_1h_history WHERE open_time = 1764979200000").fetchone()[0]
