"""Size tiers of liquidations by notional (USD).

Thresholds from :class:`liqmap.settings.Settings` (``LIQMAP_INSTITUTIONAL_USD`` default
100,000; ``LIQMAP_LARGE_USD`` default 10,000; defaults in :mod:`liqmap.units`):

* ``institutional``: value_usd >= institutional_usd;
* ``large``: value_usd >= large_usd;
* ``retail``: below.

The same names are the keys of ``tiers`` in ``GET /liquidations/stats`` and the dashboard's
feed classes.
"""

from __future__ import annotations

from typing import Literal

from liqmap.units import INSTITUTIONAL_USD, LARGE_USD

Tier = Literal["retail", "large", "institutional"]
#: every tier, smallest first
TIERS: tuple[Tier, ...] = ("retail", "large", "institutional")


def size_tier(
    value_usd: float,
    settings: object | None = None,
    *,
    institutional_usd: float | None = None,
    large_usd: float | None = None,
) -> Tier:
    """Tier of a notional in USD.

    Threshold precedence: explicit keyword > ``settings`` (any object with
    ``institutional_usd`` / ``large_usd``) > module defaults (100k / 10k).
    Boundaries are inclusive (exactly 100,000 USD is institutional).
    Raises ValueError when large_usd > institutional_usd.
    """
    inst = institutional_usd if institutional_usd is not None else getattr(settings, "institutional_usd", INSTITUTIONAL_USD)
    large = large_usd if large_usd is not None else getattr(settings, "large_usd", LARGE_USD)
    if large > inst:
        raise ValueError(f"large_usd ({large}) must not exceed institutional_usd ({inst})")
    if value_usd >= inst:
        return "institutional"
    if value_usd >= large:
        return "large"
    return "retail"
