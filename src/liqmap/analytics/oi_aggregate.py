"""Open interest of one underlying across venues: one series, partial when a venue is missing.

Per step (a time window), each venue instrument (``binance:BTCUSDT``, ``bybit:BTCUSDT``,
``okx:BTC-USDT-SWAP`` ...) has its last observation in base units, or none. The aggregate of
a step is the sum over the instruments that reported, and it is **partial** when an
instrument EXPECTED there did not: one that reported within the last ``expect_ms`` (6 h) of
steps. A venue that stops answering therefore leaves the aggregate flagged partial for six
hours, never silently lower; after that it is no longer expected (it left, or was switched
off) and the sum of the others is complete again -- the contributing instruments are listed
with every value, so the change is visible.

:class:`OIChain` turns those sums into a series whose step-to-step CHANGES are right while a
venue is missing -- what the heatmap model needs, since it opens and closes positions on the
change of open interest:

* a complete step (every expected instrument reported) is the true sum;
* a partial step is the previous value times the relative change of the instruments that
  reported in both (chain linking), so a venue dropping out is not read as positions closing;
  the next complete step re-anchors to the true sum (a jump of the drift only);
* an instrument that JOINS (reports while not expected: a venue enabled or back after six
  hours) changes the level by its whole open interest, which no chain can tell from positions
  opening: the value is unknown (NaN) from that step for ``hold_ms`` (the model's longest
  open-interest reference, so it takes no step-to-step change across the join), then restarts
  at the true sum of the first complete step;
* without a previous value and without a complete step the value is unknown (NaN).

Pure, deterministic; the chain state is a small JSON-able dict (:meth:`OIChain.dump`), kept
with the model state so a restart continues the same chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from liqmap.units import HOUR_MS

#: How long an instrument that stopped reporting is still expected (and its absence partial).
EXPECT_MS = 6 * HOUR_MS


@dataclass(frozen=True)
class AggregateStep:
    """One step of the aggregate.

    t_end: step end, ms UTC; total: sum of the reporting instruments (base units; NaN when none
    reported); total_usd: their USD value (:func:`usd_total`: an instrument that gave no USD
    value is valued at the price the others imply; NaN when none did); value: the chain-linked series
    (base units, NaN unknown: :class:`OIChain`); partial: an expected instrument did not report;
    present / missing: instrument keys that did / that were expected and did not.
    """

    t_end: int
    total: float
    total_usd: float
    value: float
    partial: bool
    present: tuple[str, ...]
    missing: tuple[str, ...]


def usd_total(values: list[tuple[float, float | None]]) -> float:
    """USD value of instruments of ONE underlying given as ``(base units, USD or None)``.

    A venue that reports no USD value (e.g. Binance's ``/fapi/v1/openInterest`` polled before any
    price of the symbol was seen) is valued at the price implied by those that do
    (their USD sum / their base sum), so the total is never silently lower by a venue's share.
    NaN when no instrument carries a USD value (or none is given).
    """
    known = [(b, u) for b, u in values if u is not None and u == u]
    if not known:
        return math.nan
    usd = math.fsum(u for _, u in known)
    if len(known) == len(values):
        return usd
    base_known = math.fsum(b for b, _ in known)
    if base_known <= 0:
        return math.nan
    return usd + usd / base_known * math.fsum(b for b, u in values if u is None or u != u)


@dataclass
class OIChain:
    """Chain-linked aggregate across instruments (module docstring).

    Fields: ``expect_ms`` how long a silent instrument stays expected; ``hold_ms`` how long the
    value stays unknown after an instrument joins; ``value`` last chained value (NaN: none);
    ``last`` each instrument's last reported value; ``seen`` the step end it last reported at;
    ``hold_until`` step end up to which the value stays unknown.
    """

    expect_ms: int = EXPECT_MS
    hold_ms: int = HOUR_MS
    value: float = math.nan
    last: dict[str, float] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    hold_until: int = -1

    def step(self, t_end: int, values: dict[str, tuple[float, float | None]]) -> AggregateStep:
        """Aggregate one step from ``{instrument key: (base units, USD or None)}`` of the
        instruments that reported in it; advances the chain."""
        expected = {k for k, t in self.seen.items() if t_end - t <= self.expect_ms}
        present = tuple(sorted(values))
        missing = tuple(sorted(expected - set(values)))
        total = math.fsum(values[k][0] for k in present) if present else math.nan
        total_usd = usd_total([values[k] for k in present])
        if expected and set(present) - expected:
            self.hold_until = t_end + self.hold_ms  # a join: the level change is not a flow
        if t_end <= self.hold_until:
            value = math.nan
        elif present and not missing:
            value = total
        else:
            value = self._chained(values)
        for k in present:
            self.last[k] = values[k][0]
            self.seen[k] = t_end
        self.value = value
        return AggregateStep(t_end, total, total_usd, value, bool(missing) or not present, present, missing)

    def _chained(self, values: dict[str, tuple[float, float | None]]) -> float:
        """The previous value times the change of the instruments reporting now and before."""
        common = [k for k in sorted(values) if k in self.last]
        before = math.fsum(self.last[k] for k in common)
        if not common or before <= 0 or self.value != self.value:
            return math.nan
        return self.value * math.fsum(values[k][0] for k in common) / before

    def dump(self) -> dict:
        """JSON-able state (floats kept exactly: NaN as None)."""
        return {"expect_ms": self.expect_ms, "hold_ms": self.hold_ms, "hold_until": self.hold_until,
                "value": None if self.value != self.value else self.value, "last": dict(self.last),
                "seen": dict(self.seen)}

    @classmethod
    def load(cls, d: dict) -> "OIChain":
        """Inverse of :meth:`dump`."""
        v = d.get("value")
        return cls(int(d["expect_ms"]), int(d["hold_ms"]), math.nan if v is None else float(v),
                   {k: float(x) for k, x in d["last"].items()}, {k: int(t) for k, t in d["seen"].items()},
                   int(d["hold_until"]))
