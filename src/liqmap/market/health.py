"""Venue health for the market view: adapter health -> :class:`~liqmap.analytics.failover.VenueHealth`.

A venue is *connected* when at least one of its sockets is open (``connected``, ``subscribing``
or ``unsubscribed`` in :class:`~liqmap.feed.health.HealthStatus.connections`); its age is the
time since its last DATA frame (heartbeat answers and acks do not count), else since any frame.
It is stale after ``WS_TIMEOUT`` seconds when that is set, else after the largest
``ConnectionSpec.stale_after_s`` its venue module declares.
"""

from __future__ import annotations

from typing import Iterable

from liqmap.analytics.failover import VenueHealth
from liqmap.exchanges.base import CAPABILITIES
from liqmap.feed.health import HealthStatus

#: the feature names get_best_exchange() accepts: the venue capabilities, plus "ticker" for "tickers"
FEATURE_ALIASES = {"ticker": "tickers", "liquidation": "liquidations", "trade": "trades", "kline": "klines",
                   "oi": "open_interest", "mark": "mark_price"}
OPEN_STATES = frozenset({"connected", "subscribing", "unsubscribed"})


def feature_name(feature: str) -> str:
    """Canonical feature name (``ticker`` -> ``tickers``). Raises ValueError for an unknown one."""
    f = FEATURE_ALIASES.get(feature.strip().lower(), feature.strip().lower())
    if f not in CAPABILITIES:
        raise ValueError(f"unknown feature {feature!r}; known: {', '.join(CAPABILITIES)} (or 'ticker')")
    return f


def venue_stale_after_s(name: str, ws_timeout: float | None) -> float:
    """Seconds without a frame after which venue ``name`` counts as stale (module docstring)."""
    if ws_timeout is not None:
        return ws_timeout
    from liqmap.exchanges.registry import get_venue

    try:
        return max(c.stale_after_s for c in get_venue(name).connections(None))
    except ValueError:
        return 60.0


def venue_health(status: HealthStatus, *, enabled: bool = True, features: Iterable[str] | None = None,
                 priority: int = 1, stale_after_s: float | None = None) -> VenueHealth:
    """The ranking's view of one adapter's :class:`HealthStatus` (module docstring). ``features``
    default to the venue module's capabilities."""
    if features is None:
        from liqmap.exchanges.registry import venue_class

        try:
            features = venue_class(status.exchange).capabilities
        except ValueError:
            features = ()
    connected = any(s in OPEN_STATES for s in status.connections.values()) if status.connections else status.is_connected
    age = status.last_data_age_s if status.last_data_age_s is not None else status.last_message_age_s
    return VenueHealth(status.exchange, enabled, tuple(feature_name(f) for f in features), connected, age,
                       status.latency_ms, priority, stale_after_s)


def aggregator_healths(aggregator, ws_timeout: float | None = None) -> list[VenueHealth]:
    """:func:`venue_health` of every adapter of an ``ExchangeAggregator``: enabled, its
    capabilities, priority = its position among the adapters (1-based)."""
    return [venue_health(adapter.health(), priority=i, stale_after_s=venue_stale_after_s(name, ws_timeout))
            for i, (name, adapter) in enumerate(aggregator.adapters.items(), start=1)]
