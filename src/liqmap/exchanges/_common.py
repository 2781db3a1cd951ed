"""Small helpers shared by the venue parsers (pure functions, no I/O).

* :class:`GuardedVenue` -- a :class:`~liqmap.exchanges.base.Venue` whose
  ``parse`` converts any decoding/shape error raised by the venue's ``_parse``
  into :class:`~liqmap.exchanges.base.FrameError`, so the public contract
  "``parse`` raises only ``FrameError``" holds even for frames nobody foresaw.
* :func:`decode` -- generic ``msgspec.json.decode`` raising ``FrameError``.
* :func:`num` / :func:`pos` -- tolerant number readers (venues send numbers as
  JSON numbers or as strings).
* :func:`fkey` -- canonical text of a number for de-duplication ids, so
  ``"41.870"`` (CSV) and ``"41.87"`` (JSON) give the same id.
* :func:`split_concat` -- ``BTCUSDT`` -> ``("BTC", "USDT")``.
"""

from __future__ import annotations

import math

INF = math.inf
from typing import Any, Callable, Iterable

import msgspec

from liqmap.exchanges.base import FrameError, Venue
from liqmap.models import Event, Liquidation

# Longest first, so "BTCUSDT" is not split as "BTCUSD" + "T".
KNOWN_QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "USDE", "USD", "EUR", "BTC", "ETH")

_generic = msgspec.json.Decoder()

_PARSE_ERRORS = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    ZeroDivisionError,
    OverflowError,
    UnicodeDecodeError,
)


class GuardedVenue(Venue):
    """Venue base whose :meth:`parse` raises only :class:`FrameError`.

    Subclasses implement ``_parse(data, received_at, connection) -> list[Event]``
    and the usual declarative methods.
    """

    #: True for venues whose liquidation ids are built from the event's fields
    #: (no venue id): identical rows inside ONE frame are then distinct
    #: liquidations (two positions closed at the same price, size and ms) and the
    #: 2nd, 3rd ... get ``#2``, ``#3`` appended (:func:`distinct_in_frame`), so
    #: de-duplication by id does not merge them. The suffixes depend only on the
    #: frame, so replaying the same frame again gives the same ids.
    frame_repeats_are_distinct = False

    def parse(self, data: str | bytes, received_at: int, connection: str = "") -> list[Event]:
        """Parse one raw frame; see :meth:`liqmap.exchanges.base.Venue.parse`.

        Raises:
            FrameError: malformed JSON, unknown shape, or invalid values
                (message says which).
        """
        try:
            out = self._parse(data, received_at, connection)
            if self.frame_repeats_are_distinct and len(out) > 1:
                out = distinct_in_frame(out)
            return out
        except FrameError as exc:
            if self.frame_repeats_are_distinct and len(exc.partial) > 1:
                exc.partial = distinct_in_frame(exc.partial)
            raise
        except _PARSE_ERRORS as exc:
            raise FrameError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        except RecursionError as exc:  # absurdly nested input
            raise FrameError(f"{self.name}: frame nested too deeply") from exc

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        raise NotImplementedError

    def native_symbols(self, base: str, quote: str | None = None) -> list[str]:
        """Venue perpetual symbol(s) for an underlying (``"BTC"`` -> ``["BTCUSDT"]``)."""
        raise NotImplementedError


def distinct_in_frame(events: list[Event]) -> list[Event]:
    """Give repeated liquidation ids within one frame a ``#k`` suffix (k = 2, 3, ...).

    Only :class:`~liqmap.models.Liquidation` ids are touched; a frame of other
    events (one channel per frame) returns at once, and the common case (all ids
    distinct) returns ``events`` unchanged after one set check.
    """
    if type(events[0]) is not Liquidation and type(events[-1]) is not Liquidation:
        return events
    liqs = [e.id for e in events if type(e) is Liquidation]
    if len(set(liqs)) == len(liqs):
        return events
    seen: dict[str, int] = {}
    out: list[Event] = []
    for e in events:
        if type(e) is Liquidation:
            k = seen[e.id] = seen.get(e.id, 0) + 1
            if k > 1:
                e = msgspec.structs.replace(e, id=f"{e.id}#{k}")
        out.append(e)
    return out


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
        except _PARSE_ERRORS as exc:  # FrameError is a ValueError
            bad += 1
            if first is None:
                first = f"row {i}: {exc if isinstance(exc, FrameError) else repr(exc)}"
            continue
        if ev is not None:
            out.append(ev)
    if bad:
        raise FrameError(f"{bad} bad row(s), {len(out)} kept; first {first}", partial=out)
    return out


def decode(data: str | bytes) -> Any:
    """Decode JSON text into builtins; raises :class:`FrameError` on bad JSON."""
    try:
        return _generic.decode(data)
    except msgspec.DecodeError as exc:
        raise FrameError(f"invalid JSON: {exc}") from exc


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


def fkey(value: float | int | str) -> str:
    """Canonical text of a number for ids: the shortest round-trip repr of the
    float, so ``"41.870"``, ``"41.87"`` and ``41.87`` all give ``"41.87"`` and
    ``"50"`` / ``50`` give ``"50.0"``. Parsers holding a float already inline
    ``f"{x!r}"`` (identical result)."""
    return repr(float(value))


def split_concat(symbol: str) -> tuple[str, str]:
    """Split a concatenated symbol into (base, quote) by known quote suffixes.

    ``BTCUSDT`` -> (BTC, USDT); ``1000PEPEUSDT`` -> (1000PEPE, USDT);
    ``ETHUSDC`` -> (ETH, USDC); ``BTCUSD`` -> (BTC, USD). Unknown suffix ->
    (symbol, "USD") is never guessed: raises :class:`FrameError`.
    """
    for q in KNOWN_QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    raise FrameError(f"cannot split symbol into base/quote: {symbol!r}")


def iso_ms(text: str) -> int:
    """ISO-8601 UTC text (``2021-07-22T22:00:00.000Z``) -> ms since epoch."""
    from datetime import datetime

    if not isinstance(text, str):
        raise FrameError(f"timestamp not a string: {text!r}")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FrameError(f"bad ISO timestamp {text!r}") from exc
    if dt.tzinfo is None:
        from datetime import timezone

        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)
