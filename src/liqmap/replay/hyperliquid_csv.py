"""Reader for Hyperliquid's published historical CSVs (format ``hyperliquid-csv``).

Source: hyperliquid-dex/historical_data (tests/fixtures/PROVENANCE.md). Two files:

* ``liquidations.csv``: ``time,user,liquidated_ntl_pos,liquidated_account_value,leverage_type``
  -- who was liquidated and when, but **no coin, side or price**.
* ``non_mm_trades.csv[.gz]``: ``time,user,coin,side,px,sz,crossed`` -- fills
  where at least one party is not a market maker; ``side`` is that user's own
  side (``Bid`` bought, ``Ask`` sold), ``crossed`` = that user's order took
  liquidity.

Liquidations are rebuilt as the websocket ``userFills`` message the
liquidated user's subscription would have received
(https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions,
``WsFill`` with ``liquidation: {liquidatedUser, markPx, method}``)::

    {"channel": "userFills", "data": {"user": U, "fills": [
        {"coin", "px", "sz", "side": "A"|"B", "time", "hash", "tid", "crossed",
         "liquidation": {"liquidatedUser": U, "markPx": px, "method": "market"}}]}}

* One frame per liquidation row; its fills are **all fills of the same user
  within 5 s** of the row's time. A cross-margin liquidation closes every
  position of the account, so a frame may hold several fills (several
  coins); each becomes one Liquidation event (62 rows -> 69 fills in the
  fixture; the px x sz of the fills add up to ``liquidated_ntl_pos``).
* ``side`` is the liquidated user's own fill side: ``Ask`` -> ``"A"`` (sold,
  i.e. a long was closed), ``Bid`` -> ``"B"``.
* Not in the files, documented choices: ``markPx`` = the fill price (the mark
  was not published); ``method`` = ``"market"`` (the fill is on the public
  book, which is how market liquidations execute); ``hash`` = ``0x`` + SHA-256
  of the fill row text and its occurrence number (stable, not a chain hash);
  ``tid`` = the first 52 bits of that hash as an integer.
* ``received_at`` = the liquidation row's ``time`` (second resolution), in ms.
* A liquidation with no fill in the window is skipped and counted
  (``"no fill within 5 s"``). Without the trades file the liquidations cannot
  be replayed: the reader says so (note) and yields nothing.

The trades file alone becomes public ``trades`` messages
``{"channel": "trades", "data": [{"coin", "side", "px", "sz", "time", "hash",
"tid"}]}``, one per row, ``side`` = the taker side (the row's side when
``crossed`` is true, else the opposite). ``users`` is omitted (only one of the
two parties is known). A fill between two non-market-makers appears in the
file once per party, so it is replayed twice: the file does not link the rows.
"""

from __future__ import annotations

import csv
import hashlib
import zlib
from bisect import bisect_left
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from liqmap.frames import RawFrame
from liqmap.replay._util import iso_to_ms, single_venue_frames
from liqmap.replay.formats import (
    HYPERLIQUID_LIQ_HEADER,
    HYPERLIQUID_TRADES_HEADER,
    open_text,
)
from liqmap.replay.stats import FileStats

JOIN_WINDOW_MS = 5_000
_SIDE = {"Bid": "B", "Ask": "A"}
_OPPOSITE = {"B": "A", "A": "B"}


def hyperliquid_kind(path: str | Path) -> str | None:
    """``"liquidations"``, ``"trades"`` or ``None`` from the CSV header line."""
    with open_text(path) as fh:
        header = fh.readline().strip().lstrip("\ufeff")
    if header == HYPERLIQUID_LIQ_HEADER:
        return "liquidations"
    if header == HYPERLIQUID_TRADES_HEADER:
        return "trades"
    return None


def find_trades_file(liquidations_path: str | Path) -> Path | None:
    """A Hyperliquid trades CSV in the same directory as ``liquidations_path``, or None."""
    folder = Path(liquidations_path).resolve().parent
    preferred = [folder / "non_mm_trades.csv.gz", folder / "non_mm_trades.csv"]
    others = sorted(p for p in folder.glob("*.csv*") if p not in preferred)
    for p in preferred + others:
        if p.is_file() and p.resolve() != Path(liquidations_path).resolve():
            try:
                if hyperliquid_kind(p) == "trades":
                    return p
            except OSError:
                continue
    return None


_COLS = ("time", "user", "coin", "side", "px", "sz", "crossed")


class _Fill:
    """One validated row of the trades file; ``hash``/``tid`` derived on demand."""

    __slots__ = ("time", "user", "coin", "side", "px", "sz", "crossed", "_key")

    def __init__(self, row: list[str], occurrence: int, time_ms: int):
        self.time = time_ms
        self.user = row[1]
        self.coin = row[2]
        self.side = _SIDE[row[3]]
        self.px = row[4]
        self.sz = row[5]
        float(self.px), float(self.sz)  # validate: ValueError on junk
        self.crossed = row[6].strip().lower() == "true"
        self._key = f"{','.join(row)}#{occurrence}"

    @property
    def hash(self) -> str:
        """``0x`` + SHA-256 of the row text and its occurrence number (see module doc)."""
        return "0x" + hashlib.sha256(self._key.encode()).hexdigest()

    @property
    def tid(self) -> int:
        """First 52 bits of :attr:`hash` as an integer."""
        return int(self.hash[2:15], 16)


