"""The venue contract (docs/adding-a-venue.md), checked for EVERY registered venue.

Parametrized over ``registry.VENUE_NAMES``: a new venue module is picked up here
without editing this file. Each venue must declare consistent facts, and its
test module (``tests/test_parse_<module>.py``) must provide real liquidation
frames through ``liquidation_frames()``, which must parse into complete
liquidations with unique ids (together with any tardis-node fixture message
mapped to the venue).
"""

from __future__ import annotations

import json
import math
from importlib import import_module

import pytest

from liqmap.exchanges.base import CAPABILITIES, SAMPLINGS, Venue
from liqmap.exchanges.contracts import ContractSizes, ContractSpec, fallback_spec
from liqmap.exchanges.registry import VENUE_NAMES, VENUES, get_venue, venue_class
from liqmap.feed.subscriptions import SubscriptionTracker
from liqmap.models import Liquidation
from liqmap.replay._util import live_label
from liqmap.replay.cryptofeed_reader import venue_for
from liqmap.replay.tardis_reader import tardis_venue
from liqmap.symbols import QUOTE_FAMILY, split_symbol, strict_symbols
from test_parse_fixtures import compact, venue_liquidation_frames, venue_tardis_messages

names = pytest.mark.parametrize("name", VENUE_NAMES)


def test_registry_is_discovered_from_modules():
    assert VENUE_NAMES and len(set(VENUE_NAMES)) == len(VENUE_NAMES)
    for name, cls in VENUES.items():
        assert issubclass(cls, Venue) and cls.name == name
        assert cls in import_module(cls.__module__).VENUES


@names
def test_declarations(name):
    cls = venue_class(name)
    assert "liquidations" in cls.capabilities and set(cls.capabilities) <= set(CAPABILITIES)
    assert cls.sampling in SAMPLINGS
    assert cls.default_ws.startswith("wss://") and cls.default_rest.startswith("https://")
    assert cls.quote_families and set(cls.quote_families) <= set(QUOTE_FAMILY.values())
    assert live_label(name) == cls.label != ""
    for entry in cls.instruments:  # a path, or (path, json body) for a POST
        path = entry if isinstance(entry, str) else entry[0]
        assert path.startswith("/"), (name, path)
    for lim in (cls.limits.args_per_subscribe, cls.limits.topics_per_connection):
        assert lim is None or lim >= 1


@names
def test_connections_and_replay_labels_agree(name):
    """A replayed frame reports under the label its live connection has."""
    v = get_venue(name, contracts=ContractSizes())
    conns = v.connections()
    assert conns
    for c in conns:
        assert v.connection_label(url=c.url) == c.label, (name, c.url)


@names
def test_limits_are_applied(name):
    """Subscribe requests and lifetimes stay within the venue's declared limits."""
    v = get_venue(name, contracts=ContractSizes())
    lim = v.limits
    for c in v.connections([s for q in v.quote_families.values() for s in v.native_symbols("BTC", q)]):
        if lim.max_lifetime_s is not None:
            assert c.max_lifetime_s is not None and c.max_lifetime_s <= lim.max_lifetime_s
        for text in c.subscribe:
            args = json.loads(text).get("args")
            if lim.args_per_subscribe and isinstance(args, list):
                assert len(args) <= lim.args_per_subscribe, (name, text)
        assert {t.kind for t in c.topics} <= set(v.capabilities), name
        assert len({t.key for t in c.topics}) == len(c.topics), name
        for req in SubscriptionTracker(c.topics, lim).plan(0.0):
            kinds = {t.kind for t in req.topics}
            assert "liquidations" not in kinds or kinds == {"liquidations"}, (name, req)
            assert not lim.args_per_subscribe or len(req.topics) <= lim.args_per_subscribe, (name, req)
            json.loads(v.subscribe_request(list(req.topics), req.id))  # valid JSON text


@names
def test_control_ignores_data_frames(name):
    """The venue's real liquidation frames are data, never acks, rejections or notices."""
    v = get_venue(name, contracts=ContractSizes())
    for frames in venue_liquidation_frames(name).values():
        for frame in frames:
            assert v.control(frame) is None, (name, frame[:120])


