"""Reader for liqmap's own recordings (format ``liqmap``).

File (written by ``liqmap record``; gzip JSON lines, plain also accepted):
line 1 header ``{"liqmap_recording": 1, "created_at": <ms>, "exchanges": [...]}``,
every other line one :class:`liqmap.frames.RawFrame` encoded with msgspec
(``{"exchange", "connection", "received_at", "data"}``). Frames are yielded
unchanged: this is the lossless path. A line that does not decode is counted
as ``"bad line"`` and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import msgspec

from liqmap.feed.recorder import META_EXCHANGE
from liqmap.frames import RawFrame
from liqmap.replay._util import data_lines
from liqmap.replay.stats import FileStats

_decoder = msgspec.json.Decoder(RawFrame)


def read_liqmap(path: str | Path, stats: FileStats, exchange: str | None = None) -> Iterator[RawFrame]:
    """Yield the RawFrames of a liqmap recording, in file order.

    ``exchange`` (optional) keeps only frames of that venue (others are
    counted as skipped ``"other exchange"``) and liqmap's own metadata frames
    (the contract sizes, see :mod:`liqmap.feed.recorder`).
    """
    for n, line in data_lines(path, stats):
        if n == 1 and '"liqmap_recording"' in line:
            try:
                header = msgspec.json.decode(line)
                version = header.get("liqmap_recording")
            except (msgspec.DecodeError, AttributeError):
                version = None
            if version != 1:
                stats.note(f"recording header version {version!r} (reader knows 1)")
            continue
        try:
            frame = _decoder.decode(line)
        except msgspec.DecodeError:
            stats.skip("bad line")
            continue
        if exchange is not None and frame.exchange != exchange and frame.exchange != META_EXCHANGE:
            stats.skip("other exchange")
            continue
        stats.frames += 1
        yield frame
