"""Venue protocol seam: declarative connection specs and the parser contract.

Each venue module under ``liqmap.exchanges`` exposes one :class:`Venue`
subclass instance. A venue is *declarative* about I/O (URLs, subscribe
messages, heartbeat, connection lifetime, REST fallbacks) and *pure* about
parsing: :meth:`Venue.parse` turns one raw frame into normalized events and
does no I/O. All network code lives in ``liqmap.feed`` and knows nothing about
any venue beyond these specs.

Error contract: ``Venue.parse`` raises :class:`FrameError` (only) for a frame
it cannot understand; :func:`safe_parse` is the entry point used by feeds and
replay and never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from liqmap.models import Event


class FrameError(ValueError):
    """A frame is malformed or of an unknown shape. The message says why.

    ``partial`` holds the events of the frame's valid rows when only some rows
    were bad (one malformed liquidation in a batch of ten): the caller counts
    the error AND keeps those events, so one bad row does not lose its
    neighbours. Empty when nothing in the frame was usable.
    """

    def __init__(self, message: str, partial: "list[Event] | None" = None) -> None:
        super().__init__(message)
        self.partial: list[Event] = partial or []


@dataclass(frozen=True)
class Heartbeat:
    """Application-level keep-alive for a connection.

    ``message`` is sent every ``interval_s`` seconds (text as-is; ``None`` means
    the venue uses protocol-level ping frames, answered by the websocket
    library). ``is_pong`` recognises the venue's reply so it is not counted as
    an unknown frame.
    """

    interval_s: float | None
    message: str | None = None
    is_pong: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class ConnectionSpec:
    """One websocket connection to open for a venue.

    Fields:
        label: short name (``"usdm"``, ``"linear"``, ``"swap"``).
        url: full websocket URL (may already carry stream names).
        subscribe: messages to send after every (re)connect, in order.
        heartbeat: keep-alive rule.
        max_lifetime_s: venue-imposed connection lifetime; the feed rotates the
            connection before it ends (``None`` = no limit).
        stale_after_s: watchdog: reconnect when no frame arrives for this long.
    """

    label: str
    url: str
    subscribe: Sequence[str] = ()
    heartbeat: Heartbeat = field(default_factory=lambda: Heartbeat(None))
    max_lifetime_s: float | None = None
    stale_after_s: float = 60.0


@dataclass(frozen=True)
class RestPoll:
    """A public REST endpoint polled as a fallback or for data without a stream.

    ``url`` is requested every ``interval_s`` seconds; the response body is
    handed to ``Venue.parse`` like a websocket frame with connection label
    ``label``. ``weight``/``limit_per_min`` describe the venue's rate limit.
    """

    label: str
    url: str
    interval_s: float
    weight: int = 1
    limit_per_min: int | None = None


class Venue:
    """Base class of a venue adapter spec + parser.

    Subclasses set ``name`` and implement :meth:`connections` and :meth:`parse`.
    ``capabilities`` lists what the venue's public feeds carry
    (``"liquidations"``, ``"trades"``, ``"open_interest"``, ``"klines"``, ``"tickers"``).
    ``rest_liquidations`` is False where no public REST liquidation history exists.
    """

    name: str = ""
    capabilities: tuple[str, ...] = ("liquidations",)
    rest_liquidations: bool = False

    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """Websocket connections to open (all-market when ``symbols`` is None)."""
        raise NotImplementedError

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """REST endpoints to poll (may be empty)."""
        return []

    def auto_reply(self, data: str) -> str | None:
        """Protocol message to send in answer to a received frame, or ``None``.

        Used for venue heartbeats that must be answered in-band (Deribit
        ``test_request`` -> ``public/test``; text ``ping`` -> ``pong``). Called by the
        feed for every text frame, so it must be cheap (a substring check first).
        """
        return None

    def parse(self, data: str | bytes, received_at: int, connection: str = "") -> list[Event]:
        """Parse one raw frame into normalized events.

        Returns ``[]`` for frames that carry no events (acks, pongs).
        Raises :class:`FrameError` for malformed or unknown frames.
        """
        raise NotImplementedError


def safe_parse(
    venue: Venue, data: str | bytes, received_at: int, connection: str = ""
) -> tuple[list[Event], str | None]:
    """Parse a frame and never raise: returns ``(events, error)``.

    ``error`` is ``None`` on success, otherwise a one-line reason (the frame is
    counted as a parse error by the caller and the feed continues). With an
    error, ``events`` are the frame's valid rows (:attr:`FrameError.partial`),
    usually ``[]``.
    """
    try:
        return venue.parse(data, received_at, connection), None
    except FrameError as exc:
        return exc.partial, str(exc)
    except Exception as exc:  # a parser bug must not kill a feed
        return [], f"{type(exc).__name__}: {exc}"
