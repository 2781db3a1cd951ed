"""Raw frames: what a venue connection (or a recording) hands to the parsers.

A :class:`RawFrame` is the unit of record and replay: the exact bytes or text
received, which venue and connection they came from, and the local receipt
time in ms since epoch UTC. Live feeds, ``liqmap record`` and every replay
reader produce RawFrames, and all of them go through the same venue parser
(:func:`liqmap.exchanges.base.safe_parse`).
"""

from __future__ import annotations

import msgspec


class RawFrame(msgspec.Struct, frozen=True):
    """One frame as received.

    Fields:
        exchange: venue id the frame belongs to (``"binance"``, ...).
        connection: connection label within the venue (``"usdm"``, ``"linear"``...);
            free text, used for health and gap reporting.
        received_at: local receipt time, ms since epoch UTC.
        data: the frame payload exactly as received (text frames as ``str``).
    """

    exchange: str
    connection: str
    received_at: int
    data: str
