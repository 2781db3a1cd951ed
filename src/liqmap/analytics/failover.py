"""Venue status and failover events (pure data; the state machine that emits them is below).

Two derived events travel from the market view to its consumers (alerts, ``/exchanges``
health, ``/metrics``):

* :class:`VenueStatusChange` -- one venue went ``down`` / ``stale`` / came back ``up``.
* :class:`FailoverSwitch` -- the venue serving a feature changed (primary down -> backup,
  and back when the primary recovers).
"""

from __future__ import annotations

from typing import Literal

import msgspec

VenueState = Literal["up", "stale", "down"]


class VenueStatusChange(msgspec.Struct, frozen=True):
    """A venue changed state.

    Fields: ``exchange`` (venue id); ``status`` / ``previous`` (``up`` | ``stale`` | ``down``;
    ``previous`` is None for the first observation); ``reason`` (short text, e.g.
    ``"no frame for 61.0 s"``); ``at_ms`` (ms UTC of the observation).
    """

    exchange: str
    status: VenueState
    previous: VenueState | None
    reason: str
    at_ms: int


class FailoverSwitch(msgspec.Struct, frozen=True):
    """The venue serving ``feature`` changed.

    Fields: ``feature`` (e.g. ``"liquidations"``, ``"ticker"``); ``from_exchange`` /
    ``to_exchange`` (venue ids; None when no venue served / can serve the feature);
    ``reason`` (why, e.g. ``"binance stale"`` or ``"binance recovered"``); ``at_ms`` (ms UTC).
    """

    feature: str
    from_exchange: str | None
    to_exchange: str | None
    reason: str
    at_ms: int
