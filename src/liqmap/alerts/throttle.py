"""Cooldown and de-duplication per rule and key (pure bookkeeping, injectable clock).

* **De-duplication**: a ``(rule, dedupe_id)`` passes once. The last ``dedupe_size`` ids are
  remembered (:class:`liqmap.feed.dedupe.Deduper`, LRU), so an event re-delivered by a replay,
  a reconnect or an at-least-once stream never alerts twice.
* **Cooldown**: after an alert of ``(rule, key)`` is admitted, further alerts of that pair are
  held back for ``cooldown_s`` seconds (counted; the next admitted alert carries the count in
  ``Alert.suppressed``). ``cooldown_s = 0`` admits every distinct event. At most
  ``max_keys`` pairs are tracked (oldest forgotten first; a forgotten pair's cooldown has
  long passed in any realistic setting: 100,000 pairs).

Time is ``clock()`` seconds (default :func:`time.monotonic`), so the cooldown is wall-time
and a replay at 100x does not stretch it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Literal

from liqmap.feed.dedupe import Deduper

Verdict = Literal["send", "duplicate", "cooldown"]


class Throttle:
    """Decide whether an alert may go out (see module docstring).

    Args:
        dedupe_size: ids remembered per dispatcher (all rules together).
        max_keys: ``(rule, key)`` pairs tracked for cooldown.
        clock: seconds, monotonic.
    """

    def __init__(self, dedupe_size: int = 100_000, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seen = Deduper(dedupe_size)
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._held: dict[tuple[str, str], int] = {}
        self.max_keys = max_keys
        self.clock = clock

    def check(self, rule: str, key: str, dedupe_id: str, cooldown_s: float) -> tuple[Verdict, int]:
        """``("send", n_suppressed_since_last)`` when the alert may go out (and record it),
        else ``("duplicate", 0)`` / ``("cooldown", 0)``."""
        if self._seen.seen((rule, dedupe_id)):
            return "duplicate", 0
        pair = (rule, key)
        now = self.clock()
        last = self._last.get(pair)
        if last is not None and cooldown_s > 0 and now - last < cooldown_s:
            self._held[pair] = self._held.get(pair, 0) + 1
            return "cooldown", 0
        self._last[pair] = now
        self._last.move_to_end(pair)
        if len(self._last) > self.max_keys:
            old, _ = self._last.popitem(last=False)
            self._held.pop(old, None)
        return "send", self._held.pop(pair, 0)
