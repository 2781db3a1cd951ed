"""The storage sink on its own thread, so a slow disk never stalls the serve event loop."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Sequence

from liqmap.models import Event


class ThreadedStore:
    """Runs a storage sink on its own event-loop thread ("liqmap-store").

    The serve loop only hands batches over (``await write(events)`` waits on a
    future, it never executes storage code), so DuckDB commits, the cascade
    detector and the Redis/PostgreSQL mirrors cannot stall websocket fan-out.
    ``factory()`` builds the store inside that thread; methods mirror the store's
    ``write`` / ``flush`` / ``close`` (sync or async). ``inner`` is the store itself.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="liqmap-store", daemon=True)
        self._thread.start()

        async def build():
            return factory()

        try:
            self.inner = asyncio.run_coroutine_threadsafe(build(), self._loop).result()
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise
        self._closed = False

    async def _in_store(self, name: str, *args: Any) -> Any:
        fn = getattr(self.inner, name, None)
        if fn is None:
            return None

        async def run():
            res = fn(*args)
            if inspect.isawaitable(res):
                res = await res
            return res

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))

    async def write(self, events: Sequence[Event]) -> Any:
        return await self._in_store("write", events)

    async def flush(self) -> Any:
        return await self._in_store("flush")

    async def expire(self, now_ms: int) -> Any:
        """Forward :meth:`liqmap.storage.tiered.TieredStore.expire` (end quiet cascades)."""
        return await self._in_store("expire", now_ms)

    async def maintenance(self) -> Any:
        """Forward :meth:`liqmap.storage.tiered.TieredStore.maintenance` (rollups, retention)."""
        return await self._in_store("maintenance")

    async def close(self) -> Any:
        if self._closed:
            return None
        self._closed = True
        try:
            return await self._in_store("close")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
