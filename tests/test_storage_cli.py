"""``liqmap cascades`` on a database filled from the real 2025-01-27 sell-off capture."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from typer.testing import CliRunner

from liqmap.cli import app
from liqmap.feed.aggregator import ExchangeAggregator
from liqmap.storage.duckdb_store import DuckDBStore
from liqmap.storage.tiered import TieredStore

from test_storage_loader import SELLOFF, load_liquidations

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "liq.duckdb"

    async def fill():
        store = TieredStore(db_path=str(path))
        agg = ExchangeAggregator(exchanges=[])  # storage gets the stream deduplicated, as in serve
        await store.write([e for e in load_liquidations(SELLOFF) if agg.publish(e)])
        return await store.close()

    summary = asyncio.run(fill())
    assert summary["cascades_found"] >= 2
    return path, summary


def test_cascades_json_matches_store(db):
    path, summary = db
    res = runner.invoke(app, ["cascades", "--db", str(path), "--json"])
    assert res.exit_code == 0, res.output
    rows = msgspec.json.decode(res.stdout)
    assert len(rows) == summary["cascades_found"]
    # each cascade's figures, recomputed from the capture's events (one per id) of its base
    # inside [start_ms, end_ms]; the field names are the API's (issue #11: one vocabulary)
    uniq = {}
    for e in load_liquidations(SELLOFF):
        uniq.setdefault(e.id, e)
    for r in rows:
        assert set(r) == {"id", "base", "start_ms", "end_ms", "count", "value_usd", "long_usd", "short_usd",
                          "exchanges", "risk_score", "severity", "cross_exchange", "status", "dominant_side"}
        inside = [e for e in uniq.values() if e.base == r["base"] and r["start_ms"] <= e.timestamp <= r["end_ms"]]
        assert r["count"] == len(inside), r["id"]
        assert r["value_usd"] == pytest.approx(sum(e.value_usd for e in inside), rel=1e-9)
        assert r["long_usd"] == pytest.approx(sum(e.value_usd for e in inside if e.side == "long"), rel=1e-9, abs=1e-6)
        assert sorted(r["exchanges"]) == sorted({e.exchange for e in inside})
    assert [r["start_ms"] for r in rows] == sorted((r["start_ms"] for r in rows), reverse=True)
    btc = msgspec.json.decode(runner.invoke(app, ["cascades", "--db", str(path), "--symbol", "BTCUSDT", "--json"]).stdout)
    assert btc and all(r["base"] == "BTC" for r in btc)
    assert len(btc) == sum(r["base"] == "BTC" for r in rows)


def test_cascades_table(db):
    path, summary = db
    res = runner.invoke(app, ["cascades", "--db", str(path)])
    assert res.exit_code == 0, res.output
    assert "2025-01-27 16:5" in res.stdout and "binance" in res.stdout
    assert f"{summary['cascades_found']} cascade(s)" in res.stdout


def test_missing_database(tmp_path):
    res = runner.invoke(app, ["cascades", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "no database" in res.output


def test_locked_by_writer_in_other_process(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    asyncio.run(DuckDBStore(path).close())  # creates the schema, releases the file
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        res = runner.invoke(app, ["cascades", "--db", str(path)])
        assert res.exit_code == 2 and "writer" in res.output
    finally:
        holder.kill()
        holder.wait()
