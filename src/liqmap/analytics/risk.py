"""Cascade risk score from six normalized factors (pure, deterministic).

``risk_score(window)`` takes a window of liquidations (any iterable of
:class:`~liqmap.models.Liquidation`) or a pre-aggregated :class:`RiskInputs`
(what :class:`~liqmap.analytics.cascades.CascadeDetector` keeps with running
sums), and returns ``RiskScore(score, severity, factors)``.

Factors (each clipped to [0, 1]); n = event count, V = USD value, span_ms =
newest - oldest timestamp in the window:

1. ``volume_concentration`` = clip(log10(V / 10,000) / 3): USD volume packed
   into the window on a log scale -- 10k USD -> 0, 100k -> 0.33, 1M -> 0.67,
   10M+ -> 1.
2. ``time_compression`` = clip(rate / 60) with rate = (n - 1) * 60,000 /
   max(span_ms, 5,000) events per minute; 60/min (one per second, the Binance
   per-symbol sampling cap) saturates. A single event gives 0.
3. ``price_clustering`` = 1 - clip(range_bps / 200) with range_bps =
   (high - low) / low * 10,000: all liquidations within a narrow band (stacked
   liquidation levels being hit) -> 1; a 2 %+ spread -> 0. n < 2 gives 0.
4. ``side_imbalance`` = |long_usd - short_usd| / V: one-sided flush -> 1.
5. ``institutional_ratio`` = (USD from events >= 100,000 USD) / V.
6. ``cross_exchange`` = clip((venues - 1) / 3): one venue 0, two 0.33, four+ 1
   (co-movement across venues is measured by venue count within the window).

``score`` = sum(weight * factor) with :data:`WEIGHTS` (volume 0.5, time 0.4,
institutional 0.4, cross-exchange 0.4, imbalance 0.3, clustering 0.2), so the
score runs 0 .. 2.2. Severity bands (:func:`severity_of`): low < 1.08 <= medium
< 1.15 <= high < 1.22 <= critical, calibrated on real data (issue #11): the 30th, 60th and 90th
percentiles of the peak scores of the 13 cascades the default detector finds in the liquidation
captures liqmap ships (BitMEX 2019, Hyperliquid 2023, Binance 2024-2025), so 30 % of real cascades
are low, 30 % medium, 30 % high and the top 10 % critical -- e.g. a $198k Binance BTC burst is
low, the $1.05M 58-liquidation BTC flush of 2025-06-23 and the $54.5M BitMEX squeeze of
2019-11-15 are critical. The first bands (0.3 / 0.6 / 1.0) put 10 of 13 in "critical".
``scripts/calibrate_severity.py`` recomputes them; ``tests/test_severity_calibration.py`` checks
that the shipped bands equal that calibration. An empty window scores 0 (low).
"""

from __future__ import annotations

import math
from typing import Iterable, Literal

import msgspec

from liqmap.models import Liquidation
from liqmap.units import INSTITUTIONAL_USD, MINUTE_MS

Severity = Literal["low", "medium", "high", "critical"]

WEIGHTS: dict[str, float] = {
    "volume_concentration": 0.5,
    "time_compression": 0.4,
    "price_clustering": 0.2,
    "side_imbalance": 0.3,
    "institutional_ratio": 0.4,
    "cross_exchange": 0.4,
}
MAX_SCORE = sum(WEIGHTS.values())

#: (lower bound, severity), ascending; calibrated on the shipped captures (module docstring).
SEVERITY_BANDS: tuple[tuple[float, Severity], ...] = (
    (0.0, "low"), (1.08, "medium"), (1.15, "high"), (1.22, "critical"),
)
_SEV_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

VOLUME_FLOOR_USD = 10_000.0
RATE_SATURATION_PER_MIN = 60.0
MIN_SPAN_MS = 5_000
RANGE_SATURATION_BPS = 200.0
VENUE_SATURATION = 4


class RiskInputs(msgspec.Struct):
    """Aggregates a risk score needs (all O(1) to maintain with running sums).

    count; value_usd, long_usd, short_usd, institutional_usd (USD);
    first_ts, last_ts (ms UTC); price_low, price_high (quote units); venues
    (number of distinct exchanges).
    """

    count: int = 0
    value_usd: float = 0.0
    long_usd: float = 0.0
    short_usd: float = 0.0
    institutional_usd: float = 0.0
    first_ts: int = 0
    last_ts: int = 0
    price_low: float = 0.0
    price_high: float = 0.0
    venues: int = 0


class RiskScore(msgspec.Struct, frozen=True):
    """``score`` (0 .. 2.2), ``severity`` band and the six normalized ``factors``."""

    score: float
    severity: Severity
    factors: dict[str, float]


