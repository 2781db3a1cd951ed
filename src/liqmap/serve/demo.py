"""``liqmap demo``: what it replays, the market history it seeds and its looping tail.

Everything is real and shipped in the package (provenance: ``demo_data/README.md`` and
``heatmap/reference/PROVENANCE.md``); nothing is generated:

* liquidations (replayed through the venue parsers, stored at once): BitMEX 2019-11, Hyperliquid
  2023, Binance USD-M forceOrder captures of 2024-06, 2025-01/02 and 2025-12-27/28 (the newest,
  so the replay clock stands at 2025-12-28 20:43 UTC);
* market history for the heatmap model, seeded into the demo database before it opens: Binance
  USD-M BTCUSDT 5-minute klines of December 2025 (data.binance.vision) and BTCUSDT open interest
  every 5 minutes (``metrics`` archive) up to the end of that month -- the same period as the
  2025-12-27/28 capture, so the predicted levels and the realized liquidations meet on one chart.

**The loop.** Once everything is stored, the demo plays the newest ``tail_ms`` of liquidations
again and again at ``speed`` x (:func:`loop_tail`): each round rewinds the replay clock to the
tail's first event and re-sends the tail's events to websocket clients as the clock reaches them,
so the feed and the "now"-anchored charts keep moving. The loop stores nothing (the events are
stored once); the clock's ``loop`` meta (``{round, start_ms, end_ms}``) marks it on the page.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import duckdb

from liqmap.heatmap.reference import KLINES_5M, OI_5M
from liqmap.units import DAY_MS, HOUR_MS, day_ms

log = logging.getLogger("liqmap.demo")

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo_data"
#: the recordings (``demo_data/README.md``): name, venue, first and last day (UTC) of their
#: events, files; replayed (unpaced) in this order, the last one is the newest and sets the replay
#: clock. The dashboard names each feed row's recording from these, since one feed shows rows of
#: 2025-12 next to rows of 2025-01 (tests/test_demo_loop.py checks every stored event lies in one).
RECORDINGS = (
    ("BitMEX liquidation inserts", "bitmex", "2019-11-14", "2019-11-16", ("bitmex_liquidation_inserts_2019-11.jsonl",)),
    ("Hyperliquid published liquidations", "hyperliquid", "2023-02-28", "2023-05-01",
     ("liquidations.csv", "non_mm_trades.csv.gz")),
    ("Binance USD-M forceOrder capture (AlejandroME01)", "binance", "2024-06-20", "2024-06-20",
     ("AlejandroME01_binance_liquidations_2024-06-20.csv",)),
    ("Binance USD-M forceOrder capture (PauliusMinialga)", "binance", "2025-01-26", "2025-02-06",
     ("PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz",)),
    ("Binance USD-M forceOrder capture (riftfern)", "binance", "2025-12-27", "2025-12-28",
     ("riftfern_binance_liquidations_2025-12-27_2025-12-28.csv.gz",)),
)
DEMO_FILES = tuple(f for r in RECORDINGS for f in r[4])
#: the seeded market history ends with the month the newest capture falls in
SEED_SYMBOL = "BTCUSDT"
SEED_END_MS = 1767225600000  # 2026-01-01T00:00:00Z
#: how much of the newest recording the loop plays again
TAIL_MS = HOUR_MS


def demo_paths() -> list[str]:
    """The demo's recordings (absolute paths). Raises FileNotFoundError naming missing ones."""
    missing = [f for f in DEMO_FILES if not (DEMO_DIR / f).is_file()]
    if missing:
        raise FileNotFoundError(f"demo data missing from the package: {', '.join(missing)}")
    return [str(DEMO_DIR / f) for f in DEMO_FILES]


def demo_recordings() -> list[dict[str, Any]]:
    """:data:`RECORDINGS` for the API (``/health`` ``recordings``): ``{name, exchange, start_ms,
    end_ms, files}``, ``end_ms`` the last millisecond of the last day."""
    import datetime as dt

    def ms(day: str) -> int:
        return day_ms(dt.date.fromisoformat(day))

    return [{"name": f"{name}, {first} – {last}", "exchange": ex, "start_ms": ms(first),
             "end_ms": ms(last) + DAY_MS - 1, "files": list(files)}
            for name, ex, first, last, files in RECORDINGS]


def seed_market_history(db_path: str) -> dict[str, int]:
    """Load the shipped BTCUSDT 5-minute klines and open interest (up to :data:`SEED_END_MS`) into
    ``klines_5m_history`` / ``open_interest_history`` of ``db_path`` (created and migrated when
    new); idempotent (``archive_writes.replace_range``). Returns rows per table.
    Raises ``duckdb.Error`` (e.g. the file is locked)."""
    from liqmap.storage.archive_writes import load_reference_history
    from liqmap.storage.duckdb_store import apply_migrations

    con = duckdb.connect(db_path)
    try:
        apply_migrations(con)
        return load_reference_history(con, SEED_SYMBOL, KLINES_5M, OI_5M, SEED_END_MS)
    finally:
        con.close()


async def loop_tail(state: Any, speed: float, tail_ms: int = TAIL_MS, max_gap_s: float = 1.0) -> None:
    """Replay the stored liquidations of the newest ``tail_ms`` over and over (module docstring),
    until cancelled. ``state``: the running :class:`~liqmap.api.state.AppState` (its replay clock,
    websocket hub and read cursor)."""
    from liqmap.models import Liquidation
    from liqmap.storage import duckdb_reads

    with state.cursor() as cur:
        newest = duckdb_reads.latest_timestamp(cur)
        if newest is None:
            return
        rows = duckdb_reads.newest_rows(cur, newest - tail_ms, 100_000)
    events = sorted((Liquidation(**r) for r in rows), key=lambda e: (e.timestamp, e.id))
    if not events:
        return
    first, last = events[0].timestamp, events[-1].timestamp
    rnd = 0
    while True:
        rnd += 1
        state.clock.rewind(first, {"round": rnd, "start_ms": first, "end_ms": last})
        log.info("demo loop %d: %d liquidations %d..%d", rnd, len(events), first, last)
        prev = first
        for ev in events:
            await asyncio.sleep(min((ev.timestamp - prev) / 1000 / speed, max_gap_s))
            prev = ev.timestamp
            state.clock.observe(ev.timestamp)
            state.hub.publish(ev)
        await asyncio.sleep(2.0)
