"""Property tests: random input and mutated REAL frames never escape the
error contract -- ``Venue.parse`` raises only ``FrameError`` and ``safe_parse``
never raises -- and every liquidation that comes out satisfies the stored-event
invariants of issue #12 (``tests/invariants.py``: finite, positive, consistent value,
safe symbol, plausible time); the 100k-frame version is ``benchmarks/bench_fuzz.py``."""

from __future__ import annotations

import itertools
import json
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqmap.exchanges.base import FrameError, safe_parse
from liqmap.exchanges.contracts import ContractSizes
from liqmap.exchanges.registry import VENUE_NAMES, get_venue
from liqmap.models import Liquidation, Quarantined
from invariants import liquidation_violations
from test_parse_fixtures import cryptofeed_frames, venue_liquidation_frames, venue_sessions, venue_tardis_messages

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=None)
def real_frames() -> dict[str, list]:
    """Real frames per venue, decoded for mutation: the venue's liquidation frames
    (its test module), its tardis-node messages and the start of its cryptofeed
    sample sessions -- all derived from the registry, so a new venue is fuzzed too."""
    out: dict[str, list] = {}
    for name in VENUE_NAMES:
        frames = [json.loads(f) for fr in venue_liquidation_frames(name).values() for f in fr[:40]]
        frames += venue_tardis_messages(name)
        for session in venue_sessions(name):
            frames += [json.loads(t) for _, t in itertools.islice(cryptofeed_frames(session), 0, 400)
                       if t.startswith("{")][:30]
        out[name] = frames
    return out


def _check(name: str, text: str | bytes) -> None:
    venue = get_venue(name, contracts=ContractSizes())  # never touch the shared registry
    try:
        events = venue.parse(text, 1_700_000_000_000, "fuzz")
    except FrameError as exc:
        events = exc.partial
    assert isinstance(events, list)
    for e in events:
        if isinstance(e, Liquidation):
            assert liquidation_violations(e, venue.launched_ms) == [], (e, text)
        elif isinstance(e, Quarantined):
            assert isinstance(e.event, Liquidation) and e.reason in ("price_far", "unvalued")
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
