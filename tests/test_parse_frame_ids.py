"""Identical liquidation rows inside one Bybit/OKX frame are distinct liquidations
(the venues give no id; ours is built from the fields): the repeats get ``#2``,
``#3`` so de-duplication by id keeps them. Real recorded frames, one row repeated."""

from __future__ import annotations

import copy
import json

from liqmap.exchanges.registry import get_venue
from test_parse_fixtures import parse_ok, tardis_messages


def test_bybit_repeated_row_is_a_second_liquidation():
    (rec,) = [r for r in tardis_messages("bybit") if r["source_line"] == 7303]  # v5 allLiquidation
    v = get_venue("bybit")
    (one,) = parse_ok(v, rec["message"])
    frame = copy.deepcopy(rec["message"])
    frame["data"] = frame["data"] * 3
    a, b, c = parse_ok(v, frame)
    assert (a.id, b.id, c.id) == (one.id, one.id + "#2", one.id + "#3")
    assert a.value_usd == b.value_usd == c.value_usd == one.value_usd
    again = parse_ok(v, json.dumps(frame))  # same frame again (a replay): same ids
    assert [e.id for e in again] == [a.id, b.id, c.id]


def test_okx_repeated_detail_is_a_second_liquidation():
    (rec,) = [r for r in tardis_messages("okex-swap", "okex-futures") if r["source_line"] == 1567]
    v = get_venue("okx")
    (one,) = parse_ok(v, rec["message"])
    frame = copy.deepcopy(rec["message"])
    frame["data"][0]["details"] = frame["data"][0]["details"] * 2
    a, b = parse_ok(v, frame)
    assert (a.id, b.id) == (one.id, one.id + "#2")


def test_distinct_rows_unchanged():
    v = get_venue("bybit")
    (rec,) = [r for r in tardis_messages("bybit") if r["source_line"] == 6910]
    ids = [e.id for e in parse_ok(v, rec["message"])]
    assert len(ids) > 1 and not any("#" in i for i in ids)
