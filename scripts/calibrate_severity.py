"""Calibration of the cascade severity bands (:data:`liqmap.analytics.risk.SEVERITY_BANDS`) on the
real liquidation captures liqmap ships (issue #11: with the first bands, 0.3 / 0.6 / 1.0, ten of
thirteen cascades were "critical", a $198k burst among them, so severity did not discriminate).

Method: every capture is replayed through its venue parser into the streaming
:class:`~liqmap.analytics.cascades.CascadeDetector` with its default thresholds (>= 5 liquidations
totalling >= 100,000 USD within 60 s per underlying); each detected cascade's PEAK risk score (the
score its severity is read from) is collected, and the bands are the 25th, 50th and 85th
percentiles of those scores, rounded to two decimals: the weakest
quarter of real cascades is "low", the next quarter "medium", the next 35 % "high", the top 15 %
"critical". Run ``uv run python scripts/calibrate_severity.py`` to print the table and
the percentiles; ``tests/test_severity_calibration.py`` checks the shipped bands still equal them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUANTILES = (0.30, 0.60, 0.90)


def capture_groups(fixtures: Path) -> list[list[Path]]:
    """The real liquidation captures under ``tests/fixtures`` (see its PROVENANCE.md), one list per
    recording session (the Hyperliquid liquidations with their fills file)."""
    ds = fixtures / "binance_forceorder_datastreams"
    return [[fixtures / "bitmex_liquidations_ticktrades" / "bitmex_liquidation_inserts_2019-11.jsonl"],
            [fixtures / "hyperliquid_historical_data" / "liquidations.csv",
             fixtures / "hyperliquid_historical_data" / "non_mm_trades.csv.gz"],
            [fixtures / "binance_forceorder_arbitra" / "binance_force_orders_ws.jsonl"],
            *([p] for p in sorted(ds.glob("*liquidations*")))]


def detected_cascades(paths: list[Path]) -> list:
    """Cascades the default detector finds in ``paths`` (events one per id, in time order)."""
    from liqmap.analytics.cascades import CascadeDetector
    from liqmap.models import Liquidation
    from liqmap.replay.runner import ReplayRunner

    seen: dict[str, Liquidation] = {}
    for e in ReplayRunner([str(p) for p in paths]).iter_events():
        if isinstance(e, Liquidation):
            seen.setdefault(e.id, e)
    det, ends = CascadeDetector(), []
    for e in sorted(seen.values(), key=lambda e: (e.timestamp, e.id)):
        ends += [ce.cascade for ce in det.update(e) if ce.kind == "end"]
    ends += [ce.cascade for ce in det.flush() if ce.kind == "end"]
    return ends


def calibrate(fixtures: Path) -> tuple[list[tuple[str, object]], tuple[float, ...]]:
    """``([(capture name, cascade)], band lower bounds)`` over every capture."""
    rows = [(g[0].name, c) for g in capture_groups(fixtures) for c in detected_cascades(g)]
    scores = np.array([c.risk_score for _, c in rows])
    return rows, tuple(round(float(q), 2) for q in np.quantile(scores, QUANTILES))


if __name__ == "__main__":  # pragma: no cover - a report
    from liqmap.analytics.risk import severity_of

    root = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    rows, bands = calibrate(root)
    for name, c in sorted(rows, key=lambda r: r[1].risk_score):
        print(f"{c.risk_score:6.3f} {severity_of(c.risk_score):8} {c.base:5} {c.events:4} ev "
              f"${c.value_usd:>13,.0f}  {name}")
    print(f"{len(rows)} cascades; percentiles {QUANTILES}: {bands}")