@names
def test_symbol_grammar_round_trips(name):
    """native_symbols -> base_quote gives the underlying and the declared quote back,
    and strict matching is exactly the venue's quote families."""
    cls = venue_class(name)
    for family, quote in cls.quote_families.items():
        # a family is served by its own quote; USDC perpetuals may stand in for USDT ones
        assert QUOTE_FAMILY[quote] == family or (family, quote) == ("USDT", "USDC"), (name, family, quote)
        syms = cls.native_symbols("BTC", quote)
        assert syms, (name, quote)
        for sym in syms:
            assert split_symbol(name, sym) == ("BTC", quote), (name, sym)
        strict = {s for ex, s in strict_symbols(f"BTC{family}" if family != "USD" else "BTCUSD", [name])}
        assert strict == {s.upper() for s in syms}
    for sym in cls.native_symbols("ETH"):
        assert cls.base_quote(sym)[0] == "ETH", (name, sym)
    missing = set(QUOTE_FAMILY.values()) - set(cls.quote_families)
    for family in missing:
        assert not strict_symbols(f"BTC{family}", [name])


@names
def test_contract_fallback_and_instruments(name):
    cls = venue_class(name)
    for sym in cls.native_symbols("BTC"):
        spec = fallback_spec(name, sym)
        assert isinstance(spec, ContractSpec) and spec.exchange == name and spec.symbol == sym
        assert spec.source == "fallback" and spec.kind in ("linear", "inverse", "quanto")
        assert math.isnan(spec.size) or spec.size > 0
    if cls.instruments:  # a venue reading instruments parses their responses itself
        own = [m for m in ("contract_specs", "listed_symbols") if getattr(cls, m).__func__ is not getattr(Venue, m).__func__]
        assert own, name


@names
def test_recording_names_map_back(name):
    cls = venue_class(name)
    for cid in cls.recordings.cryptofeed:
        assert venue_for(f"{cid}.ws.1.0.gz", None) == (name, cid.upper())
    for tid in cls.recordings.tardis:
        assert tardis_venue(tid.rstrip("*") + ("-x" if tid.endswith("*") else "")) == name
    for url in (cls.default_ws, cls.default_rest):
        assert venue_for("session.gz", url)[0] == name


@names
def test_real_liquidation_frames(name):
    """The venue's real liquidation frames (its test module) and the tardis-node
    messages mapped to it: complete liquidations, ids unique within the venue."""
    groups = venue_liquidation_frames(name)
    assert name in {k.split(" ", 1)[0] for k in groups}, f"tests/test_parse_*.py must give {name} frames"
    frames = list(dict.fromkeys([f for fr in groups.values() for f in fr] + [compact(m) for m in venue_tardis_messages(name)]))
    v = get_venue(name, contracts=ContractSizes())
    ids: set[str] = set()
    for i, frame in enumerate(frames):
        for ev in v.parse(frame, 1_600_000_000_000 + i, "fixture"):
            if not isinstance(ev, Liquidation):
                continue
            assert ev.exchange == name and ev.side in ("long", "short")
            assert ev.base and ev.quote and ev.symbol and ev.order_side
            assert ev.price > 0 and ev.quantity > 0 and ev.value_usd > 0
            assert 1_500_000_000_000 < ev.timestamp < 1_800_000_000_000
            assert ev.id.startswith(name + ":") and ev.id not in ids
            ids.add(ev.id)
    assert ids, f"no liquidation parsed from {name}'s frames"


def _conformance_rows() -> list[list[str]]:
    """Rows of the README's venue-connection table (venue, URL, limits, heartbeat, answers, checked)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    head = text.index("| venue | websocket URL | limits applied |")
    rows = []
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _count(n: int) -> str:
    return "one" if n == 1 else f"{n:,}".replace(",", "[, ]?")


@names
def test_readme_conformance_table_states_the_applied_limits(name):
    """Issue #16: per venue the README gives the URL, the limits applied, the heartbeat and the date
    it was checked; the limits it states are the module's ``Limits`` declaration."""
    import re
    from urllib.parse import urlparse

    cls = venue_class(name)
    host = urlparse(cls.default_ws).netloc
    rows = [r for r in _conformance_rows() if host and host in r[1]]
    assert len(rows) == 1, f"{name}: one README conformance row naming {host}"
    _, url, limits, heartbeat, answers, checked = rows[0]
    assert heartbeat and answers and re.match(r"20\d\d-\d\d-\d\d ", checked)
    lim = cls.limits
    if lim.args_per_subscribe:
        assert re.search(rf"\b{_count(lim.args_per_subscribe)} \w+ a (request|message)", limits), limits
    if lim.topics_per_connection:
        assert re.search(rf"\b{_count(lim.topics_per_connection)} [`\w]+ a connection", limits), limits
    if lim.max_lifetime_s:
        assert f"{lim.max_lifetime_s / 3600:g} h" in limits
    if lim.subscribes_per_hour:
        assert re.search(rf"\b{lim.subscribes_per_hour} \w+ ?/ ?h", limits), limits
