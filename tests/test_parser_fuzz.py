"""Property tests: random input and mutated REAL frames never escape the
error contract -- ``Venue.parse`` raises only ``FrameError`` and ``safe_parse``
never raises."""

from __future__ import annotations

import itertools
import math
import json
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.registry import VENUE_NAMES, get_venue
from liqmap.models import Liquidation
from test_parse_fixtures import arbitra_frames, bitmex_insert_rows, cryptofeed_frames, tardis_messages

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=None)
def real_frames() -> dict[str, list]:
    """A few real frames per venue (decoded to Python values for mutation)."""
    cf = lambda name, n: [json.loads(t) for _, t in itertools.islice(cryptofeed_frames(name), 0, 400)
                          if t.startswith("{")][:n]  # noqa: E731
    bitmex = [{"table": "liquidation", "action": "insert",
               "data": [{k: r[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")}]}
              for r in bitmex_insert_rows()[:20]]
    return {
        "binance": [r["msg"] for r in arbitra_frames()] + cf("BINANCE_FUTURES.ws.1.0.gz", 30),
        "binance_coinm": [r["message"] for r in tardis_messages("binance-delivery")] + cf("BINANCE_DELIVERY.ws.1.0.gz", 30),
        "bybit": [r["message"] for r in tardis_messages("bybit")] + cf("BYBIT.ws.26.0.gz", 20),
        "okx": [r["message"] for r in tardis_messages("okex-futures", "okex-swap")] + cf("OKX.ws.1.0.gz", 20),
        "bitmex": bitmex + [r["message"] for r in tardis_messages("bitmex")] + cf("BITMEX.ws.1.0.gz", 20),
        "deribit": [r["message"] for r in tardis_messages("deribit")] + cf("DERIBIT.ws.1.0.gz", 10),
        "hyperliquid": [
            {"channel": "userFills", "data": {"user": "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14", "fills": [
                {"coin": "ETH", "px": "1655.5", "sz": "0.0452", "side": "A", "time": 1677510146000, "hash": "0xab",
                 "tid": 7, "liquidation": {"liquidatedUser": "0x3b69", "markPx": "1655", "method": "market"}}]}},
            {"channel": "trades", "data": [{"coin": "ETH", "side": "B", "px": "1658.8", "sz": "0.0452",
                                            "time": 1677510252000, "tid": 42, "hash": "0x1"}]},
        ],
    }


def _check(name: str, text: str | bytes) -> None:
    venue = get_venue(name, contracts=ContractSizes())  # never touch the shared registry
    try:
        events = venue.parse(text, 1_700_000_000_000, "fuzz")
    except FrameError:
        pass
    else:
        assert isinstance(events, list)
        for e in events:
            if isinstance(e, Liquidation):
                assert e.side in ("long", "short") and e.price > 0 and e.quantity > 0
                assert math.isfinite(e.value_usd) and math.isfinite(e.quantity) and e.value_usd >= 0
                assert isinstance(e.timestamp, int) and isinstance(e.id, str) and e.id
    events, err = safe_parse(venue, text, 1_700_000_000_000, "fuzz")
    assert isinstance(events, list) and (err is None or isinstance(err, str))
    if isinstance(text, str):
        reply = venue.auto_reply(text)
        assert reply is None or isinstance(reply, str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(name=st.sampled_from(VENUE_NAMES), data=st.binary(max_size=200) | st.text(max_size=200))
def test_random_bytes_and_text(name, data):
    _check(name, data)


@SETTINGS
@given(name=st.sampled_from(VENUE_NAMES), value=json_values)
def test_random_json(name, value):
    _check(name, json.dumps(value))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@SETTINGS
@given(data=st.data(), name=st.sampled_from(VENUE_NAMES))
def test_mutated_real_frames(data, name):
    frame = json.loads(json.dumps(data.draw(st.sampled_from(real_frames()[name]))))
    paths = [p for p in _paths(frame) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = frame
        try:
            for k in path[:-1]:
                parent = parent[k]
            op = data.draw(st.sampled_from(["replace", "delete", "stringify"]))
            if op == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif op == "stringify":
                parent[path[-1]] = str(parent[path[-1]])
            else:
                parent[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    text = json.dumps(frame)
    _check(name, text)
    _check(name, text.encode())
    cut = data.draw(st.integers(0, len(text)))
    _check(name, text[:cut])  # truncated frame
