"""Pure liquidation analytics (no I/O): levels, time buckets, stats, size tiers,
risk score and cascade detection.

Modules:

* :mod:`~liqmap.analytics.levels` -- ``level_size``, ``price_level``, ``clusters``.
* :mod:`~liqmap.analytics.buckets` -- ``bucket_start``, ``time_buckets``, ``BucketAccumulator``.
* :mod:`~liqmap.analytics.stats` -- ``liquidation_stats``.
* :mod:`~liqmap.analytics.sizing` -- ``size_tier``, ``TIERS``.
* :mod:`~liqmap.analytics.risk` -- ``risk_score`` (six factors, severity bands).
* :mod:`~liqmap.analytics.cascades` -- ``CascadeConfig``, ``CascadeDetector``, ``cascade_row``.

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
