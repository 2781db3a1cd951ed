"""BitMEX normalization defects of issue #12 item 7 on the real frame shapes.

* Held events at the end of a stream: the real 2019-11 inserts of XBT-quoted futures
  (ADAZ19, XRPZ19) and quanto ETHUSD, replayed from a liqmap recording WITHOUT any XBTUSD
  row, can never be valued (no XBT/USD price). They used to vanish at the end of the replay
  (exit 0, no count); now each comes out as a Quarantined ``unvalued`` event -- counted in the
  replay summary and the gate, stored apart in DuckDB's quarantine table.
* Order growth: the real tardis insert frame (XBTUSD Buy 9,214 @ 10,106), then ``update``
  frames of the same order. The raising updates are the real insert row with ``leavesQty``
  changed (the issue saw 12,900 -> 21,600 on a real capture, not among our fixtures); growth
  above the largest size seen is one more event of the growth, fills are not counted again.
"""

from __future__ import annotations

import gzip
from datetime import datetime

import duckdb
import msgspec
import pytest
from typer.testing import CliRunner

from liqmap.cli import app
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.registry import get_venue
from liqmap.feed.recorder import header_line
from liqmap.frames import RawFrame
from liqmap.models import Liquidation, Quarantined
from liqmap.replay.runner import ReplayRunner
from test_parse_fixtures import T0, bitmex_insert_rows, compact, parse_ok, tardis_messages

UNVALUABLE = ("ADAZ19", "XRPZ19", "ETHUSD")  # need an XBT/USD price


def recording(tmp_path, rows) -> str:
    """A liqmap recording (gzip JSON lines) of the rows' insert frames at their recorded times."""
    path = tmp_path / "bitmex_no_xbtusd.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(header_line(["bitmex"]))
        for r in rows:
            t = int(datetime.fromisoformat(r["recorded_at"].replace("Z", "+00:00")).timestamp() * 1000)
            row = {k: r[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")}
            data = compact({"table": "liquidation", "action": "insert", "data": [row]})
            fh.write(msgspec.json.encode(RawFrame("bitmex", "realtime", t, data)) + b"\n")
    return str(path)


@pytest.fixture(scope="module")
def held_rows():
    rows = [r for r in bitmex_insert_rows() if r["symbol"] in UNVALUABLE]
    assert len(rows) == 59  # 50 ETHUSD, 7 ADAZ19, 2 XRPZ19 (PROVENANCE)
    return rows


def test_held_events_come_out_unvalued_at_the_end_of_a_replay(tmp_path, held_rows):
    runner = ReplayRunner([recording(tmp_path, held_rows)],  # fallback sizes only, no XBT price
                          venue_factory=lambda name: get_venue(name, contracts=ContractSizes()))
    events = list(runner.iter_events())
    assert all(isinstance(e, Quarantined) and e.reason == "unvalued" for e in events)
    assert sorted(e.id for e in events) == sorted("bitmex:" + r["orderID"] for r in held_rows)
    assert runner.stats.count("bitmex", "quarantined") == 59
    assert runner.gate_counts()["bitmex"]["quarantined"] == {"unvalued": 59}
    ada = next(e.event for e in events if e.event.symbol == "ADAZ19")
    row = next(r for r in held_rows if "bitmex:" + r["orderID"] == ada.id)
    assert ada.price == row["price"] and ada.quantity == row["leavesQty"]  # linear: 1 ADA a contract
    assert ada.value_usd != ada.value_usd  # unknown (NaN), never a guess


def test_replay_to_db_stores_them_apart_and_says_so(tmp_path, held_rows, monkeypatch):
    from liqmap.exchanges import contracts

    # the CLI's venues use the process-wide registry: a fresh one, as in a new process (other
    # tests load XBTUSD specs with a mark price into it, which would value these rows)
    monkeypatch.setattr(contracts, "_DEFAULT", ContractSizes())
    db = tmp_path / "held.duckdb"
    res = CliRunner().invoke(app, ["replay", recording(tmp_path, held_rows), "--db", str(db)])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM liquidations").fetchone()[0] == 0
    got = con.execute("SELECT reason, count(*), count(value_usd) FROM quarantine GROUP BY reason").fetchall()
    assert got == [("unvalued", 59, 0)]  # all 59 kept, value unknown (NULL)


def update(ins: dict, leaves: float, price: float | None = None) -> dict:
    row = dict(ins["data"][0], leavesQty=leaves)
    if price is not None:
        row["price"] = price
    return dict(ins, action="update", data=[row])


def test_order_growth_is_counted_as_additional_size():
    v = get_venue("bitmex", contracts=ContractSizes())
    ins, dele = (r["message"] for r in tardis_messages("bitmex"))  # XBTUSD Buy 9,214 @ 10,106
    (first,) = parse_ok(v, ins, T0)
    assert first.value_usd == 9214.0
    assert parse_ok(v, update(ins, 5000), T0 + 1) == []  # a fill: not counted again
    (grew,) = parse_ok(v, update(ins, 15_400), T0 + 2)  # raised above the 9,214 inserted
    assert isinstance(grew, Liquidation)
    assert grew.id == "bitmex:dd9cea25-207c-0dab-15b5-b88da776f500:grew:15400"
    assert (grew.side, grew.price, grew.value_usd, grew.timestamp) == ("short", 10106.0, 15_400 - 9214, T0 + 2)
    assert parse_ok(v, update(ins, 15_400), T0 + 3) == []  # the same size again: nothing new
    (again,) = parse_ok(v, update(ins, 21_600, price=10_110.5), T0 + 4)
    assert again.value_usd == 21_600 - 15_400 and again.price == 10_110.5
    assert first.value_usd + grew.value_usd + again.value_usd == 21_600  # the order's largest size
    assert parse_ok(v, dele, T0 + 5) == []
    assert parse_ok(v, update(ins, 30_000), T0 + 6) == []  # deleted: forgotten


def test_growth_of_an_order_not_seen_is_not_guessed():
    v = get_venue("bitmex", contracts=ContractSizes())
    ins, _ = (r["message"] for r in tardis_messages("bitmex"))
    assert parse_ok(v, update(ins, 50_000), T0) == []  # its insert came before we connected


def test_growth_ids_are_the_same_on_a_second_replay():
    ins, _ = (r["message"] for r in tardis_messages("bitmex"))
    frames = [ins, update(ins, 12_900), update(ins, 21_600)]
    runs = []
    for _ in range(2):
        v = get_venue("bitmex", contracts=ContractSizes())
        runs.append([(e.id, e.value_usd) for i, f in enumerate(frames) for e in parse_ok(v, f, T0 + i)])
    assert runs[0] == runs[1] and [x for _, x in runs[0]] == [9214.0, 12_900 - 9214, 21_600 - 12_900]
