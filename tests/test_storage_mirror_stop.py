"""A tier mirror stopped while its tier is failing must report the batch it was trying to
deliver as undelivered (``complete`` False), never forget it: a found race made a never
reachable PostgreSQL tier report ``complete: true`` about one close in ten."""

from __future__ import annotations

import asyncio

from liqmap.storage.mirror import Committed, TierMirror

from test_storage_loader import SQUEEZE, load_liquidations


class _FailsWhenStopping:
    """A tier whose ``connect`` fails at the moment the mirror is being stopped (the window in
    which the batch used to be dropped without being counted)."""

    def __init__(self, mirror_ref: list) -> None:
        self.mirror_ref = mirror_ref

    async def connect(self) -> None:
        while not self.mirror_ref[0]._stop:
            await asyncio.sleep(0.01)
        raise ConnectionError("refused")

    async def close(self) -> None:
        return None

    def stats(self) -> dict:
        return {}


async def test_a_batch_in_flight_when_the_mirror_stops_is_reported_undelivered():
    events = load_liquidations(SQUEEZE[0])[:25]
    ref: list = [None]
    mirror = TierMirror("fake", lambda: _FailsWhenStopping(ref), backoff_base=0.01, backoff_cap=0.02)
    ref[0] = mirror
    mirror.offer(Committed(liquidations=events))
    state = await mirror.close(drain_s=0.3)
    assert state["failures"] >= 1 and state["applied"] == 0
    assert state["undelivered"] == len(events) and not state["complete"], state
