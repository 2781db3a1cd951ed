"""Size tiers: edges, settings, and the tiers of real events against their notional."""

from __future__ import annotations

import pytest

from conftest import PAULIUS, load_liquidations
from liqmap.analytics.sizing import TIERS, size_tier
from liqmap.settings import Settings


@pytest.mark.parametrize(
    "usd,tier",
    [(100_000, "institutional"), (99_999.99, "large"), (10_000, "large"), (9_999.99, "retail"), (0, "retail")],
)
def test_edges(usd, tier):
    assert size_tier(usd) == tier


def test_settings_and_overrides():
    s = Settings(institutional_usd=50_000, large_usd=5_000)
    assert size_tier(60_000, s) == "institutional" and size_tier(6_000, s) == "large"
    assert size_tier(60_000, s, institutional_usd=70_000) == "large"
    with pytest.raises(ValueError):
        size_tier(1, large_usd=10, institutional_usd=5)


def test_real_events_fall_in_every_tier():
    """The 2025-01-27 sell-off capture: each event's tier follows from its own notional."""
    liqs = load_liquidations(PAULIUS)
    tiers = [size_tier(x.value_usd) for x in liqs]
    assert set(tiers) == set(TIERS)
    for x, t in zip(liqs, tiers):
        assert t == ("institutional" if x.value_usd >= 100_000 else "large" if x.value_usd >= 10_000 else "retail")
    biggest = max(liqs, key=lambda x: x.value_usd)
    assert size_tier(biggest.value_usd) == "institutional"
