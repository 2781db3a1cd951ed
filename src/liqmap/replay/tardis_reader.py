"""Reader for exchange messages extracted from tardis-node tests (format ``tardis``).

Line shape (tests/fixtures/tardis_node_fixtures, see PROVENANCE.md)::

    {"exchange": "<tardis exchange id>", "source_line": 433, "note": "...", "message": {...}}

``message`` is the venue's own websocket message (some trimmed/edited by the
tardis authors, some ``generated`` from REST polling: schema tests only). It is
re-encoded as compact JSON and handed to the venue parser.

Venue mapping: each venue module declares its tardis exchange ids
(``Venue.recordings.tardis``, https://docs.tardis.dev/api/http#exchanges; a
trailing ``*`` matches a prefix, e.g. ``bybit*``) and which live connection a
message belongs to (``Venue.connection_label``). Any other id is skipped and
counted as ``"<id>: no liqmap venue"``.

``received_at``: the message's own event time, looked up in this order --
top-level ``ts``/``E``, then the first ``E``, ``T``, ``ts``, ``timestamp``,
``time``, ``updatedTime`` or ``created_at`` found inside (ms integers,
numeric strings, or ISO-8601 text). When the message carries no time at all
(BitMEX ``liquidation`` rows) it is :data:`NO_TIME_RECEIVED_AT` = 0 (epoch),
a fixed value that is obviously "unknown" rather than a made-up date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import msgspec

from liqmap.exchanges.registry import VENUES, venue_class
from liqmap.frames import RawFrame
from liqmap.replay._util import data_lines, dumps, iso_to_ms
from liqmap.replay.stats import FileStats

NO_TIME_RECEIVED_AT = 0
_TIME_KEYS = ("E", "T", "ts", "timestamp", "time", "updatedTime", "created_at")


def tardis_venue(tardis_id: str) -> str | None:
    """liqmap venue for a tardis exchange id, or ``None`` when liqmap has none."""
    t = tardis_id.strip().lower()
    for name, cls in VENUES.items():
        for pattern in cls.recordings.tardis:
            if t == pattern or (pattern.endswith("*") and t.startswith(pattern[:-1])):
                return name
    return None


def _as_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = int(value)
    elif isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            v = int(s)
        else:
            try:
                return iso_to_ms(s)
            except ValueError:
                return None
    else:
        return None
    if v > 10**14:  # microseconds
        v //= 1000
    elif v < 10**11:  # seconds
        v *= 1000
    return v


def _find_time(obj: Any, depth: int = 0) -> int | None:
    if depth > 6:
        return None
    if isinstance(obj, dict):
        for key in _TIME_KEYS:
            if key in obj:
                ms = _as_ms(obj[key])
                if ms is not None:
                    return ms
        children = obj.values()
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for child in children:
        ms = _find_time(child, depth + 1)
        if ms is not None:
            return ms
    return None


def message_time(message: Any) -> int | None:
    """Event time (ms) found in a venue message, or ``None`` (see module doc)."""
    if isinstance(message, dict):
        for key in ("ts", "E"):
            ms = _as_ms(message.get(key))
            if ms is not None:
                return ms
    return _find_time(message)


def read_tardis(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one RawFrame per message of a mapped venue; others are counted and skipped.

    ``exchange`` (optional) keeps only messages of that venue.
    """
    for _, line in data_lines(path, stats):
        try:
            rec = msgspec.json.decode(line)
            tid = str(rec["exchange"])
            message = rec["message"]
        except (msgspec.DecodeError, KeyError, TypeError):
            stats.skip("bad line")
            continue
        venue = tardis_venue(tid)
        if venue is None:
            stats.skip(f"{tid}: no liqmap venue")
            continue
        if exchange is not None and venue != exchange:
            stats.skip("other exchange")
            continue
        ms = message_time(message)
        if ms is None:
            ms = NO_TIME_RECEIVED_AT
            stats.note(f"{tid}: message without a time -> received_at = {NO_TIME_RECEIVED_AT}")
        data = message if isinstance(message, str) else dumps(message)
        stats.frames += 1
        yield RawFrame(venue, venue_class(venue).connection_label(message=message), ms, data)
