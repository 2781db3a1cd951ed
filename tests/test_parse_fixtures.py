"""Fixture readers shared by the parser tests (and tests of the readers + registry).

Everything here reads ONLY tests/fixtures. Other parser test modules import
these helpers (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import gzip
from collections import Counter
import json
from importlib import import_module
from types import ModuleType
from typing import Iterator

import pytest

from conftest import FIX
from liqmap.exchanges.base import Venue, safe_parse
from liqmap.exchanges.registry import VENUE_NAMES, get_venue, venue_class

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


def parse_cryptofeed_session(venue, name: str) -> tuple[list, Counter, list]:
    """Every received frame of a cryptofeed sample session through ``venue``'s parser
    (``safe_parse``, the live path): ``(events, counts by event type name, errors)``."""
    events, counts, errors = [], Counter(), []
    for recv, text in cryptofeed_frames(name):
        evs, err = safe_parse(venue, text, recv)
        if err:
            errors.append(err)
        for e in evs:
            counts[type(e).__name__] += 1
            events.append(e)
    return events, counts, errors


def trade_prices(events) -> dict[str, list[float]]:
    """Trade prices per venue symbol, in event order."""
    out: dict[str, list[float]] = {}
    for e in events:
        if type(e).__name__ == "Trade":
            out.setdefault(e.symbol, []).append(e.price)
    return out


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


def compact(obj: object) -> str:
    """JSON text as venues send it: compact, key order kept."""
    return json.dumps(obj, separators=(",", ":"))


# ----------------------------------------------------------------- per-venue fixtures, derived


def venue_test_module(name: str) -> ModuleType:
    """The test module of venue ``name``: ``tests/test_parse_<module>.py`` for the venue
    module ``liqmap/exchanges/<module>.py`` (docs/adding-a-venue.md)."""
    module = venue_class(name).__module__.rsplit(".", 1)[-1]
    return import_module(f"test_parse_{module}")


def venue_liquidation_frames(name: str) -> dict[str, list[str]]:
    """``{label: frames}`` of venue ``name`` from its test module's ``liquidation_frames()``:
    the label is the venue name, or the name followed by `` (note)`` for a variant."""
    frames = venue_test_module(name).liquidation_frames()
    return {k: v for k, v in frames.items() if k.split(" ", 1)[0] == name}


def venue_sessions(name: str) -> list[str]:
    """File names of the cryptofeed sample websocket sessions recorded from venue ``name``."""
    from liqmap.replay.cryptofeed_reader import venue_for

    return sorted(p.name for p in CF.glob("*.ws.*.gz") if venue_for(p, None)[0] == name)


def venue_tardis_messages(name: str) -> list[dict]:
    """The tardis-node fixture messages whose exchange id maps to venue ``name``."""
    from liqmap.replay.tardis_reader import tardis_venue

    out = []
    with open(FIX / "tardis_node_fixtures" / "liquidation_messages.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            if tardis_venue(rec["exchange"]) == name:
                out.append(rec["message"])
    return out


#: A receipt time for hand-built frames (2023-11-14 22:13 UTC): inside every venue's life,
#: so the plausibility gate's time rule passes.
T0 = 1_700_000_000_000


def parse_ok(venue: Venue, frame: str | dict, received_at: int = T0):
    """Parse with ``Venue.parse`` directly (errors propagate to the test)."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    return venue.parse(text, received_at, "test")


# ----------------------------------------------------------------- tests of the readers/registry


def test_registry_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known venues: " + ", ".join(VENUE_NAMES)):
        get_venue("no-such-venue")


def test_url_overrides_reach_connections():
    for name in VENUE_NAMES:
        v = get_venue(name, ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
        for c in v.connections():
            assert c.url.startswith("ws://127.0.0.1:9"), (name, c.url)
        for p in v.rest_polls(v.native_symbols("BTC")):
            assert p.url.startswith("http://127.0.0.1:9"), (name, p.url)


def test_fixture_readers():
    assert len(arbitra_frames()) == 42
    assert len(bitmex_insert_rows()) == 117
    frames = list(cryptofeed_frames("BINANCE_FUTURES.ws.1.0.gz"))
    assert frames and all(t > 1_600_000_000_000 for t, _ in frames)
