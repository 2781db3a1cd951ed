"""Pure liquidation analytics (no I/O): levels, time buckets, stats, size tiers,
risk score and cascade detection.

Modules:

* :mod:`~liqmap.analytics.levels` -- ``level_size``, ``price_level``, ``clusters``.
* :mod:`~liqmap.analytics.buckets` -- ``bucket_start``, ``time_buckets``, ``BucketAccumulator``.
* :mod:`~liqmap.analytics.stats` -- ``liquidation_stats``.
* :mod:`~liqmap.analytics.sizing` -- ``size_tier``, ``TIERS``.
* :mod:`~liqmap.analytics.risk` -- ``risk_score`` (six factors, severity bands).
* :mod:`~liqmap.analytics.cascades` -- ``CascadeConfig``, ``CascadeDetector``, ``cascade_row``.

Cross-exchange market view (issue #15):

* :mod:`~liqmap.analytics.quotes` -- ``QuoteBoard``: the latest quote of every perpetual per venue.
* :mod:`~liqmap.analytics.cross_exchange` -- ``CrossExchangeData`` per underlying and quote family
  (volume-weighted price, variance, spreads, liquidity score, arbitrage net of fees).
* :mod:`~liqmap.analytics.arbitrage` -- ``ArbitrageOpportunity``, ``ArbitrageTracker`` (open -> close).
* :mod:`~liqmap.analytics.failover` -- venue state, best-venue ranking, ``FailoverMachine``.
* :mod:`~liqmap.analytics.whales` -- ``WhaleTape``: large trades with liquidations inline.

The in-memory L1 tier lives in :mod:`liqmap.storage.memory`.
"""

from liqmap.analytics.buckets import HOUR_MS, MINUTE_MS, BucketAccumulator, TimeBucket, bucket_start, time_buckets
from liqmap.analytics.cascades import (
    Cascade,
    CascadeConfig,
    CascadeDetector,
    CascadeEvent,
    cascade_row,
    detect_cascades,
)
from liqmap.analytics.levels import LevelCluster, base_of, clusters, level_size, price_level
from liqmap.analytics.risk import RiskInputs, RiskScore, risk_score, severity_of
from liqmap.analytics.sizing import TIERS, size_tier
from liqmap.analytics.stats import ExchangeStats, Stats, liquidation_stats

__all__ = [
    "HOUR_MS", "MINUTE_MS", "BucketAccumulator", "Cascade", "CascadeConfig", "CascadeDetector",
    "CascadeEvent", "ExchangeStats", "LevelCluster", "RiskInputs", "RiskScore", "Stats", "TIERS", "TimeBucket",
    "base_of", "bucket_start", "cascade_row", "clusters", "detect_cascades", "level_size",
    "liquidation_stats", "price_level", "risk_score", "severity_of", "size_tier",
    "time_buckets",
]
