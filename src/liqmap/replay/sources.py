"""From file paths to RawFrames: format detection, pairing, reader dispatch.

Every reader turns one file format into :class:`liqmap.frames.RawFrame`
values a venue parser understands; none of them interprets venue semantics
(sides, units, ids) -- that is the venue parser's job, exactly as live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from liqmap.frames import RawFrame
from liqmap.replay.binance_csv import read_csv_aggtrades, read_csv_forceorder
from liqmap.replay.binance_jsonl import read_binance_jsonl
from liqmap.replay.bitmex_inserts import read_bitmex_inserts
from liqmap.replay.cryptofeed_reader import read_cryptofeed
from liqmap.replay.formats import FORMATS, UnknownFormatError, detect_format
from liqmap.replay.hyperliquid_csv import (
    hyperliquid_kind,
    read_hyperliquid_liquidations,
    read_hyperliquid_trades,
)
from liqmap.replay.liqmap_reader import read_liqmap
from liqmap.replay.stats import FileStats
from liqmap.replay.tardis_reader import read_tardis

Reader = Callable[[str | Path, FileStats, str | None], Iterator[RawFrame]]

READERS: dict[str, Reader] = {
    "liqmap": read_liqmap,
    "cryptofeed": read_cryptofeed,
    "binance-forceorder-jsonl": read_binance_jsonl,
    "csv-forceorder": read_csv_forceorder,
    "csv-aggtrades": read_csv_aggtrades,
    "bitmex-inserts": read_bitmex_inserts,
    "tardis": read_tardis,
    # "hyperliquid-csv" is dispatched in RecordedFile.frames (two file kinds)
}


@dataclass
class RecordedFile:
    """One input file with its resolved format and reader state.

    ``companion`` is set for a Hyperliquid liquidations file paired with a
    trades file given on the same command line. ``role`` is ``"companion"``
    for a trades file used only for that join (it is not replayed itself) and
    ``"ignored"`` for an unrecognized file found inside a directory argument.
    """

    path: str
    format: str
    stats: FileStats
    companion: str | None = None
    role: str = "replay"

    def frames(self, exchange: str | None = None) -> Iterator[RawFrame]:
        """Iterate this file's frames (file order), updating :attr:`stats`."""
        if self.role in ("companion", "ignored"):
            return iter(())
        if self.format == "hyperliquid-csv":
            if hyperliquid_kind(self.path) == "liquidations":
                return read_hyperliquid_liquidations(
                    self.path, self.stats, exchange, trades_path=self.companion
                )
            return read_hyperliquid_trades(self.path, self.stats, exchange)
        return READERS[self.format](self.path, self.stats, exchange)


def plan(paths: Iterable[str | Path], fmt: str = "auto") -> list[RecordedFile]:
    """Resolve the format of every path (``fmt="auto"`` sniffs each file).

    A directory stands for every file below it (sorted); there, files no
    reader recognizes are listed with role ``"ignored"`` and a note instead of
    failing the run. Raises ``ValueError`` for an unknown ``fmt`` name, ``FileNotFoundError``
    for a missing file and :class:`~liqmap.replay.formats.UnknownFormatError`
    for a file no reader understands. When a Hyperliquid liquidations file
    and a Hyperliquid trades file are both given, the trades file is used as
    the liquidations' fill source and not replayed as trades.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known formats: auto, {', '.join(FORMATS)}")
    sources: list[RecordedFile] = []
    for p in _expand(paths, fmt, sources):
        path = str(p)
        if fmt == "auto":
            f = detect_format(path)
        else:
            if not Path(path).exists():
                raise FileNotFoundError(f"{path}: no such file")
            f = fmt
        sources.append(RecordedFile(path, f, FileStats(path, f)))
    hl = [s for s in sources if s.format == "hyperliquid-csv"]
    liqs = [s for s in hl if hyperliquid_kind(s.path) == "liquidations"]
    trades = [s for s in hl if hyperliquid_kind(s.path) == "trades"]
    if liqs and trades:
        for s in liqs:
            same_dir = [t for t in trades if Path(t.path).parent == Path(s.path).parent]
            s.companion = (same_dir or trades)[0].path
        for t in trades:
            t.role = "companion"
            t.stats.note("used as the fill source of the Hyperliquid liquidations (not replayed as trades)")
    return sources


def _expand(paths: Iterable[str | Path], fmt: str, sources: list[RecordedFile]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if not path.is_dir():
            yield path
            continue
        for child in sorted(x for x in path.rglob("*") if x.is_file() and not x.name.startswith(".")):
            if fmt != "auto":
                yield child
                continue
            try:
                detect_format(child)
            except UnknownFormatError as exc:
                st = FileStats(str(child), "unknown")
                st.note(f"ignored: {exc.seen}")
                sources.append(RecordedFile(str(child), "unknown", st, role="ignored"))
                continue
            yield child


def iter_frames(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    exchange: str | None = None,
    stats: list[FileStats] | None = None,
) -> Iterator[RawFrame]:
    """Yield the RawFrames of every file, file after file, each in file order.

    Args:
        paths: recorded files (gz or plain).
        fmt: ``"auto"`` or one of :data:`~liqmap.replay.formats.FORMATS`.
        exchange: a filter on venue. For single-venue captures (CSV/JSONL) it
            may also pick another venue speaking the same protocol
            (``binance_coinm`` for a COIN-M forceOrder capture); a capture of
            another venue is skipped with a note.
        stats: optional list that receives one :class:`FileStats` per file
            (filled in while iterating).

    Raises (before yielding anything): ``ValueError`` for an unknown format
    name, ``FileNotFoundError``, :class:`~liqmap.replay.formats.UnknownFormatError`.
    """
    sources = plan(paths, fmt)
    if stats is not None:
        stats.extend(s.stats for s in sources)
    return _chain(sources, exchange)


def _chain(sources: list[RecordedFile], exchange: str | None) -> Iterator[RawFrame]:
    for s in sources:
        yield from s.frames(exchange)