def severity_of(score: float) -> Severity:
    """Band of a score (:data:`SEVERITY_BANDS`): low < 1.08 <= medium < 1.15 <= high < 1.22 <= critical."""
    band: Severity = "low"
    for lower, name in SEVERITY_BANDS:
        if score >= lower:
            band = name
    return band


def severity_rank(sev: str) -> int:
    """0 (low) .. 3 (critical), for comparing severities."""
    return _SEV_RANK[sev]


def risk_inputs(liqs: Iterable[Liquidation], institutional_usd: float = INSTITUTIONAL_USD) -> RiskInputs:
    """Aggregate a window of liquidations into :class:`RiskInputs` (one pass).

    USD sums use ``math.fsum`` (correctly rounded), so the result does not
    depend on the order of the events.
    """
    r = RiskInputs()
    venues: set[str] = set()
    vals: list[float] = []
    longs: list[float] = []
    shorts: list[float] = []
    insts: list[float] = []
    for liq in liqs:
        v = liq.value_usd
        if r.count == 0:
            r.first_ts = r.last_ts = liq.timestamp
            r.price_low = r.price_high = liq.price
        else:
            r.first_ts = min(r.first_ts, liq.timestamp)
            r.last_ts = max(r.last_ts, liq.timestamp)
            r.price_low = min(r.price_low, liq.price)
            r.price_high = max(r.price_high, liq.price)
        r.count += 1
        vals.append(v)
        (longs if liq.side == "long" else shorts).append(v)
        if v >= institutional_usd:
            insts.append(v)
        venues.add(liq.exchange)
    r.value_usd = math.fsum(vals)
    r.long_usd = math.fsum(longs)
    r.short_usd = math.fsum(shorts)
    r.institutional_usd = math.fsum(insts)
    r.venues = len(venues)
    return r


def _clip(x: float) -> float:
    return 0.0 if x <= 0.0 else 1.0 if x >= 1.0 else x


def factor_values(
    count: int,
    value_usd: float,
    long_usd: float,
    short_usd: float,
    institutional_usd: float,
    span_ms: int,
    price_low: float,
    price_high: float,
    venues: int,
) -> tuple[float, float, float, float, float, float]:
    """The six factors as a tuple in :data:`WEIGHTS` order (allocation-light
    form used on the hot path; see the module docstring for formulas)."""
    if count <= 0 or value_usd <= 0:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    volume = _clip(math.log10(value_usd / VOLUME_FLOOR_USD) / 3.0)
    rate = (count - 1) * float(MINUTE_MS) / (span_ms if span_ms > MIN_SPAN_MS else MIN_SPAN_MS)
    time_c = _clip(rate / RATE_SATURATION_PER_MIN)
    if count >= 2 and price_low > 0:
        clustering = 1.0 - _clip((price_high - price_low) / price_low * 10_000.0 / RANGE_SATURATION_BPS)
    else:
        clustering = 0.0
    imbalance = _clip(abs(long_usd - short_usd) / value_usd)
    inst = _clip(institutional_usd / value_usd)
    cross = _clip((venues - 1) / (VENUE_SATURATION - 1))
    return (volume, time_c, clustering, imbalance, inst, cross)


_W = tuple(WEIGHTS.values())
_NAMES = tuple(WEIGHTS)


def score_of(f: tuple[float, ...]) -> float:
    """Weighted sum of a :func:`factor_values` tuple, rounded to 12 decimals."""
    return round(
        _W[0] * f[0] + _W[1] * f[1] + _W[2] * f[2] + _W[3] * f[3] + _W[4] * f[4] + _W[5] * f[5], 12
    )


def factors_dict(f: tuple[float, ...]) -> dict[str, float]:
    """Name -> value for a :func:`factor_values` tuple."""
    return dict(zip(_NAMES, f))


def _values(r: RiskInputs) -> tuple[float, float, float, float, float, float]:
    return factor_values(
        r.count, r.value_usd, r.long_usd, r.short_usd, r.institutional_usd,
        r.last_ts - r.first_ts, r.price_low, r.price_high, r.venues,
    )


def risk_from_inputs(r: RiskInputs) -> RiskScore:
    """Score aggregated inputs: weighted sum of its six normalized factors (module docstring)."""
    f = _values(r)
    score = score_of(f)
    return RiskScore(score, severity_of(score), factors_dict(f))


def risk_score(window: Iterable[Liquidation] | RiskInputs, institutional_usd: float = INSTITUTIONAL_USD) -> RiskScore:
    """Risk score of a window of liquidations (or of pre-aggregated inputs).

    Deterministic: the result depends only on the multiset of events (order
    does not matter). See the module docstring for every formula.
    """
    r = window if isinstance(window, RiskInputs) else risk_inputs(window, institutional_usd)
    return risk_from_inputs(r)
