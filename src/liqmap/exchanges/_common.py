"""Small helpers shared by the venue parsers (pure functions, no I/O).

* :func:`typed` -- the typed fast-path decode of a hot frame shape (None = not that shape).
* :func:`decode` -- generic ``msgspec.json.decode`` raising ``FrameError``;
  :func:`decode_object` -- the same for a frame that must be a JSON object.
* :func:`json_object` -- a control frame's JSON object, or None (never raises);
  :func:`control_object` -- the same behind a cheap test of the frame's head.
* :func:`num` / :func:`pos` / :func:`opt` -- tolerant number readers (venues send
  numbers as JSON numbers or as strings; ``opt`` maps missing/empty to None).
* :func:`text` -- a required non-empty string field (symbol, instId).
* :func:`ms` / :func:`check_ts` / :func:`iso_ms` -- millisecond timestamps.
* :func:`position_side` -- the common checks of one decoded trade / liquidation row
  (price and quantity finite and > 0, timestamp in range, a known side).
* :func:`rows_or_partial` -- parse rows so that bad rows do not sink good ones;
  :func:`object_rows` -- the objects of a JSON list, one by one.
* :func:`split_concat` -- ``BTCUSDT`` -> ``("BTC", "USDT")`` with the one quote
  table of :mod:`liqmap.symbols`; :func:`split_delimited` -- ``BTC-USDT-SWAP`` ->
  ``("BTC", "USDT")``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

import msgspec

from liqmap.exchanges.base import PARSE_ERRORS, FrameError
from liqmap.models import Event
from liqmap.symbols import VENUE_QUOTES, split_quote

INF = math.inf

_generic = msgspec.json.Decoder()


def rows_or_partial(rows: Iterable[Any], parse_row: Callable[[Any], Event | None]) -> list[Event]:
    """``[parse_row(r) for r in rows]`` without the ``None`` results (rows held
    back by the parser), except that bad rows do not sink good ones.

    Raises:
        FrameError: when any row raised one; its message names the first bad
            row (and how many were bad) and ``partial`` holds the valid rows'
            events, in order.
    """
    out: list[Event] = []
    first: str | None = None
    bad = 0
    for i, r in enumerate(rows):
        try:
            ev = parse_row(r)
        except PARSE_ERRORS as exc:  # FrameError is a ValueError
            bad += 1
            if first is None:
                first = f"row {i}: {exc if isinstance(exc, FrameError) else repr(exc)}"
            continue
        if ev is not None:
            out.append(ev)
    if bad:
        raise FrameError(f"{bad} bad row(s), {len(out)} kept; first {first}", partial=out)
    return out


def typed(decoder: msgspec.json.Decoder, data: str | bytes) -> Any:
    """Fast path: ``data`` decoded into ``decoder``'s type, or None when the frame does
    not fit it (the venue's generic path then parses it or reports the precise
    problem). Venues test a cheap marker substring before calling it."""
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode(data: str | bytes) -> Any:
    """Decode JSON text into builtins; raises :class:`FrameError` on bad JSON."""
    try:
        return _generic.decode(data)
    except msgspec.DecodeError as exc:
        raise FrameError(f"invalid JSON: {exc}") from exc


def decode_object(data: str | bytes) -> dict:
    """Decode a frame that must be a JSON object (the venues' generic parse path).

    Raises:
        FrameError: bad JSON, or JSON that is not an object (the message names its type).
    """
    msg = decode(data)
    if not isinstance(msg, dict):
        raise FrameError(f"expected a JSON object, got {type(msg).__name__}")
    return msg


def json_object(data: str | bytes) -> dict | None:
    """``data`` decoded as a JSON object, or None for anything else (bad JSON, an
    array, a number). For :meth:`~liqmap.exchanges.base.Venue.control`, which must
    not raise: a frame that is no object is no control frame."""
    try:
        msg = _generic.decode(data)
    except msgspec.DecodeError:
        return None
    return msg if isinstance(msg, dict) else None


def control_object(data: str, head: int, *markers: str) -> dict | None:
    """For :meth:`~liqmap.exchanges.base.Venue.control`, which sees every text frame:
    ``data`` as a JSON object (:func:`json_object`) when one of ``markers`` stands in its
    first ``head`` characters, else None without decoding it (a data frame costs one
    substring test per marker). Never raises."""
    start = data[:head]
    for marker in markers:
        if marker in start:
            return json_object(data)
    return None


def num(value: Any, field: str = "value") -> float:
    """Read a finite number from a JSON number or numeric string.

    Raises:
        FrameError: missing, non-numeric, NaN or infinite values.
    """
    if value is None or isinstance(value, bool):
        raise FrameError(f"{field} missing or not a number: {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise FrameError(f"{field} not a number: {value!r}") from exc
    if not math.isfinite(out):
        raise FrameError(f"{field} not finite: {value!r}")
    return out


def pos(value: Any, field: str = "value") -> float:
    """Like :func:`num` but the number must be > 0 (prices, sizes)."""
    out = num(value, field)
    if out <= 0.0:
        raise FrameError(f"{field} must be > 0: {value!r}")
    return out


def check_pos(value: float, field: str) -> float:
    """Validate an already-decoded float: finite and > 0, else :class:`FrameError`."""
    if not (0.0 < value < math.inf):
        raise FrameError(f"{field} must be a finite number > 0: {value!r}")
    return value


def ms(value: Any, field: str = "timestamp") -> int:
    """Read an integer millisecond timestamp (number or numeric string)."""
    if value is None or isinstance(value, bool):
        raise FrameError(f"{field} missing: {value!r}")
    try:
        out = int(value)
    except (TypeError, ValueError):
        out = int(num(value, field))
    if not 0 <= out < MAX_TS:
        raise FrameError(f"{field} out of range: {value!r}")
    return out


#: Upper bound for millisecond timestamps (year ~5138): larger values are garbage
#: and would overflow BIGINT columns downstream.
MAX_TS = 10**14


def check_ts(value: int, field: str = "timestamp") -> int:
    """Validate an already-decoded ms timestamp: 0 <= value < MAX_TS."""
    if not 0 <= value < MAX_TS:
        raise FrameError(f"{field} out of range: {value!r}")
    return value


def position_side(
    price: float, qty: float, ts: int, side: str, positions: Mapping[str, str], what: str = "price/qty", ts_min: int = 0
) -> str:
    """The position side (``long``/``short``) of one decoded trade or liquidation row,
    ``positions[side]``, once the row is checked: ``price`` (quote units) and ``qty`` (the
    venue's size unit) finite and > 0, ``ts`` (ms UTC) in ``[ts_min, MAX_TS)``.

    Raises:
        FrameError: the first check that fails; ``what`` names price and quantity as the
            venue does (``"price/volume"``).
    """
    if not (0.0 < price < INF and 0.0 < qty < INF):
        raise FrameError(f"invalid {what} {price!r}/{qty!r}")
    if not ts_min <= ts < MAX_TS:
        raise FrameError(f"timestamp out of range: {ts!r}")
    pside = positions.get(side)
    if pside is None:
        raise FrameError(f"unknown side {side!r}")
    return pside


def split_concat(symbol: str) -> tuple[str, str]:
    """Split a concatenated symbol into (base, quote) by the known quote suffixes
    (:data:`liqmap.symbols.VENUE_QUOTES`, longest first).

    ``BTCUSDT`` -> (BTC, USDT); ``1000PEPEUSDT`` -> (1000PEPE, USDT);
    ``ETHUSDC`` -> (ETH, USDC); ``BTCUSD`` -> (BTC, USD). An unknown suffix is
    never guessed: raises :class:`FrameError`.
    """
    base, quote = split_quote(symbol, VENUE_QUOTES)
    if quote is None:
        raise FrameError(f"cannot split symbol into base/quote: {symbol!r}")
    return base, quote


def split_delimited(symbol: str, sep: str) -> tuple[str, str]:
    """``(base, quote)`` of a separated symbol: its first two ``sep``-separated parts
    (``BTC-USDT-SWAP`` -> (BTC, USDT); ``BTC_USDT_20260925`` -> (BTC, USDT)), as written.

    Raises:
        FrameError: fewer than two non-empty parts.
    """
    parts = symbol.split(sep, 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise FrameError(f"cannot split {symbol!r} at {sep!r} into base/quote")
    return parts[0], parts[1]


def iso_ms(value: Any) -> int:
    """ISO-8601 UTC text (``2021-07-22T22:00:00.000Z``) -> ms since epoch (naive = UTC).

    Raises:
        FrameError: not a string, or not ISO-8601.
    """
    return int(iso_datetime(value).timestamp() * 1000)


def iso_datetime(value: Any) -> datetime:
    """ISO-8601 text -> an aware datetime (naive = UTC), as :func:`iso_ms` reads it.

    Raises:
        FrameError: not a string, or not ISO-8601.
    """
    if not isinstance(value, str):
        raise FrameError(f"timestamp not a string: {value!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FrameError(f"bad ISO timestamp {value!r}") from exc
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


#: The Unix epoch and one millisecond, for exact ms arithmetic on datetimes (:func:`datetime_ms`).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def datetime_ms(dt: datetime) -> int:
    """An aware datetime -> ms since epoch, exactly (floor; a naive one is read as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _MS


def opt(value: Any) -> float | None:
    """An optional number: ``None`` for a missing or empty field, else :func:`num`."""
    if value is None or value == "":
        return None
    return num(value)


def text(value: Any, field: str = "symbol") -> str:
    """A required non-empty string field; raises :class:`FrameError` naming ``field``."""
    if not isinstance(value, str) or not value:
        raise FrameError(f"{field} missing: {value!r}")
    return value


def object_rows(rows: Any, what: str, row: str) -> Iterator[dict]:
    """The rows of a JSON list, in order, each an object, for a loop parsing them one by one.

    Raises (when the loop reaches it):
        FrameError: ``rows`` is no list (``"<what> is not a list"``) or a row no object
            (``"<row> is not an object"``).
    """
    if not isinstance(rows, list):
        raise FrameError(f"{what} is not a list")
    for r in rows:
        if not isinstance(r, dict):
            raise FrameError(f"{row} is not an object")
        yield r


def dict_rows(data: Any) -> list[dict]:
    """``data`` as a list of objects (one object becomes a list of one).

    Raises:
        FrameError: anything else.
    """
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise FrameError("data is not a list of objects")
    return data
