"""Replay of recorded market data through the live venue parsers.

Files of many shapes (liqmap recordings, cryptofeed sessions, Binance
forceOrder JSONL/CSV captures, BitMEX liquidation rows, Hyperliquid
historical CSVs, tardis-node messages) become :class:`liqmap.frames.RawFrame`
values; :mod:`liqmap.replay.runner` feeds them to
:func:`liqmap.exchanges.base.safe_parse` -- the same path as live data.

Public API:

* :func:`detect_format` -- sniff a file's format (raises :class:`UnknownFormatError`).
* :func:`iter_frames` -- ``paths -> Iterator[RawFrame]``.
* :data:`FORMATS` -- accepted format names.
"""

from liqmap.replay.formats import FORMATS, UnknownFormatError, detect_format
from liqmap.replay.sources import RecordedFile, iter_frames, plan
from liqmap.replay.stats import FileStats

__all__ = [
    "FORMATS",
    "FileStats",
    "RecordedFile",
    "UnknownFormatError",
    "detect_format",
    "iter_frames",
    "plan",
]
