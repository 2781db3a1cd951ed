"""The plausibility gate (issue #12 item 1) on REAL frames: Binance forceOrder events
(arbitra capture, 2025-10) and BitMEX liquidation rows (2019-11), mutated the way the
fault-injection runs found parsers accepting them."""

from __future__ import annotations

import copy
import json
from datetime import datetime

import msgspec
import pytest

from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.plausibility import GateConfig, PlausibilityGate
from liqmap.exchanges.registry import VENUE_NAMES, get_venue, venue_class
from liqmap.models import Liquidation, Quarantined
from liqmap.storage.duckdb_store import DuckDBStore
from test_parse_fixtures import arbitra_frames, bitmex_insert_rows

BN = [r["msg"] for r in arbitra_frames()]


def _parse(venue, msg: dict, received_at: int | None = None):
    return venue.parse(json.dumps(msg), received_at or msg["E"] + 2)


def _mutated(i: int, **order) -> dict:
    msg = copy.deepcopy(BN[i])
    msg["o"].update(order)
    return msg


def test_real_frames_pass_and_every_venue_has_a_gate():
    v = get_venue("binance")
    out = [e for m in BN for e in _parse(v, m)]
    assert len(out) == 42 and all(type(e) is Liquidation for e in out)
    assert v.gate.counts() == {"rejected": {}, "quarantined": {}}
    for name in VENUE_NAMES:  # the gate sits in the base contract: every venue has it
        assert isinstance(get_venue(name, contracts=ContractSizes()).gate, PlausibilityGate)
        assert venue_class(name).launched_ms > 1_400_000_000_000


@pytest.mark.parametrize("order, reason", [
    ({"ap": "1e308", "p": "1e308"}, "non_finite"),       # finite, positive, absurd: value overflows
    ({"ap": "2e12"}, "too_large"),                       # a price above 1e9 quote units
    ({"z": "1e300"}, "too_large"),                       # value beyond 1e10 USD
    ({"s": "<img src=x onerror=alert(1)>USDT"}, "symbol"),  # stored-XSS attempt
    ({"s": "BTC" * 40 + "USDT"}, "symbol"),              # longer than 64 characters
    ({"s": "BTC\x00USDT"}, "symbol"),                    # NUL byte (broke PostgreSQL)
    ({"T": 1}, "timestamp"),                             # 1970
    ({"T": 4_102_444_800_000}, "timestamp"),             # 2100
])  # fmt: skip
def test_implausible_values_are_dropped_and_counted(order, reason):
    v = get_venue("binance")
    msg = _mutated(0, **order)
    if "T" in order:
        msg["E"] = order["T"]
    assert _parse(v, msg, BN[0]["E"] + 2) == []
    assert v.gate.rejected == {reason: 1}
    assert _parse(v, BN[0])  # the real frame still passes


def test_value_must_be_price_times_quantity():
    """A parser bug valuing a contract wrongly (the gate checks what a parser computed)."""
    v = get_venue("binance")
    (liq,) = _parse(v, BN[0])
    gate = PlausibilityGate(v)
    assert gate.check(liq) is liq
    bad = msgspec.structs.replace(liq, value_usd=liq.value_usd * 306)
    assert gate.check(bad) is None and gate.rejected == {"value_mismatch": 1}
    inf = msgspec.structs.replace(liq, value_usd=float("inf"))
    assert gate.check(inf) is None and gate.rejected["non_finite"] == 1


