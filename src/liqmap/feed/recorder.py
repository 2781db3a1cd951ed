"""Recording writer for ``liqmap record`` (the reader lives in ``liqmap.replay``).

File format (fixed project-wide): gzip-compressed JSON lines.

* line 1, header: ``{"liqmap_recording": 1, "created_at": <ms UTC>, "exchanges": [...]}``
* every other line: one :class:`~liqmap.frames.RawFrame` encoded with msgspec:
  ``{"exchange": "binance", "connection": "usdm", "received_at": <ms>, "data": "<frame text>"}``
* ``liqmap record`` writes, right after the header, one frame with exchange
  ``liqmap`` and connection ``contracts`` (:func:`contracts_frame`): the
  contract sizes loaded from the venues' instruments endpoints at start, so a
  replay (offline) values contracts exactly as the live feed did.

The writer flushes the gzip stream with ``Z_SYNC_FLUSH`` every ``flush_every_s``
seconds or ``flush_every_n`` frames, so a killed process loses at most that
much; everything before the last flush decompresses even without the gzip
trailer (a reader should stop quietly at ``EOFError`` on such a file).
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any, Sequence

import msgspec

from liqmap.units import now_ms
from liqmap.frames import RawFrame

RECORDING_VERSION = 1

_encoder = msgspec.json.Encoder()


def header_line(exchanges: Sequence[str], created_at: int | None = None) -> bytes:
    """The header JSON line (with trailing newline)."""
    hdr = {
        "liqmap_recording": RECORDING_VERSION,
        "created_at": now_ms() if created_at is None else created_at,
        "exchanges": list(exchanges),
    }
    return _encoder.encode(hdr) + b"\n"


#: ``RawFrame.exchange`` / ``.connection`` of the contract-sizes frame (not a venue frame).
META_EXCHANGE = "liqmap"
CONTRACTS_CONNECTION = "contracts"


def contracts_frame(specs: Sequence[Any], received_at: int | None = None) -> RawFrame:
    """The contract-sizes frame: ``data`` = JSON list of
    :class:`~liqmap.exchanges.contracts.ContractSpec` (see module doc)."""
    return RawFrame(META_EXCHANGE, CONTRACTS_CONNECTION, now_ms() if received_at is None else received_at,
                    _encoder.encode(list(specs)).decode())


class RecordingWriter:
    """Append RawFrames to a gzip JSON-lines recording; usable as a recorder hook.

    Args:
        path: output file (parent directories are created); overwritten if it exists.
        exchanges: venue ids written in the header.
        flush_every_s / flush_every_n: flush policy (see module doc).

    ``writer(frame)`` == ``writer.write(frame)``. Use as a context manager or
    call :meth:`close` to write the gzip trailer.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        exchanges: Sequence[str],
        flush_every_s: float = 1.0,
        flush_every_n: int = 500,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._gz = gzip.open(self.path, "wb", compresslevel=6)
        self._gz.write(header_line(exchanges))
        self.flush_every_s = flush_every_s
        self.flush_every_n = flush_every_n
        self.frames = 0
        self.bytes_in = 0
        self._since_flush = 0
        self._last_flush = time.monotonic()
        self.flush()

    def write(self, frame: RawFrame) -> None:
        """Append one frame (flushes per the policy)."""
        line = _encoder.encode(frame) + b"\n"
        self._gz.write(line)
        self.frames += 1
        self.bytes_in += len(line)
        self._since_flush += 1
        if self._since_flush >= self.flush_every_n or time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    __call__ = write

    def flush(self) -> None:
        """Sync-flush the compressor and the OS file buffer."""
        if self._gz.closed:
            return
        self._gz.flush()
        fileobj = self._gz.fileobj
        if fileobj is not None:
            fileobj.flush()
        self._since_flush = 0
        self._last_flush = time.monotonic()

    def flush_if_due(self) -> None:
        """Flush when frames are pending and ``flush_every_s`` has passed (call periodically
        so a quiet stream does not leave its last frames in the compressor)."""
        if self._since_flush and time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def close(self) -> None:
        """Flush and write the gzip trailer. Idempotent."""
        if not self._gz.closed:
            self._gz.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
