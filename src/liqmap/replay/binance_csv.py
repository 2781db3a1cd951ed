"""Readers for the Binance "data streams" CSV captures (``csv-forceorder``, ``csv-aggtrades``).

These files come from variants of one public tutorial script listening to
``wss://fstream.binance.com/ws/!forceOrder@arr`` and ``<symbol>@aggTrade``
(see tests/fixtures/PROVENANCE.md, ``binance_forceorder_datastreams``). They
are not raw frames, so each row is turned back into the documented Binance
websocket message and handed to the Binance venue parser like a live frame.

``csv-forceorder`` rows (no header): ``o.s, o.S, o.o, o.f, o.q, o.p, o.ap,
o.X, o.l, o.z, o.T, usd_size[, tier]``. Reconstructed message
(https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/All-Market-Liquidation-Order-Streams)::

    {"e": "forceOrder", "E": T, "o": {"s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T"}}

* Lossless for every ``o`` field present; number fields keep the row's exact
  text (as strings, like Binance sends them).
* ``E`` (event time) was not kept by the script: ``E`` = ``o.T`` (real events
  have ``E`` 0-3 ms after ``T``). ``received_at`` = ``o.T`` too, since the
  receive time was not kept either.
* Symbol: the script removed the text ``USDT`` (``BTCUSDT`` -> ``BTC``,
  ``BTCUSDT_250627`` -> ``BTC_250627``), so ``USDT`` is put back (before
  ``_`` for dated contracts); symbols still ending in ``USDC`` (``SUIUSDC``)
  are kept as they are.
* ``ap`` written as the text ``None`` (a script bug) -> ``ap`` omitted.
* ``usd_size`` (= z x p, derived) and the ``tier`` column are dropped.
* A first field carrying a stray text prefix (``"Hello Arbitrage Trading
  BotADA"``) is repaired to its trailing upper-case symbol (``ADA``) and counted
  under ``repaired``; any other unparsable line (e.g. a Python generator repr)
  is counted under ``skipped`` -- never silently dropped.
* Exact duplicate lines (two listeners writing the same file) are replayed
  as they are; they get the same event id and are removed by the id
  de-duplication downstream.

``csv-aggtrades`` rows: ``E, symbol, aggTradeId, price, qty, T,
isBuyerMaker[, usd_size, tier]`` -> Binance ``aggTrade`` message
(https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Aggregate-Trade-Streams)
``{"e": "aggTrade", "E", "s", "a", "p", "q", "T", "m"}``; ``f``/``l`` (first /
last trade id) were not kept and are omitted; ``received_at`` = ``E``. These
files hold only trades of at least 15,000 USD notional: not a full tape.
Some rows (BandsThoBaby) wrote ``T`` as a local time of day (``15:40:27``, the
recorder's clock, not UTC); those get ``T`` = ``E`` (a few ms later than the real
trade time) and are counted under ``repaired``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from liqmap.frames import RawFrame
from liqmap.replay._util import data_lines, dumps, live_label, single_venue
from liqmap.replay.formats import looks_like_aggtrade_row, looks_like_forceorder_row
from liqmap.replay.stats import FileStats

_NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_SYMBOL = re.compile(r"^[^\s,]+$")
_TRAILING_SYMBOL = re.compile(r"([A-Z0-9]+(?:_\d+)?)$")
_FO_KEYS = ("s", "S", "o", "f", "q", "p", "ap", "X", "l", "z")


def restore_symbol(stripped: str) -> str:
    """Undo the script's ``symbol.replace("USDT", "")``.

    ``BTC`` -> ``BTCUSDT``; ``BTC_250627`` -> ``BTCUSDT_250627``;
    ``SUIUSDC`` -> ``SUIUSDC`` (USDC-margined contracts kept their quote).
    """
    if stripped.endswith("USDC") or "USDC_" in stripped:
        return stripped
    if "_" in stripped:
        base, _, suffix = stripped.partition("_")
        return f"{base}USDT_{suffix}"
    return stripped + "USDT"


def forceorder_message(fields: list[str]) -> dict:
    """Binance ``forceOrder`` event rebuilt from one CSV row (fields already stripped).

    Raises ``ValueError`` when the row is not a valid 12/13-column forceOrder row.
    """
    if not looks_like_forceorder_row(fields):
        raise ValueError("not a forceOrder row")
    for i in (4, 5, 8, 9):
        if not _NUM.match(fields[i]):
            raise ValueError(f"column {i + 1} is not a number: {fields[i]!r}")
    if fields[6] != "None" and not _NUM.match(fields[6]):
        raise ValueError(f"column 7 (ap) is not a number: {fields[6]!r}")
    t = int(fields[10])
    o: dict = {}
    for key, value in zip(_FO_KEYS, fields[:10]):
        if key == "ap" and value == "None":
            continue
        o[key] = value
    o["s"] = restore_symbol(fields[0])
    o["T"] = t
    return {"e": "forceOrder", "E": t, "o": o}


def _repair_symbol(field: str) -> str | None:
    """Trailing upper-case symbol of a first field with a stray text prefix, or None."""
    if _SYMBOL.match(field) and not re.search(r"[a-z]", field):
        return field
    m = _TRAILING_SYMBOL.search(field)
    if m and re.search(r"[\sa-z]", field[: m.start()] or " "):
        return m.group(1)
    return None


def _csv_rows(path: str | Path, stats: FileStats, exchange: str | None, note: str) -> Iterator[tuple[str, str, list[str]]]:
    """``(venue, connection label, stripped fields)`` per non-blank line of a Binance CSV capture
    (nothing when ``exchange`` filters the file out); ``note`` is said of the file in ``stats``."""
    venue = single_venue(exchange, "binance", ("binance", "binance_coinm"), stats)
    if venue is None:
        return
    connection = live_label(venue)
    stats.note(note)
    for _, line in data_lines(path, stats):
        yield venue, connection, [f.strip() for f in line.split(",")]


def read_csv_forceorder(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one reconstructed ``forceOrder`` frame per CSV row (see module doc).

    ``exchange`` defaults to ``binance`` (USD-M).
    """
    note = "forceOrder rebuilt from CSV: E and received_at = o.T (not kept by the capture)"
    for venue, connection, fields in _csv_rows(path, stats, exchange, note):
        sym = _repair_symbol(fields[0])
        repaired = sym is not None and sym != fields[0]
        try:
            if sym is None:
                raise ValueError(f"no symbol in {fields[0]!r}")
            msg = forceorder_message([sym, *fields[1:]])
        except ValueError:
            stats.skip("bad row")
            continue
        if repaired:
            stats.repaired["stray text before symbol"] += 1
        stats.frames += 1
        yield RawFrame(venue, connection, msg["o"]["T"], dumps(msg))


