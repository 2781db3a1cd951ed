"""A recording carries the contract sizes the live feed used (``liqmap``/``contracts``
frame written by ``liqmap record``), and a replay values contracts with them, offline.

The sizes are BitMEX's real 2021 ``/api/v1/instrument/active`` response (cryptofeed
sample data): ADAUSDT was then a QUANTO contract (multiplier 1,000,000 satoshi), while
the fallback table, which has to describe today's listing, knows ADAUSDT as a linear
0.01-ADA contract. The liquidation row has the documented insert shape at the ADAUSDT
bid of the same recorded session (1.17495 at 2021-07-22 22:36:08 UTC)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from liqmap.exchanges.contracts import ContractSizes, fallback_spec
from liqmap.exchanges.registry import get_venue, venue_class
from liqmap.feed.recorder import RecordingWriter, contracts_frame
from liqmap.frames import RawFrame
from liqmap.replay.runner import ReplayRunner
from test_parse_fixtures import cryptofeed_rest

RECV = 1_626_993_370_032
ROW = {"orderID": "ada-1", "symbol": "ADAUSDT", "side": "Sell", "price": 1.17495, "leavesQty": 2_000}
XBT_MARK = 32184.89  # XBTUSD markPrice in the same instruments response


def _recording(path, with_contracts: bool):
    specs = venue_class("bitmex").contract_specs(cryptofeed_rest("BITMEX.0.gz"))
    with RecordingWriter(path, ["bitmex"]) as w:
        if with_contracts:
            w.write(contracts_frame(specs, RECV - 1_000))
        w.write(RawFrame("bitmex", "realtime", RECV, json.dumps(
            {"table": "liquidation", "action": "insert", "data": [ROW]})))
    return specs


def test_replay_values_contracts_with_the_recorded_sizes(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    specs = _recording(path, with_contracts=True)
    ada = next(s for s in specs if s.symbol == "ADAUSDT")
    assert (ada.kind, ada.size) == ("quanto", pytest.approx(1_000_000e-8))
    assert fallback_spec("bitmex", "ADAUSDT").kind == "linear"  # what a replay without them would use
    cs = ContractSizes()
    runner = ReplayRunner([path], venue_factory=lambda n: get_venue(n, contracts=cs))
    (liq,) = list(runner.iter_events())
    # quanto: 2,000 contracts x 0.01 XBT per unit of price x 1.17495 = 23.499 XBT, x XBTUSD mark
    assert liq.value_usd == pytest.approx(2_000 * 1_000_000e-8 * 1.17495 * XBT_MARK)
    assert liq.quantity == pytest.approx(liq.value_usd / 1.17495)
    assert runner.stats.contract_specs == len(specs) and runner.stats.frames == 1
    assert cs.get("bitmex", "ADAUSDT").source == "recording"


def test_exchange_filter_keeps_the_contracts_frame(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _recording(path, with_contracts=True)
    cs = ContractSizes()
    runner = ReplayRunner([path], exchange="bitmex", venue_factory=lambda n: get_venue(n, contracts=cs))
    (liq,) = list(runner.iter_events())
    assert liq.value_usd == pytest.approx(2_000 * 1_000_000e-8 * 1.17495 * XBT_MARK)


def test_without_the_frame_the_fallback_applies(tmp_path):
    path = tmp_path / "old.jsonl.gz"
    _recording(path, with_contracts=False)
    cs = ContractSizes()
    runner = ReplayRunner([path], venue_factory=lambda n: get_venue(n, contracts=cs))
    (liq,) = list(runner.iter_events())
    assert liq.quantity == pytest.approx(2_000 * 0.01)  # linear 0.01 ADA per contract
    assert runner.stats.contract_specs == 0


def test_cli_replay_print_uses_the_recorded_sizes(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _recording(path, with_contracts=True)
    out = subprocess.run([sys.executable, "-m", "liqmap", "replay", str(path), "--print", "--as-fast-as-possible"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    assert line["id"] == "bitmex:ada-1"
    assert line["value_usd"] == pytest.approx(2_000 * 1_000_000e-8 * 1.17495 * XBT_MARK)
