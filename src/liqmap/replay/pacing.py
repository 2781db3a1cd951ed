"""Replay pacing: sleep so that wall-clock time follows recorded time / speed.

``Pacer(speed=N)``: the first frame fixes the anchor (wall time, recorded
``received_at``); frame ``r`` is released at ``anchor_wall + (r - anchor_r) /
1000 / N`` seconds. ``speed=None`` (or ``0``) means as fast as possible (no
sleeping). ``max_gap_s`` (optional) caps any single idle gap in *replay*
seconds, so a capture with a 10-day hole does not stall a demo; the anchor
shifts so later frames keep their relative spacing. Frames that go back in
time (unsorted input) are released immediately.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class Pacer:
    """Compute (and optionally await) the delay before each recorded frame."""

    def __init__(
        self,
        speed: float | None = None,
        max_gap_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if speed is not None and speed < 0:
            raise ValueError(f"speed must be > 0 (got {speed})")
        self.speed = speed or None
        self.max_gap_s = max_gap_s
        self._clock = clock
        self._anchor_wall: float | None = None
        self._anchor_rec = 0
        self._last_rec = 0

    def delay(self, received_at: int) -> float:
        """Seconds to wait before releasing a frame recorded at ``received_at`` (ms)."""
        if self.speed is None:
            return 0.0
        now = self._clock()
        if self._anchor_wall is None:
            self._anchor_wall, self._anchor_rec, self._last_rec = now, received_at, received_at
            return 0.0
        if self.max_gap_s is not None:
            gap = (received_at - self._last_rec) / 1000.0 / self.speed
            if gap > self.max_gap_s:
                # pretend the recording jumped: shift the anchor by the excess
                self._anchor_rec += round((gap - self.max_gap_s) * self.speed * 1000)
        self._last_rec = max(self._last_rec, received_at)
        target = self._anchor_wall + (received_at - self._anchor_rec) / 1000.0 / self.speed
        return max(0.0, target - now)

    async def wait(self, received_at: int) -> None:
        """``await asyncio.sleep(self.delay(received_at))`` when there is a delay."""
        d = self.delay(received_at)
        if d > 0:
            await asyncio.sleep(d)
