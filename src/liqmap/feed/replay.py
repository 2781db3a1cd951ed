"""Recorded files as a feed of the aggregator: the replay twin of an exchange adapter.

A :class:`ReplayFeed` reads recorded frames with a :class:`liqmap.replay.runner.ReplayRunner`
(every frame through its venue's live parser, paced by receipt time at ``speed`` x) and hands
each event to its listeners -- the :class:`~liqmap.feed.aggregator.ExchangeAggregator`'s
``publish``, plus optional taps such as ``liqmap replay --print``. So a replay reaches the
storing side through the same merge, de-duplication and fan-out as a live feed.

Unlike a live venue, a replay can wait: every :data:`YIELD_EVERY` events it yields to the
event loop and awaits ``wait_room`` (the aggregator's back-pressure), so an unpaced replay
never runs ahead of a slow store by more than the lossless queues' high-water mark. A
listener that raises ends the replay with that error (a replay is a finite job: a broken
pipe or a failed store must stop it, not be logged and skipped).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable

from liqmap.models import Event

#: Events handed over between two yields to the event loop / back-pressure checks.
YIELD_EVERY = 500


class ReplayFeed:
    """Replay recorded files through the venue parsers into listeners.

    Args:
        paths: recorded files or directories (any format of :data:`liqmap.replay.FORMATS`).
        fmt / exchange / ordered: see :class:`~liqmap.replay.runner.ReplayRunner`.
        speed: N x recorded time (None = as fast as the consumers take it);
        max_gap_s: cap on one idle gap while paced, seconds.
        only_exchanges / only_bases: keep just those venues / underlyings (None = all).

    Raises (at construction, nothing read yet): ``FileNotFoundError``, ``ValueError``,
    :class:`~liqmap.replay.formats.UnknownFormatError` for unreadable inputs.
    """

    def __init__(
        self,
        paths: Iterable[Any],
        fmt: str = "auto",
        exchange: str | None = None,
        *,
        speed: float | None = None,
        max_gap_s: float | None = None,
        ordered: bool = True,
        only_exchanges: Iterable[str] | None = None,
        only_bases: Iterable[str] | None = None,
    ) -> None:
        from liqmap.replay.runner import ReplayRunner

        self.runner = ReplayRunner(list(paths), fmt, exchange, speed=speed, max_gap_s=max_gap_s, ordered=ordered)
        self.only_exchanges = frozenset(only_exchanges or ())
        self.only_bases = frozenset(only_bases or ())
        self._listeners: list[Callable[[Event], None]] = []
        self.replayed = 0
        self.done = False

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every replayed event (sync; an exception ends the replay)."""
        self._listeners.append(callback)

    def exchanges(self) -> list[str]:
        """Venues of the replayed files (each file's first frame, read from a fresh reader so
        the replay's own counters are untouched), in file order; never raises."""
        from liqmap.replay import iter_frames

        out: list[str] = []
        for src in self.runner.sources:
            try:
                frame = next(iter_frames([src.path], src.format, self.runner.exchange), None)
            except Exception:  # unreadable past the sniffed head: the replay itself reports it
                frame = None
            if frame is not None and frame.exchange not in out:
                if not self.only_exchanges or frame.exchange in self.only_exchanges:
                    out.append(frame.exchange)
        return out

    def parse_errors(self) -> dict[str, int]:
        """``{exchange: frames the parser rejected}`` so far."""
        return dict(self.runner.stats.parse_errors)

    def gate_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{exchange: {"rejected": {reason: n}, "quarantined": {reason: n}}}`` of the replayed
        venues' plausibility gates so far."""
        return self.runner.gate_counts()

    def _keep(self, ev: Event) -> bool:
        if self.only_exchanges and getattr(ev, "exchange", None) not in self.only_exchanges:
            return False
        return not self.only_bases or getattr(ev, "base", None) in self.only_bases

    async def run(self, wait_room: Callable[[], Awaitable[None]]) -> None:
        """Replay to the end, handing every kept event to the listeners (module doc)."""
        listeners = self._listeners
        select = self.only_exchanges or self.only_bases
        n = 0
        async for ev in self.runner.events():
            if select and not self._keep(ev):
                continue
            for cb in listeners:
                cb(ev)
            n += 1
            if n % YIELD_EVERY == 0:
                self.replayed = n
                await wait_room()
        self.replayed = n
        self.done = True
