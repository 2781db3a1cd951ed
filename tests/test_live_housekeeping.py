"""Live serve upkeep: cascades end on wall-clock time when their market goes quiet.

Cascade detection runs on event time, so in a live service a cascade whose underlying
stops liquidating would stay "active" until its next liquidation. ``live_housekeeping``
ends it on the current UTC time. Real data: the 2025-01-27 sell-off capture.
"""

from __future__ import annotations

import asyncio

from liqmap.serve.pipeline import live_housekeeping
from liqmap.serve.store_thread import ThreadedStore
from liqmap.storage.tiered import TieredStore

from test_storage_loader import SELLOFF, load_liquidations


def _statuses(store: ThreadedStore) -> list[str]:
    return [c["status"] for c in store.inner.duckdb.cascades()]


async def test_housekeeping_ends_quiet_cascades_on_wall_clock(tmp_path):
    events = load_liquidations(SELLOFF)
    # The sell-off's 16:50-17:10 UTC burst; stop right after it so the last cascade is still open.
    burst = [e for e in events if e.timestamp <= 1737997800000]  # 2025-01-27 17:10:00 UTC
    store = ThreadedStore(lambda: TieredStore(db_path=str(tmp_path / "live.duckdb"), flush_interval_s=0.05))
    try:
        for i in range(0, len(burst), 250):
            await store.write(burst[i : i + 250])
        await store.flush()
        before = _statuses(store)
        assert "active" in before, f"expected an open cascade at the end of the burst, got {before}"

        task = asyncio.create_task(live_housekeeping(store, every_s=0.05))
        for _ in range(100):
            await asyncio.sleep(0.05)
            await store.flush()
            if all(s == "ended" for s in _statuses(store)):
                break
        task.cancel()
        after = _statuses(store)
        assert after and all(s == "ended" for s in after), after
        assert len(after) == len(before)  # ended in place (same cascade ids), nothing new invented
    finally:
        await store.close()