def _read_fills(
    path: str | Path, stats: FileStats | None, users: set[str] | None = None
) -> Iterator[_Fill]:
    """Fills of the trades file in file order (only of ``users`` when given)."""
    seen: Counter = Counter()
    times: dict[str, int] = {}
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
            if tuple(header) != _COLS:
                if stats is not None:
                    stats.note(f"unexpected header {header!r}")
                return
            for row in reader:
                if stats is not None:
                    stats.lines += 1
                if len(row) != 7:
                    if stats is not None:
                        stats.skip("bad row")
                    continue
                key = tuple(row)
                seen[key] += 1  # occurrence count over ALL rows, so hashes do not depend on `users`
                if users is not None and row[1] not in users:
                    continue
                try:
                    t = times.get(row[0])
                    if t is None:
                        t = times[row[0]] = iso_to_ms(row[0])
                    yield _Fill(row, seen[key], t)
                except (KeyError, ValueError, TypeError, AttributeError):
                    if stats is not None:
                        stats.skip("bad row")
    except (EOFError, zlib.error) as exc:  # gzip cut short: keep what was read
        if stats is not None:
            stats.note(f"file ends early ({exc}); read everything before it")


def read_hyperliquid_trades(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one public ``trades`` frame per fill row of ``non_mm_trades.csv``."""
    yield from single_venue_frames(exchange, "hyperliquid", ("hyperliquid",), stats, _trade_messages(path, stats))


def _trade_messages(path: str | Path, stats: FileStats) -> Iterator[tuple[int, dict]]:
    """``(received_at ms UTC = fill time, trades message)`` per fill row (see module doc)."""
    stats.note("fills between two non-market-makers appear once per party (replayed twice)")
    for f in _read_fills(path, stats):
        taker = f.side if f.crossed else _OPPOSITE[f.side]
        msg = {
            "channel": "trades",
            "data": [
                {"coin": f.coin, "side": taker, "px": f.px, "sz": f.sz, "time": f.time,
                 "hash": f.hash, "tid": f.tid}
            ],
        }
        yield f.time, msg


def read_hyperliquid_liquidations(
    path: str | Path,
    stats: FileStats,
    exchange: str | None = None,
    trades_path: str | Path | None = None,
) -> Iterator[RawFrame]:
    """Yield one ``userFills`` frame per liquidation row, joined to its fills (see module doc)."""
    messages = _liquidation_messages(path, stats, trades_path)
    yield from single_venue_frames(exchange, "hyperliquid", ("hyperliquid",), stats, messages)


def _liquidation_messages(
    path: str | Path, stats: FileStats, trades_path: str | Path | None
) -> Iterator[tuple[int, dict]]:
    """``(received_at ms UTC = the row's time, userFills message)`` per liquidation row joined
    to its fills; nothing (a note, rows skipped) without the fills file (see module doc)."""
    trades = Path(trades_path) if trades_path else find_trades_file(path)
    if trades is None:
        stats.note(
            f"{path}: Hyperliquid liquidations.csv has no coin/price and cannot be replayed "
            "without the fills file (non_mm_trades.csv[.gz]); give it next to the liquidations file"
        )
        with open_text(path) as fh:
            n = max(0, sum(1 for line in fh if line.strip()) - 1)
        stats.lines += n
        stats.skip("no fills file", n)
        return
    stats.note(f"fills joined from {trades.name} (same user, within 5 s)")
    rows: list[dict] = []
    try:
        with open_text(path) as fh:
            rows.extend(csv.DictReader(fh))
    except (EOFError, zlib.error) as exc:
        stats.note(f"file ends early ({exc}); read everything before it")
    users = {r.get("user") for r in rows if r.get("user")}
    by_user: dict[str, list[_Fill]] = defaultdict(list)
    for f in _read_fills(trades, None, users):
        by_user[f.user].append(f)
    times: dict[str, list[int]] = {}
    for user, fills in by_user.items():
        fills.sort(key=lambda x: x.time)
        times[user] = [x.time for x in fills]
    for row in rows:
        stats.lines += 1
        try:
            t = iso_to_ms(row["time"])
            user = row["user"]
        except (KeyError, ValueError, TypeError, AttributeError):
            stats.skip("bad row")
            continue
        fills = by_user.get(user, [])
        ts = times.get(user, [])
        i = bisect_left(ts, t - JOIN_WINDOW_MS)
        matched = []
        while i < len(fills) and fills[i].time <= t + JOIN_WINDOW_MS:
            matched.append(fills[i])
            i += 1
        if not matched:
            stats.skip("no fill within 5 s")
            continue
        msg = {
            "channel": "userFills",
            "data": {
                "user": user,
                "fills": [
                    {
                        "coin": f.coin, "px": f.px, "sz": f.sz, "side": f.side,
                        "time": f.time, "hash": f.hash, "tid": f.tid, "crossed": f.crossed,
                        "liquidation": {"liquidatedUser": user, "markPx": f.px,
                                        "method": "market"},
                    }
                    for f in matched
                ],
            },
        }
        yield t, msg
