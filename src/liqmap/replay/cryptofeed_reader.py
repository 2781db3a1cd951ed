"""Reader for cryptofeed ``sample_data`` session files (format ``cryptofeed``).

cryptofeed's raw-data recorder writes one text line per event
(bmoscon/cryptofeed ``cryptofeed/util/async_file.py``; tests/fixtures/PROVENANCE.md):

* ``<url> <-> <ts>``          connection opened (sets the current connection)
* ``<url> <- <ts>: <json>``   message the client SENT (subscribe) -> skipped, counted
* ``<ts>: <json>``            message RECEIVED on the current connection -> RawFrame
* ``<url> -> <ts>: <json>``   REST response (``*.0`` files) -> RawFrame, connection ``rest``
* ``configuration: {...}``    recorder configuration -> skipped, counted

``<ts>`` is the local receive time in seconds (float) -> ``received_at`` in
ms (rounded). Frame text is passed on exactly as recorded.

Venue: from the file name prefix (``BINANCE_FUTURES.ws.1.0.gz``), else the URL
host, as each venue module declares them (``Venue.recordings``: cryptofeed ids and
old hosts; the hosts of the venue's own endpoints always count). Files of venues
liqmap has no module for are skipped with the note ``"<name>: no liqmap venue yet"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from liqmap.exchanges.registry import VENUES, venue_class
from liqmap.frames import RawFrame
from liqmap.replay._util import data_lines, seconds_to_ms, text_lines
from liqmap.replay.formats import (
    CRYPTOFEED_OPEN,
    CRYPTOFEED_RECV,
    CRYPTOFEED_REST,
    CRYPTOFEED_SENT,
)
from liqmap.replay.stats import FileStats


def _names() -> tuple[dict[str, str], dict[str, str]]:
    """``({cryptofeed id: venue}, {URL host: venue})`` from the venue modules."""
    ids: dict[str, str] = {}
    hosts: dict[str, str] = {}
    for name, cls in VENUES.items():
        ids.update((cid.upper(), name) for cid in cls.recordings.cryptofeed)
        own = (urlsplit(u).hostname for u in (cls.default_ws, cls.default_rest) if u)
        hosts.update((h, name) for h in (*own, *cls.recordings.hosts) if h)
    return ids, hosts


def venue_for(path: str | Path, first_url: str | None) -> tuple[str | None, str]:
    """``(venue or None, cryptofeed name)`` for a session file.

    The cryptofeed name is the file-name prefix before the first ``.``
    (``BINANCE_FUTURES``), or the URL host when the name is not a cryptofeed id.
    """
    ids, hosts = _names()
    name = Path(path).name.split(".", 1)[0].upper()
    if name in ids:
        return ids[name], name
    host = urlsplit(first_url).hostname if first_url else None
    if host and host in hosts:
        return hosts[host], name
    return None, name if name else (host or "?")


def _first_url(path: str | Path) -> str | None:
    for _, line in text_lines(path):
        for rx in (CRYPTOFEED_OPEN, CRYPTOFEED_REST, CRYPTOFEED_SENT):
            m = rx.match(line)
            if m:
                return m.group("url")
        if line.strip():
            return None
    return None


def read_cryptofeed(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield the received frames (and REST responses) of one cryptofeed session file.

    ``exchange`` (optional) keeps the file only if it belongs to that venue.
    Files of venues without a liqmap parser yield nothing and get a note.
    """
    venue, name = venue_for(path, _first_url(path))
    if venue is None:
        for _ in data_lines(path, stats):  # counts them in stats.lines
            pass
        stats.skip(f"{name.lower()}: no liqmap venue yet", stats.lines)
        return
    if exchange is not None and exchange != venue:
        stats.note(f"{name} is {venue}, not {exchange} (file skipped)")
        return
    venue_cls = venue_class(venue)
    connection = "public"
    for _, line in data_lines(path, stats):
        m = CRYPTOFEED_RECV.match(line)
        if m:
            stats.frames += 1
            yield RawFrame(venue, connection, seconds_to_ms(m.group("ts")), m.group("data"))
            continue
        m = CRYPTOFEED_OPEN.match(line)
        if m:
            connection = venue_cls.connection_label(url=m.group("url"))
            stats.control["connection opened"] += 1
            continue
        m = CRYPTOFEED_SENT.match(line)
        if m:
            stats.control["sent by client"] += 1
            continue
        m = CRYPTOFEED_REST.match(line)
        if m:
            stats.frames += 1
            yield RawFrame(venue, "rest", seconds_to_ms(m.group("ts")), m.group("data"))
            continue
        if line.startswith("configuration:"):
            stats.control["recorder configuration"] += 1
            continue
        stats.skip("bad line")
