"""Small asyncio helpers shared by liqmap's long-running components."""

from __future__ import annotations

import asyncio
from typing import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Future]) -> None:
    """Cancel every task of ``tasks`` and wait until each has finished (stop a component's
    background tasks). Their results and exceptions, ``CancelledError`` included, are
    discarded; tasks already done are only awaited."""
    pending = list(tasks)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
