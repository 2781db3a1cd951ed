"""Human-readable numbers and times for terminal tables and alert messages (one copy each).

* :func:`usd` -- compact USD (``$1.23M``, ``$45.6K``, ``$950``; None -> ``-``).
* :func:`price` -- a price with digits that suit its size.
* :func:`utc` / :func:`iso` -- ms since the epoch as ``2025-01-31 12:00:05 UTC`` / ISO 8601.
* :func:`age` -- a duration in seconds as ``42 s``, ``5 min``, ``3 h 12 min``, ``9 d 22 h``.
"""

from __future__ import annotations

import time


def usd(v: float | None) -> str:
    """Compact USD: ``$1.23B``, ``$1.23M``, ``$45.6K``, ``$950``; ``None`` -> ``-``."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e9:
        return f"${v / 1e9:.2f}B"
    if a >= 1e6:
        return f"${v / 1e6:.2f}M"
    if a >= 1e3:
        return f"${v / 1e3:.1f}K"
    return f"${v:.0f}"


def price(x: float) -> str:
    """A price in quote units: ``64,123.5``; ``2.3415``; ``0.000012345`` (8 significant digits)."""
    if x >= 1000:
        return f"{x:,.1f}"
    if x >= 1:
        return f"{x:,.4f}".rstrip("0").rstrip(".")
    return f"{x:.8g}"


def stamp(ms: int) -> str:
    """``ms`` (since the epoch, UTC) as ``2025-01-31 12:00:05``: the year always shown, since stored
    data spans years (the demo's recordings run from 2019 to 2025)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def utc(ms: int) -> str:
    """``ms`` (since the epoch, UTC) as ``2025-01-31 12:00:05 UTC``."""
    return stamp(ms) + " UTC"


def iso(ms: int) -> str:
    """``ms`` (since the epoch, UTC) as ISO 8601 with milliseconds: ``2025-01-31T12:00:05.123Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def age(seconds: float | None) -> str:
    """A duration for people: ``42 s``, ``5 min``, ``3 h 12 min``, ``9 d 22 h``, ``2.4 y``; None -> ``-``."""
    if seconds is None or seconds != seconds:
        return "-"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s < 365 * 86_400:
        return f"{s // 86_400} d {s % 86_400 // 3600} h"
    return f"{s / (365.25 * 86_400):.1f} y"
