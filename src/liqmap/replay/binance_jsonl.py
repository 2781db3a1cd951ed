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

import msgspec

from liqmap.frames import RawFrame
from liqmap.replay._util import dumps, iso_to_ms, live_label, single_venue, text_lines
from liqmap.replay.stats import FileStats


def read_binance_jsonl(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one RawFrame per ``{"ts", "msg"}`` line; bad lines are counted and skipped."""
    venue = single_venue(exchange, "binance", ("binance", "binance_coinm"), stats)
    if venue is None:
        return
    connection = live_label(venue)
    for _, line in text_lines(path, stats):
        if not line.strip():
            continue
        stats.lines += 1
        try:
            rec = msgspec.json.decode(line)
            received_at = iso_to_ms(rec["ts"])
            msg = rec["msg"]
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
            stats.skip("bad line")
            continue
        data = msg if isinstance(msg, str) else dumps(msg)
        stats.frames += 1
        yield RawFrame(venue, connection, received_at, data)
