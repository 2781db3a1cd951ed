"""Fixture readers shared by the parser tests (and tests of the readers + registry).

Everything here reads ONLY tests/fixtures. Other parser test modules import
these helpers (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import gzip
import json
from typing import Iterator

import pytest

from conftest import FIX
from liqmap.exchanges.base import Venue
from liqmap.exchanges.registry import VENUE_NAMES, get_venue

CF = FIX / "cryptofeed_sample_data"


def cryptofeed_frames(name: str) -> Iterator[tuple[int, str]]:
    """Received frames of a cryptofeed sample session: ``(recv_ms, text)``.

    Line format (PROVENANCE.md): ``url <-> ts`` connect, ``url <- ts: msg`` sent,
    ``ts: payload`` received. Only received lines are yielded.
    """
    with gzip.open(CF / name, "rt") as fh:
        for line in fh:
            if line.startswith(("wss://", "https://", "configuration:")):
                continue
            ts, sep, body = line.partition(": ")
            if not sep:
                continue
            yield int(float(ts) * 1000), body.rstrip("\n")


def cryptofeed_rest(name: str) -> str:
    """Body of the first recorded REST response (``url -> ts: body``) in a sample file."""
    with gzip.open(CF / name, "rt") as fh:
        first = fh.readline()
    return first.split(": ", 1)[1]


def tardis_messages(*exchanges: str) -> list[dict]:
    """tardis-node fixture records (``exchange``, ``note``, ``message``) for the given ids."""
    out = []
    with open(FIX / "tardis_node_fixtures" / "liquidation_messages.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["exchange"] in exchanges:
                out.append(rec)
    return out


def arbitra_frames() -> list[dict]:
    """The 42 raw Binance ``!forceOrder@arr`` events (``{"ts", "msg"}`` records)."""
    with open(FIX / "binance_forceorder_arbitra" / "binance_force_orders_ws.jsonl") as fh:
        return [json.loads(line) for line in fh]


def bitmex_insert_rows() -> list[dict]:
    """The 117 BitMEX liquidation insert rows (with the app's ``recorded_at``)."""
    with open(FIX / "bitmex_liquidations_ticktrades" / "bitmex_liquidation_inserts_2019-11.jsonl") as fh:
        return [json.loads(line) for line in fh]


def parse_ok(venue: Venue, frame: str | dict, received_at: int = 1_700_000_000_000):
    """Parse with ``Venue.parse`` directly (errors propagate to the test)."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    return venue.parse(text, received_at, "test")


# ----------------------------------------------------------------- tests of the readers/registry


def test_registry_names_and_unknown():
    assert VENUE_NAMES == ("binance", "binance_coinm", "bybit", "okx", "bitmex", "deribit", "hyperliquid")
    for name in VENUE_NAMES:
        v = get_venue(name)
        assert v.name == name
        assert "liquidations" in v.capabilities or name == "hyperliquid"
        assert v.connections(), name
    with pytest.raises(ValueError, match="binance_coinm"):
        get_venue("kraken")


def test_url_overrides_reach_connections():
    for name in VENUE_NAMES:
        v = get_venue(name, ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
        for c in v.connections():
            assert c.url.startswith("ws://127.0.0.1:9"), (name, c.url)
        for p in v.rest_polls(v.native_symbols("BTC")):
            assert p.url.startswith("http://127.0.0.1:9"), (name, p.url)


def test_native_symbols():
    expect = {
        "binance": ["BTCUSDT"],
        "binance_coinm": ["BTCUSD_PERP"],
        "okx": ["BTC-USDT-SWAP", "BTC-USD-SWAP"],
        "bitmex": ["XBTUSD", "XBTUSDT"],
        "deribit": ["BTC-PERPETUAL"],
        "hyperliquid": ["BTC"],
    }
    for name, symbols in expect.items():
        assert get_venue(name).native_symbols("BTC") == symbols, name
    assert get_venue("bybit").native_symbols("BTC")[0] == "BTCUSDT"
    assert get_venue("binance").native_symbols("ETH", "USDC") == ["ETHUSDC"]


def test_fixture_readers():
    assert len(arbitra_frames()) == 42
    assert len(bitmex_insert_rows()) == 117
    frames = list(cryptofeed_frames("BINANCE_FUTURES.ws.1.0.gz"))
    assert frames and all(t > 1_600_000_000_000 for t, _ in frames)


def test_every_real_liquidation_frame_in_fixtures():
    """All recorded liquidation frames of the supported venues: each yields
    Liquidations with complete fields and a unique id per venue."""
    from liqmap.exchanges.contracts import ContractSizes
    from liqmap.models import Liquidation

    tardis_map = {"bybit": "bybit", "okex-futures": "okx", "okex-swap": "okx", "bitmex": "bitmex",
                  "deribit": "deribit", "binance-futures": "binance", "binance-delivery": "binance_coinm"}
    frames: list[tuple[str, dict]] = [("binance", r["msg"]) for r in arbitra_frames()]
    frames += [(tardis_map[r["exchange"]], r["message"]) for r in tardis_messages(*tardis_map)]
    frames += [("bitmex", {"table": "liquidation", "action": "insert",
                           "data": [{k: r[k] for k in ("orderID", "symbol", "side", "price", "leavesQty")}]})
               for r in bitmex_insert_rows()]
    venues = {name: get_venue(name, contracts=ContractSizes()) for name in VENUE_NAMES}
    ids: dict[str, set[str]] = {}
    n = 0
    for i, (name, frame) in enumerate(frames):
        for ev in venues[name].parse(json.dumps(frame), 1_600_000_000_000 + i, "fixture"):
            if not isinstance(ev, Liquidation):
                continue
            assert ev.exchange == name and ev.side in ("long", "short")
            assert ev.base and ev.quote and ev.symbol and ev.order_side
            assert ev.price > 0 and ev.quantity > 0 and ev.value_usd > 0
            assert 1_500_000_000_000 < ev.timestamp < 1_800_000_000_000
            assert ev.id.startswith(name + ":") and ev.id not in ids.setdefault(name, set())
            ids[name].add(ev.id)
            n += 1
    assert {k: len(v) for k, v in ids.items()} == {
        "binance": 43, "binance_coinm": 1, "bybit": 10, "okx": 7, "bitmex": 118, "deribit": 2}
    assert n == 181