_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")


def aggtrade_message(fields: list[str]) -> dict:
    """Binance ``aggTrade`` event rebuilt from one large-aggTrades CSV row.

    A ``T`` column holding a time of day is replaced by ``E`` (see module doc).
    Raises ``ValueError`` for a row that is not 7/9 columns of the expected types.
    """
    if len(fields) in (7, 9) and _TIME_OF_DAY.match(fields[5]):
        fields = fields[:5] + [fields[0]] + fields[6:]
    if not looks_like_aggtrade_row(fields):
        raise ValueError("not an aggTrade row")
    if not (_NUM.match(fields[3]) and _NUM.match(fields[4])):
        raise ValueError("price/qty not numbers")
    return {
        "e": "aggTrade",
        "E": int(fields[0]),
        "s": fields[1],
        "a": int(fields[2]),
        "p": fields[3],
        "q": fields[4],
        "T": int(fields[5]),
        "m": fields[6] == "True",
    }


def read_csv_aggtrades(
    path: str | Path, stats: FileStats, exchange: str | None = None
) -> Iterator[RawFrame]:
    """Yield one reconstructed ``aggTrade`` frame per CSV row; ``received_at`` = ``E``."""
    note = "large aggTrades only (>= 15,000 USD): not a full trade tape"
    for venue, connection, fields in _csv_rows(path, stats, exchange, note):
        try:
            msg = aggtrade_message(fields)
        except ValueError:
            stats.skip("bad row")
            continue
        if len(fields) > 5 and _TIME_OF_DAY.match(fields[5]):
            stats.repaired["T as time of day -> T = E"] += 1
        stats.frames += 1
        yield RawFrame(venue, connection, msg["E"], dumps(msg))
