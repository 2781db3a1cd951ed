"""Reader for Binance forceOrder JSON-lines captures (format ``binance-forceorder-jsonl``).

Line shape (e.g. dannyspk/arbitra-backend ``binance_force_orders_ws.log``)::

    {"ts": "2025-10-02T15:03:52.206933+00:00", "msg": {"e": "forceOrder", "E": ..., "o": {...}}}

``msg`` is the raw event exactly as Binance pushed it on ``!forceOrder@arr``
(https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/All-Market-Liquidation-Order-Streams);
it is re-encoded as compact JSON text (values and key order unchanged, only
whitespace differs from the wire). ``received_at`` = ``ts`` (the recorder's
local receive time) in ms, rounded. The default venue is ``binance``
(USD-M); pass ``exchange="binance_coinm"`` for a COIN-M capture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from liqmap.frames import RawFrame
from liqmap.replay._util import single_venue_frames, stamped_records
from liqmap.replay.stats import FileStats


def read_binance_jsonl(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one RawFrame per ``{"ts", "msg"}`` line; bad lines are counted and skipped."""
    events = ((received_at, rec["msg"]) for received_at, rec in stamped_records(path, stats, "ts", "msg"))
    yield from single_venue_frames(exchange, "binance", ("binance", "binance_coinm"), stats, events)
