"""Frame dispatch shared by websocket connections, REST pollers and replay-like callers.

:class:`FrameHandler` takes one raw frame from a venue connection and does, in
order: stamp the receipt time (ms UTC), hand a :class:`~liqmap.frames.RawFrame`
to the optional recorder hook, parse it with
:func:`liqmap.exchanges.base.safe_parse`, count and (rate-limited) log parse
errors, and pass the resulting events to the ``emit`` callback. It never
raises for bad input: a malformed frame is a counted parse error and the feed
continues.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from liqmap.exchanges.base import HISTORY_PREFIX, Venue, safe_parse
from liqmap.feed.health import HealthTracker
from liqmap.units import now_ms
from liqmap.frames import RawFrame
from liqmap.models import Event

log = logging.getLogger("liqmap.feed")

Emit = Callable[[Event], None]
Recorder = Callable[[RawFrame], None]


class RateLimitedLog:
    """Log at most one line per ``interval_s`` per key, with the suppressed count.

    ``warn(key, msg)`` returns True when a line was written.
    """

    def __init__(self, logger: logging.Logger = log, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, key: str, msg: str) -> bool:
        t = time.monotonic()
        last = self._last.get(key)
        if last is not None and t - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        n = self._suppressed.pop(key, 0)
        extra = f" (+{n} similar in the last {self.interval_s:g} s)" if n else ""
        self.logger.warning("%s: %s%s", key, msg, extra)
        self._last[key] = t
        return True


@dataclass(eq=False)
class FrameHandler:
    """Receipt stamp -> recorder -> parse -> emit, for one venue.

    Fields:
        venue: the venue parser (:class:`liqmap.exchanges.base.Venue`).
        tracker: health counters updated per frame / event / parse error.
        emit: called synchronously with every parsed event (must not block).
        recorder: optional hook called with every :class:`RawFrame` before parsing.
        error_log: rate limiter of the parse-error log lines.
    """

    venue: Venue
    tracker: HealthTracker
    emit: Emit
    recorder: Recorder | None = None
    error_log: RateLimitedLog = field(default_factory=RateLimitedLog)

    def handle(self, connection: str, data: str | bytes, parse: bool = True) -> list[Event]:
        """Process one frame; returns the events emitted (``[]`` on parse error)."""
        received_at = now_ms()
        self.tracker.on_frame()
        if isinstance(data, (bytes, bytearray, memoryview)):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                self._parse_error(connection, "binary frame is not UTF-8 text")
                return []
        if self.recorder is not None:
            try:
                self.recorder(RawFrame(self.venue.name, connection, received_at, data))
            except Exception as exc:  # a broken recorder must not stop the feed
                self.error_log.warn(f"{self.venue.name}/{connection}/recorder", f"recorder failed: {exc!r}")
        if not parse:
            return []
        events, error = safe_parse(self.venue, data, received_at, connection)
        if error is not None:
            self._parse_error(connection, f"{error} | frame: {data[:200]!r}")
            # events, if any, are the frame's valid rows (FrameError.partial): kept
        if events:
            # a history (backfill) body is not a live receipt: no latency sample
            self.tracker.on_events(events, latency=connection[:8] != HISTORY_PREFIX)
            for ev in events:
                self.emit(ev)
        return events

    def _parse_error(self, connection: str, msg: str) -> None:
        self.tracker.parse_errors += 1
        self.error_log.warn(
            f"{self.venue.name}/{connection}",
            f"parse error #{self.tracker.parse_errors}: {msg}",
        )
