"""Venue registry: the one place that maps a venue id to its adapter class.

``VENUE_NAMES`` is the ordered tuple of supported venue ids;
``get_venue(name, **kwargs)`` builds a fresh :class:`~liqmap.exchanges.base.Venue`
(keyword arguments such as ``contracts=``, ``ws_url=``, ``rest_url=`` are passed
to the venue constructor).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from liqmap.exchanges.base import Venue

VENUE_NAMES: tuple[str, ...] = ("binance", "binance_coinm", "bybit", "okx", "bitmex", "deribit", "hyperliquid")

_CLASSES: dict[str, tuple[str, str]] = {
    "binance": ("liqmap.exchanges.binance", "BinanceUSDM"),
    "binance_coinm": ("liqmap.exchanges.binance", "BinanceCoinM"),
    "bybit": ("liqmap.exchanges.bybit", "Bybit"),
    "okx": ("liqmap.exchanges.okx", "OKX"),
    "bitmex": ("liqmap.exchanges.bitmex", "BitMEX"),
    "deribit": ("liqmap.exchanges.deribit", "Deribit"),
    "hyperliquid": ("liqmap.exchanges.hyperliquid", "Hyperliquid"),
}


def venue_class(name: str) -> type[Venue]:
    """The Venue subclass for ``name``.

    Raises:
        ValueError: unknown name (the message lists the known names).
    """
    try:
        module, cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; known venues: {', '.join(VENUE_NAMES)}") from None
    return getattr(import_module(module), cls)


def get_venue(name: str, **kwargs: Any) -> Venue:
    """A new Venue instance for ``name`` (``binance``, ``bybit``, ...).

    Keyword arguments go to the constructor: ``contracts`` (ContractSizes),
    ``ws_url`` / ``rest_url`` (endpoint overrides, e.g. a 127.0.0.1 test server)
    and venue-specific options. Venues keep small parse state (last prices for
    unit conversion), so use one instance per feed.

    Raises:
        ValueError: unknown venue name (lists the known ones).
    """
    return venue_class(name)(**kwargs)
