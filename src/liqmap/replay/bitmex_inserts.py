"""Reader for extracted BitMEX liquidation rows (format ``bitmex-inserts``).

Line shape (ticktrades/tokens extraction, see tests/fixtures/PROVENANCE.md)::

    {"orderID": "...", "symbol": "ETHUSD", "side": "Sell", "price": 186.7,
     "leavesQty": 5250, "recorded_at": "2019-11-14T04:15:49.024Z"}

Each row was one element of a BitMEX websocket ``liquidation`` table
``insert`` (https://www.bitmex.com/app/wsAPI, table ``liquidation``), so the
frame is reconstructed losslessly as::

    {"table": "liquidation", "action": "insert", "data": [<row without recorded_at>]}

BitMEX liquidation rows carry no timestamp; ``received_at`` = ``recorded_at``
(the time the recording app stored the row), in ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from liqmap.frames import RawFrame
from liqmap.replay._util import single_venue_frames, stamped_records
from liqmap.replay.stats import FileStats


def read_bitmex_inserts(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one ``liquidation`` insert frame per row; bad lines are counted and skipped."""
    inserts = (
        (received_at, {"table": "liquidation", "action": "insert", "data": [row]})
        for received_at, row in stamped_records(path, stats, "recorded_at", "orderID", "symbol")
    )
    yield from single_venue_frames(exchange, "bitmex", ("bitmex",), stats, inserts)
