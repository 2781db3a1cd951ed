"""Venue registry, discovered from the venue modules (nothing here names a venue).

Every module of the ``liqmap.exchanges`` package whose name does not start with
``_`` is imported once; those defining a module-level ``VENUES`` tuple of
:class:`~liqmap.exchanges.base.Venue` subclasses register them. Adding a venue
is adding its module (see docs/adding-a-venue.md).

``VENUE_NAMES`` is the tuple of venue ids, in module-name order, then in
``VENUES`` order within a module; ``venue_class(name)`` is the class and
``get_venue(name, **kwargs)`` a fresh instance.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Any

import liqmap.exchanges as _package
from liqmap.exchanges.base import CAPABILITIES, SAMPLINGS, Venue


def _discover() -> dict[str, type[Venue]]:
    found: dict[str, type[Venue]] = {}
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = import_module(f"{_package.__name__}.{info.name}")
        for cls in getattr(module, "VENUES", ()):
            _check(cls, module.__name__)
            if cls.name in found:
                raise RuntimeError(f"venue {cls.name!r} registered twice ({found[cls.name].__module__}, {module.__name__})")
            found[cls.name] = cls
    return found


def _check(cls: Any, module: str) -> None:
    """Fail at import on a declaration that would break consumers later."""
    if not (isinstance(cls, type) and issubclass(cls, Venue)) or not cls.name:
        raise RuntimeError(f"{module}: VENUES holds {cls!r}, not a named Venue subclass")
    bad = [c for c in cls.capabilities if c not in CAPABILITIES]
    if bad or cls.sampling not in SAMPLINGS:
        raise RuntimeError(f"{module}.{cls.__name__}: unknown capabilities {bad} or sampling {cls.sampling!r}")


VENUES: dict[str, type[Venue]] = _discover()
VENUE_NAMES: tuple[str, ...] = tuple(VENUES)


def venue_class(name: str) -> type[Venue]:
    """The Venue subclass for ``name``.

    Raises:
        ValueError: unknown name (the message lists the known names).
    """
    try:
        return VENUES[name]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; known venues: {', '.join(VENUE_NAMES)}") from None


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
