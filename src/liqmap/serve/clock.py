"""Clocks of the serve pipeline: what "now" means for the API.

In live mode "now" is the wall clock; in replay mode it is the latest replayed event time,
so a 24 h window on a 2025 recording means the last 24 h of that recording.
"""

from __future__ import annotations

from liqmap.units import now_ms


class LiveClock:
    """Wall-clock "now" (ms UTC); ``mode == "live"``."""

    mode = "live"

    def now_ms(self) -> int:
        return now_ms()

    def observe(self, ts_ms: int) -> None:  # noqa: D102 - nothing to track
        return None


class ReplayClock:
    """Replay "now": the latest event time replayed so far (ms UTC); ``mode == "replay"``.

    Before the first event it is ``start_ms`` (e.g. the newest event already in the
    database), or the wall clock when nothing is known.
    """

    mode = "replay"

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = start_ms
        #: ``{round, start_ms, end_ms}`` while a looping replay plays its tail again, else None
        self.loop: dict | None = None

    def now_ms(self) -> int:
        return self._now if self._now is not None else now_ms()

    def observe(self, ts_ms: int) -> None:
        """Advance to ``ts_ms`` if later (never goes back, except through :meth:`rewind`)."""
        if self._now is None or ts_ms > self._now:
            self._now = ts_ms

    def rewind(self, ts_ms: int, loop: dict) -> None:
        """Set "now" back to ``ts_ms`` for a loop round (``loop``: ``{round, start_ms, end_ms}``,
        shown in every response's ``meta.loop``)."""
        self._now = ts_ms
        self.loop = dict(loop)
