"""liqmap: open, self-hosted multi-exchange liquidation aggregator and liquidation heatmap."""

__version__ = "0.1.0"
