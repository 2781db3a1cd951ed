"""Replay core: files -> RawFrames -> ``safe_parse`` -> events, with counters.

Every replay goes through it: :class:`liqmap.feed.replay.ReplayFeed` wraps a runner to put
recorded files into the aggregator's stream (``liqmap replay``, ``liqmap serve --replay``,
``liqmap demo``); tests and tools also read it directly::

    runner = ReplayRunner(["rec.jsonl.gz"], speed=10)
    async for event in runner.events():
        ...
    runner.stats  # ReplayStats: per-file reading, events per exchange, parse errors

Ordering (``ordered=True``, the default): each file is streamed through a
bounded re-order buffer of :data:`REORDER_WINDOW` frames (a heap keyed by
``received_at``, ties kept in file order), and files are merged lazily by
``received_at``. Recordings are nearly sorted already (several listeners or
connections interleave by milliseconds), so the output is fully sorted with
constant memory; a frame displaced by more than the window is still replayed,
right away, and counted in ``ReplayStats.out_of_order``. ``ordered=False``
streams files one after another in file order.

Parsing: one venue instance per exchange (from
:func:`liqmap.exchanges.registry.get_venue`) for the whole run, exactly as a
live feed keeps one per venue; every frame goes through
:func:`liqmap.exchanges.base.safe_parse`. A frame that fails is counted (per
exchange, with the first few reasons kept) and the replay continues. Frames of
a venue whose parser module is missing are counted under ``no_parser``.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Iterable, Iterator

import msgspec

from liqmap.exchanges.base import Venue, safe_parse
from liqmap.feed.recorder import CONTRACTS_CONNECTION, META_EXCHANGE
from liqmap.frames import RawFrame
from liqmap.models import Event, event_type
from liqmap.replay.pacing import Pacer
from liqmap.replay.sources import RecordedFile, plan
from liqmap.replay.stats import FileStats

log = logging.getLogger("liqmap.replay")

_MAX_ERROR_SAMPLES = 3

#: Frames held per file to restore ``received_at`` order (see module doc).
REORDER_WINDOW = 50_000


def _default_venue_factory(name: str) -> Venue:
    from liqmap.exchanges.registry import get_venue

    return get_venue(name)


@dataclass
class ReplayStats:
    """Counters of one replay run.

    Fields:
        files: per-file reading stats (frames read, skipped/repaired lines, notes).
        frames: frames handed to parsers.
        events: ``(exchange, event type) -> count`` of parsed events.
        parse_errors: ``exchange -> count`` of frames the parser rejected.
        error_samples: ``exchange -> first few error reasons``.
        no_parser: ``exchange -> frames`` dropped because no venue parser could be loaded.
        out_of_order: frames released later than a newer frame of the same
            file (displaced by more than the re-order window).
        contract_specs: contract sizes loaded from the recordings' contract-sizes frames.
    """

    files: list[FileStats] = field(default_factory=list)
    frames: int = 0
    events: Counter = field(default_factory=Counter)
    parse_errors: Counter = field(default_factory=Counter)
    error_samples: dict[str, list[str]] = field(default_factory=dict)
    no_parser: Counter = field(default_factory=Counter)
    out_of_order: int = 0
    contract_specs: int = 0

    def count(self, exchange: str, kind: str) -> int:
        """Events of type ``kind`` (``"liquidation"``...) parsed for ``exchange``."""
        return self.events[(exchange, kind)]


class ReplayRunner:
    """Replay recorded files through the live venue parsers.

    Args:
        paths: files to replay (any format in :data:`liqmap.replay.FORMATS`).
        fmt: ``"auto"`` (sniff each file) or a format name for all files.
        exchange: venue for single-venue captures / filter for multi-venue
            files (see :func:`liqmap.replay.iter_frames`).
        speed: replay speed factor (``None`` = as fast as possible).
        max_gap_s: cap on one idle gap while pacing (replay seconds).
        ordered: sort/merge by ``received_at`` (see module doc).
        venue_factory: ``name -> Venue`` (default: the registry).

    Raises (at construction): ``ValueError`` (unknown format name),
    ``FileNotFoundError``, :class:`~liqmap.replay.formats.UnknownFormatError`.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        fmt: str = "auto",
        exchange: str | None = None,
        speed: float | None = None,
        max_gap_s: float | None = None,
        ordered: bool = True,
        venue_factory: Callable[[str], Venue] = _default_venue_factory,
    ):
        self.sources: list[RecordedFile] = plan(paths, fmt)
        self.exchange = exchange
        self.speed = speed
        self.max_gap_s = max_gap_s
        self.ordered = ordered
        self.stats = ReplayStats(files=[s.stats for s in self.sources])
        self._venue_factory = venue_factory
        self._venues: dict[str, Venue | None] = {}
        self._specs: list = []  # contract sizes from the recording, applied to venues made later

    # ---------------------------------------------------------------- frames
    def frames(self) -> Iterator[RawFrame]:
        """All frames, ordered by ``received_at`` when ``ordered`` (see module doc)."""
        if not self.ordered:
            for s in self.sources:
                yield from s.frames(self.exchange)
            return
        per_file = [self._reordered(s.frames(self.exchange)) for s in self.sources]
        if len(per_file) == 1:
            yield from per_file[0]
        else:
            yield from heapq.merge(*per_file, key=lambda f: f.received_at)

    def _reordered(self, frames: Iterator[RawFrame], window: int | None = None) -> Iterator[RawFrame]:
        """``frames`` in ``received_at`` order through a bounded heap (see module doc)."""
        window = window or REORDER_WINDOW
        heap: list[tuple[int, int, RawFrame]] = []
        last = None
        for seq, frame in enumerate(frames):
            heapq.heappush(heap, (frame.received_at, seq, frame))
            if len(heap) > window:
                t, _, out = heapq.heappop(heap)
                if last is not None and t < last:
                    self.stats.out_of_order += 1
                last = t if last is None else max(last, t)
                yield out
        while heap:
            t, _, out = heapq.heappop(heap)
            if last is not None and t < last:
                self.stats.out_of_order += 1
            last = t if last is None else max(last, t)
            yield out

    # ---------------------------------------------------------------- parsing
    def venue(self, name: str) -> Venue | None:
        """The (cached) venue instance for ``name``, or None if no parser can be loaded."""
        if name not in self._venues:
            try:
                self._venues[name] = v = self._venue_factory(name)
                if self._specs and getattr(v, "contracts", None) is not None:
                    v.contracts.update(self._specs)
            except (ImportError, ValueError) as exc:
                log.debug("replay: no parser for %s: %s", name, exc)
                self._venues[name] = None
        return self._venues[name]

    def gate_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{exchange: {"rejected": {reason: n}, "quarantined": {reason: n}}}`` of every venue
        parsed so far (:mod:`liqmap.exchanges.plausibility`)."""
        return {name: v.gate.counts() for name, v in tuple(self._venues.items()) if v is not None}

    def _load_contracts(self, frame: RawFrame) -> None:
        """A recording's contract-sizes frame (:func:`liqmap.feed.recorder.contracts_frame`):
        load the sizes the live feed used into the venues' registries (with the default
        venue factory: the shared default one), so contracts are valued as they were live."""
        from liqmap.exchanges.contracts import ContractSpec, default_contracts

        try:
            specs = msgspec.json.decode(frame.data, type=list[ContractSpec])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.stats.parse_errors[META_EXCHANGE] += 1
            log.warning("replay: unreadable contract-sizes frame: %s", exc)
            return
        self._specs = [msgspec.structs.replace(s, source="recording") for s in specs]
        registries = {}
        if self._venue_factory is _default_venue_factory:  # its venues share the default registry
            registries[id(default_contracts())] = default_contracts()
        for v in self._venues.values():
            reg = getattr(v, "contracts", None)
            if reg is not None:
                registries[id(reg)] = reg
        for reg in registries.values():
            reg.update(self._specs)
        self.stats.contract_specs += len(self._specs)

    def parse(self, frame: RawFrame) -> list[Event]:
        """Parse one frame with its venue via ``safe_parse``, updating the counters."""
        st = self.stats
        if frame.exchange == META_EXCHANGE:
            if frame.connection == CONTRACTS_CONNECTION:
                self._load_contracts(frame)
            return []
        st.frames += 1
        venue = self.venue(frame.exchange)
        if venue is None:
            st.no_parser[frame.exchange] += 1
            return []
        events, error = safe_parse(venue, frame.data, frame.received_at, frame.connection)
        if error is not None:
            st.parse_errors[frame.exchange] += 1
            samples = st.error_samples.setdefault(frame.exchange, [])
            if len(samples) < _MAX_ERROR_SAMPLES:
                samples.append(error)
                log.info("replay: %s frame rejected: %s", frame.exchange, error)
            # events = the frame's valid rows when only some were bad (FrameError.partial)
        for ev in events:
            st.events[(getattr(ev, "exchange", frame.exchange), event_type(ev))] += 1
        return events

    def drain(self, received_at: int) -> list[Event]:
        """What the venues still hold at the end of the files (:meth:`Venue.drain`), counted."""
        out: list[Event] = []
        for name, venue in tuple(self._venues.items()):
            if venue is None:
                continue
            for ev in venue.drain(received_at):
                self.stats.events[(getattr(ev, "exchange", name), event_type(ev))] += 1
                out.append(ev)
        return out

    def iter_events(self) -> Iterator[Event]:
        """All events, synchronously and without pacing; the venues' held events last."""
        last = 0
        for frame in self.frames():
            last = frame.received_at
            yield from self.parse(frame)
        yield from self.drain(last)

    async def events(self) -> AsyncIterator[Event]:
        """All events, paced by ``speed`` (as fast as possible when ``speed`` is None); the
        venues' held events last."""
        pacer = Pacer(self.speed, self.max_gap_s)
        last = 0
        for frame in self.frames():
            await pacer.wait(frame.received_at)
            last = frame.received_at
            for ev in self.parse(frame):
                yield ev
        for ev in self.drain(last):
            yield ev
