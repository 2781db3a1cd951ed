"""Size tiers and tiered logging of liquidations.

Tiers by notional (USD), thresholds from :class:`liqmap.settings.Settings`
(``LIQMAP_INSTITUTIONAL_USD`` default 100,000; ``LIQMAP_LARGE_USD`` default 10,000):

* ``institutional``: value_usd >= institutional_usd -> logged at WARNING with every field;
* ``large``: value_usd >= large_usd -> INFO, one short line;
* ``small``: below -> DEBUG.
"""

from __future__ import annotations

import logging
from typing import Literal

from liqmap.models import Liquidation
from liqmap.units import INSTITUTIONAL_USD, LARGE_USD

Tier = Literal["institutional", "large", "small"]


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
    return "small"


def log_liquidation(liq: Liquidation, logger: logging.Logger, settings: object | None = None) -> Tier:
    """Log one liquidation at its tier's level and return the tier.

    institutional -> WARNING with all fields; large -> INFO; small -> DEBUG
    (formatting is skipped when the level is disabled).
    """
    tier = size_tier(liq.value_usd, settings)
    if tier == "institutional":
        if logger.isEnabledFor(logging.WARNING):
            logger.warning(
                "INSTITUTIONAL liquidation %s %s %s %s qty=%s price=%s value_usd=%.2f ts=%d recv=%d id=%s order_side=%s status=%s",
                liq.exchange, liq.symbol, liq.base, liq.side, liq.quantity, liq.price,
                liq.value_usd, liq.timestamp, liq.received_at, liq.id, liq.order_side, liq.status,
            )
    elif tier == "large":
        if logger.isEnabledFor(logging.INFO):
            logger.info("large liquidation %s %s %s value_usd=%.0f price=%s",
                        liq.exchange, liq.symbol, liq.side, liq.value_usd, liq.price)
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug("liquidation %s %s %s value_usd=%.0f", liq.exchange, liq.symbol, liq.side, liq.value_usd)
    return tier
