"""Size tiers and tiered logging, on real events."""

from __future__ import annotations

import logging

import pytest

from _liq_loader import PAULIUS, load
from liqmap.analytics.sizing import log_liquidation, size_tier
from liqmap.settings import Settings


@pytest.mark.parametrize(
    "usd,tier",
    [(100_000, "institutional"), (99_999.99, "large"), (10_000, "large"), (9_999.99, "small"), (0, "small")],
)
def test_edges(usd, tier):
    assert size_tier(usd) == tier


def test_settings_and_overrides():
    s = Settings(institutional_usd=50_000, large_usd=5_000)
    assert size_tier(60_000, s) == "institutional" and size_tier(6_000, s) == "large"
    assert size_tier(60_000, s, institutional_usd=70_000) == "large"
    with pytest.raises(ValueError):
        size_tier(1, large_usd=10, institutional_usd=5)


def test_log_levels_on_real_events(caplog):
    liqs = load(PAULIUS)
    biggest = max(liqs, key=lambda x: x.value_usd)
    mid = next(x for x in liqs if 10_000 <= x.value_usd < 100_000)
    small = next(x for x in liqs if x.value_usd < 10_000)
    assert biggest.value_usd >= 100_000
    log = logging.getLogger("liqmap.test.sizing")
    with caplog.at_level(logging.DEBUG, logger="liqmap.test.sizing"):
        assert log_liquidation(biggest, log) == "institutional"
        assert log_liquidation(mid, log) == "large"
        assert log_liquidation(small, log) == "small"
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO", "DEBUG"]
    assert biggest.id in caplog.records[0].getMessage()  # full detail
    assert f"{biggest.value_usd:.2f}" in caplog.records[0].getMessage()
