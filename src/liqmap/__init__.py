"""liqmap: open, self-hosted multi-exchange liquidation aggregator and liquidation heatmap.

Library entry point: ``from liqmap import ExchangeAggregator`` (defined in
:mod:`liqmap.feed.aggregator`; imported on first use so ``import liqmap.models`` stays light).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["ExchangeAggregator", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "ExchangeAggregator":
        from liqmap.feed.aggregator import ExchangeAggregator

        return ExchangeAggregator
    raise AttributeError(f"module 'liqmap' has no attribute {name!r}")
