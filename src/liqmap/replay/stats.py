"""Per-file reading counters shared by every replay reader.

Readers never raise on a bad line: they count it in :class:`FileStats` under
a short reason and move on ("nothing lost, nothing silent").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FileStats:
    """What one reader did with one file.

    Fields:
        path: the file read.
        format: format name (see ``liqmap.replay.formats.FORMATS``).
        lines: text lines (or records) looked at.
        frames: RawFrames produced.
        skipped: lines not turned into frames, by reason (``"bad row"``,
            ``"sent by client"``, ``"gate: no liqmap venue yet"`` ...).
        repaired: lines turned into frames after a documented repair, by reason.
        control: lines that carry no received data by design (connection
            opened, messages the client sent, recorder configuration), by kind;
            not counted as skipped.
        notes: one-line remarks for the user (shown once in the summary).
    """

    path: str
    format: str
    lines: int = 0
    frames: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    control: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` lines skipped for ``reason``."""
        self.skipped[reason] += n

    def note(self, text: str) -> None:
        """Add a user-facing remark once."""
        if text not in self.notes:
            self.notes.append(text)

    @property
    def skipped_total(self) -> int:
        """Number of skipped lines over all reasons."""
        return sum(self.skipped.values())