def test_xbt_quoted_value_checked_against_the_xbt_price():
    """BitMEX ADAZ19 (quoted in XBT): value_usd = price x quantity x XBT/USD, the XBT/USD the
    gate saw on the venue's own XBTUSD events (2019-11 rows: XBTUSD ~8,400-8,540)."""
    rows = bitmex_insert_rows()
    v = get_venue("bitmex", contracts=ContractSizes())
    out = []
    for r in rows:
        row = {k: r[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")}
        at = int(datetime.fromisoformat(r["recorded_at"].replace("Z", "+00:00")).timestamp() * 1000)
        out += v.parse(json.dumps({"table": "liquidation", "action": "insert", "data": [row]}), at)
    ada = [e for e in out if type(e) is Liquidation and e.symbol == "ADAZ19"]
    assert len(ada) == 7 and v.gate.counts()["rejected"] == {}
    assert 8000 < ada[0].value_usd / (ada[0].price * ada[0].quantity) < 9000
    gate = PlausibilityGate(v)
    xbt = next(e for e in out if type(e) is Liquidation and e.symbol == "XBTUSD")
    assert gate.check(xbt) is xbt  # the gate learns XBT/USD
    wrong = msgspec.structs.replace(ada[0], value_usd=ada[0].price * ada[0].quantity)  # XBT called USD
    assert gate.check(wrong) is None and gate.rejected == {"value_mismatch": 1}


def test_far_price_is_quarantined_and_the_reference_follows_a_real_move():
    v = get_venue("binance")
    sol = [m for m in BN if m["o"]["s"] == "SOLUSDT"]
    assert len(sol) == 3 and all(type(e) is Liquidation for m in sol for e in _parse(v, m))
    ten_x = _mutated(BN.index(sol[0]), ap="2227.2", p="2216.8", T=sol[-1]["E"] + 10)
    ten_x["E"] = sol[-1]["E"] + 10
    (q,) = _parse(v, ten_x)
    assert type(q) is Quarantined and q.reason == "price_far" and q.event.price == 2227.2
    assert 220 < q.reference_price < 225 and v.gate.quarantined == {"price_far": 1}
    (ok,) = _parse(v, dict(sol[1], E=ten_x["E"] + 5, o=dict(sol[1]["o"], T=ten_x["E"] + 5)))
    assert type(ok) is Liquidation  # one outlier does not move the median of three
    # a real regime change: the new level is accepted once it holds two of the last three prints
    kinds = []
    for k in range(3):
        m = _mutated(BN.index(sol[0]), ap="2227.2", p="2216.8", T=ten_x["E"] + 10 + k, q=str(1 + k), z=str(1 + k))
        m["E"] = m["o"]["T"]
        kinds += [type(e) for e in _parse(v, m)]
    assert kinds == [Quarantined, Liquidation, Liquidation]


async def test_quarantined_events_are_stored_apart(tmp_path):
    v = get_venue("binance")
    events = [e for m in BN for e in _parse(v, m)]
    far = _mutated(0, ap="2227.2", p="2216.8")
    events += _parse(v, far, far["E"] + 3)
    assert type(events[-1]) is Quarantined
    store = DuckDBStore(tmp_path / "q.duckdb", flush_interval_s=60)
    await store.write(events)
    await store.close()
    assert store.stats()["stored"] == 42 and store.stats()["quarantined_stored"] == 1
    con = __import__("duckdb").connect(str(tmp_path / "q.duckdb"), read_only=True)
    try:
        row = con.execute("SELECT id, reason, price, reference_price FROM quarantine").fetchone()
        assert con.execute("SELECT count(*) FROM liquidations WHERE symbol = 'SOLUSDT' AND price > 2000").fetchone()[0] == 0
    finally:
        con.close()
    assert row[0] == events[-1].id and row[1] == "price_far" and row[2] == 2227.2 and 220 < row[3] < 225


def test_config_and_clock_are_injectable():
    v = get_venue("binance")
    (liq,) = _parse(v, BN[0])
    gate = PlausibilityGate(v, GateConfig(future_ms=0), clock=lambda: liq.timestamp - 1)
    assert gate.check(liq) is None and gate.rejected == {"timestamp": 1}


def test_a_frame_of_many_events_gets_each_events_verdict():
    """``filter`` over one multi-event list (the frame hot path: one scan, resumed after each
    event it stops at) gives what ``check`` gives event by event: real SOLUSDT liquidations
    with a rejected one (value x 306), a quarantined one (10x price) and the real ones kept in
    order; an all-plausible list comes back as the same list object."""
    v = get_venue("binance")
    real = [e for m in BN for e in _parse(v, m)]
    sol = [e for e in real if e.symbol == "SOLUSDT"]
    bad = msgspec.structs.replace(sol[1], value_usd=sol[1].value_usd * 306)
    far = msgspec.structs.replace(sol[2], price=sol[2].price * 10, value_usd=sol[2].value_usd * 10, timestamp=sol[2].timestamp + 1)
    frame = [sol[0], bad, real[0], far, sol[2], real[1]]
    one_by_one = PlausibilityGate(v)
    want = [k for k in (one_by_one.check(e) for e in frame) if k is not None]
    gate = PlausibilityGate(v)
    got = gate.filter(list(frame))
    assert [(type(k).__name__, getattr(k, "id", None)) for k in got] == [(type(k).__name__, getattr(k, "id", None)) for k in want]
    assert [type(k).__name__ for k in got] == ["Liquidation", "Liquidation", "Quarantined", "Liquidation", "Liquidation"]
    assert gate.counts() == one_by_one.counts() == {"rejected": {"value_mismatch": 1}, "quarantined": {"price_far": 1}}
    fresh = PlausibilityGate(v)
    assert fresh.filter(real) is real and fresh.counts() == {"rejected": {}, "quarantined": {}}


def test_an_empty_list_passes_through():
    """A frame that failed as a whole has no valid rows: ``filter([])`` (its partial events) is []."""
    gate = PlausibilityGate(get_venue("binance"))
    empty: list = []
    assert gate.filter(empty) is empty and gate.counts() == {"rejected": {}, "quarantined": {}}
