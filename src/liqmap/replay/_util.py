"""Small helpers shared by the replay readers (no venue knowledge here: venue
facts come from the venue modules through :mod:`liqmap.exchanges.registry`)."""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import msgspec

from liqmap.exchanges.registry import VENUES
from liqmap.frames import RawFrame
from liqmap.replay.formats import open_text

_json_encoder = msgspec.json.Encoder()


def text_lines(path: str | Path, stats=None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` (1-based, line ending stripped) of a gz or plain file.

    A gzip stream that ends without its trailer (a recorder killed after its
    last flush) or with damaged bytes at the end stops the iteration quietly
    after the last complete data; ``stats`` (a FileStats) gets a note saying so.
    """
    n = 0
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                yield n, line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        if stats is not None:
            stats.note(f"file ends early after line {n} ({exc}); read everything before it")


def data_lines(path: str | Path, stats) -> Iterator[tuple[int, str]]:
    """:func:`text_lines` without the blank lines; each line yielded counts in
    ``stats.lines`` (a FileStats)."""
    for n, line in text_lines(path, stats):
        if line.strip():
            stats.lines += 1
            yield n, line


def stamped_records(path: str | Path, stats, stamp: str, *required: str) -> Iterator[tuple[int, dict]]:
    """``(received_at, record)`` per line of a JSON-lines capture whose objects carry their
    receive time as ISO-8601 text under ``stamp`` (ms UTC, :func:`iso_to_ms`; the key is
    removed from the record) and every key of ``required``. Any other line is counted
    ``bad line`` in ``stats`` and skipped."""
    for _, line in data_lines(path, stats):
        try:
            rec = msgspec.json.decode(line)
            received_at = iso_to_ms(rec.pop(stamp))
            if not all(k in rec for k in required):
                raise KeyError(required)
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
            stats.skip("bad line")
            continue
        yield received_at, rec


def dumps(obj: object) -> str:
    """Compact JSON text (msgspec) of ``obj``; key order is kept as built."""
    return _json_encoder.encode(obj).decode()


def iso_to_ms(text: str) -> int:
    """ISO-8601 time (``Z`` or offset; naive = UTC) -> ms since epoch UTC.

    Raises ``ValueError`` on unparsable text.
    """
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    # round, not truncate: 15:03:52.206933 -> ...206.933 ms -> 207
    return round(dt.timestamp() * 1000)


def seconds_to_ms(text: str) -> int:
    """Unix seconds as text (``"1626992741.06217"``) -> ms (rounded). Raises ``ValueError``."""
    return round(float(text) * 1000)


def live_label(venue: str, default: str = "public") -> str:
    """Label of ``venue``'s live connection (``Venue.label`` in its module), so
    replayed frames report health/gaps under the live names; ``default`` for a
    name that is not a registered venue."""
    cls = VENUES.get(venue)
    return cls.label if cls is not None else default


def single_venue(exchange: str | None, default: str, allowed: tuple[str, ...], stats) -> str | None:
    """Venue for a single-venue capture, or None when ``exchange`` filters the file out.

    ``exchange`` may pick another venue speaking the same protocol (``binance_coinm``
    for a Binance capture); any other name acts as a filter: the file is skipped
    with a note instead of feeding one venue's messages to another's parser.
    """
    if exchange is None:
        return default
    if exchange in allowed:
        return exchange
    stats.note(f"file holds {default} messages; --exchange {exchange} filters it out")
    return None


def single_venue_frames(exchange: str | None, default: str, allowed: tuple[str, ...], stats,
                        messages: Iterable[tuple[int, object]]) -> Iterator[RawFrame]:
    """The frames of a single-venue capture: nothing when ``exchange`` filters the file out
    (:func:`single_venue`), else one RawFrame per ``(received_at, message)`` of ``messages``
    on the venue's live connection (:func:`live_label`), each counted in ``stats.frames``.

    ``received_at`` is ms since epoch UTC; a message is JSON text as is, or an object
    encoded compact (:func:`dumps`). ``messages`` must be lazy (a generator): it is not
    iterated when the file is filtered out, and its own notes / skips land in ``stats``
    in file order, as it is read.
    """
    venue = single_venue(exchange, default, allowed, stats)
    if venue is None:
        return
    connection = live_label(venue)
    for received_at, msg in messages:
        stats.frames += 1
        yield RawFrame(venue, connection, received_at, msg if isinstance(msg, str) else dumps(msg))
