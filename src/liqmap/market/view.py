"""MarketView: the live cross-exchange state one process keeps (no I/O; the caller drives it).

Fed synchronously from the event stream (:meth:`MarketView.handle`, O(1) per event) and driven by
two clocks the owner calls:

* :meth:`MarketView.refresh` (e.g. every 100 ms) rebuilds the
  :class:`~liqmap.analytics.cross_exchange.CrossExchangeData` of every underlying whose quotes
  changed and feeds the :class:`~liqmap.analytics.arbitrage.ArbitrageTracker`; the opportunity
  events it returns (open, new peak, close) go to ``emit``;
* :meth:`MarketView.evaluate` (e.g. every 500 ms) takes venue health snapshots and runs the
  per-feature :class:`~liqmap.analytics.failover.FailoverMachine` s and the
  :class:`~liqmap.analytics.failover.VenueStatusTracker`; switches and status changes go to
  ``emit`` and are kept in :attr:`MarketView.switches` (the last 200).

It also keeps the :class:`~liqmap.analytics.whales.WhaleTape` and the last
``liquidation_history`` [10,000] liquidations across venues. Used by ``liqmap serve`` (the
``/market/*`` API, alerts) and by :class:`liqmap.market.manager.ExchangeManager`.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Iterable, Mapping, Sequence

from liqmap.analytics.arbitrage import ArbitrageOpportunity, ArbitrageTracker
from liqmap.analytics.cross_exchange import DEFAULT_FEE_BPS, CrossExchangeData, cross_exchange_data
from liqmap.analytics.failover import FailoverMachine, FailoverSwitch, VenueHealth, VenueStatusTracker, rank_venues
from liqmap.analytics.quotes import QuoteBoard
from liqmap.analytics.whales import TapeEntry, WhaleTape
from liqmap.exchanges.base import CAPABILITIES
from liqmap.models import Liquidation
from liqmap.symbols import QUOTE_FAMILY, normalize_base, parse_symbol
from liqmap.units import SECOND_MS

log = logging.getLogger("liqmap.market")


def parse_number_map(text: str | None, what: str, example: str) -> dict[str, float]:
    """``"binance=4, okx=5.5"`` -> ``{"binance": 4.0, "okx": 5.5}`` (keys as written, stripped;
    ``what`` names the setting in errors). Empty or None -> ``{}``.

    Raises:
        ValueError: a part without ``=`` or a value that is not a finite number >= 0.
    """
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, val = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            v = float(val.replace("_", ""))
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not name=number, e.g. {example}") from None
        if not (0 <= v < float("inf")):
            raise ValueError(f"{what}: {part!r} must be a finite number >= 0")
        out[name.strip()] = v
    return out


def taker_fees(overrides: str | Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-venue taker fee in bps: each venue module's ``taker_fee_bps``, then ``overrides``
    (a mapping, or text ``"binance=4,okx=5.5"`` as in ``LIQMAP_TAKER_FEES``).

    Raises:
        ValueError: malformed override text or a negative / non-numeric fee.
    """
    from liqmap.exchanges.registry import VENUES

    fees = {n: float(c.taker_fee_bps) for n, c in VENUES.items() if c.taker_fee_bps is not None}
    if isinstance(overrides, str):
        overrides = {k.lower(): v for k, v in parse_number_map(overrides, "taker fee", "binance=4.5").items()}
    for name, v in (overrides or {}).items():
        if not (v >= 0):
            raise ValueError(f"taker fee of {name} must be >= 0 bps, got {v!r}")
        fees[name] = float(v)
    return fees


def group_of(symbol: str) -> tuple[str, str]:
    """``(base, quote family)`` of a query: ``BTCUSDT`` -> (BTC, USDT), ``XBTUSD`` -> (BTC, USD),
    ``BTC`` -> (BTC, USDT) (a bare base means the USDT family). Raises ValueError."""
    q = parse_symbol(symbol)
    return q.base, QUOTE_FAMILY.get(q.quote or "USDT", "USDT")


class MarketView:
    """Live cross-exchange state (module docstring).

    Args:
        fees_bps: per-venue taker fees (default :func:`taker_fees`); ``default_fee_bps`` for others.
        stale_ms: a quote older than this is left out of the aggregates (ms).
        min_net_bps: arbitrage threshold after fees (bps).
        stale_after_s: default venue stale timeout for failover (a VenueHealth may carry its own).
        recover_after_s: hold before a better-priority venue takes a feature back.
        whales: the :class:`WhaleTape` (default thresholds from ``liqmap.units``).
        emit: called with every derived event (ArbitrageOpportunity, FailoverSwitch,
            VenueStatusChange); must not block.
    """

    def __init__(self, fees_bps: Mapping[str, float] | None = None, default_fee_bps: float = DEFAULT_FEE_BPS,
                 stale_ms: int = 10 * SECOND_MS, min_net_bps: float = 0.0, stale_after_s: float = 60.0,
                 recover_after_s: float = 5.0, whales: WhaleTape | None = None, liquidation_history: int = 10_000,
                 emit: Callable[[Any], None] | None = None, features: Sequence[str] = CAPABILITIES) -> None:
        self.fees_bps = dict(taker_fees() if fees_bps is None else fees_bps)
        self.default_fee_bps = default_fee_bps
        self.stale_ms = stale_ms
        self.min_net_bps = min_net_bps
        self.board = QuoteBoard()
        self.tracker = ArbitrageTracker()
        self.whales = whales if whales is not None else WhaleTape()  # an empty tape is falsy (__len__)
        self.liquidations: deque[Liquidation] = deque(maxlen=liquidation_history)
        self.snapshots: dict[tuple[str, str], CrossExchangeData] = {}
        self.failover = {f: FailoverMachine(f, stale_after_s, recover_after_s) for f in features}
        self.status = VenueStatusTracker(stale_after_s)
        self.switches: deque[FailoverSwitch] = deque(maxlen=200)
        self.healths: list[VenueHealth] = []
        self.emit = emit
        self.events = 0

    # -- the stream ---------------------------------------------------------------------
    def handle(self, ev: Any) -> None:
        """Fold one event (any kind; O(1))."""
        self.events += 1
        self.board.update(ev)
        self.whales.add(ev)
        if type(ev) is Liquidation:
            self.liquidations.append(ev)

    def handle_many(self, events: Iterable[Any]) -> None:
        """:meth:`handle` each event."""
        for ev in events:
            self.handle(ev)

    # -- clocks -------------------------------------------------------------------------
    def _compute(self, base: str, family: str, now_ms: int) -> CrossExchangeData:
        data = cross_exchange_data(base, family, self.board.quotes(base, family), now_ms, self.stale_ms,
                                   self.fees_bps, self.default_fee_bps, self.min_net_bps)
        self.snapshots[(base, family)] = data
        return data

    def refresh(self, now_ms: int) -> list[ArbitrageOpportunity]:
        """Rebuild the changed groups' snapshots at ``now_ms``; returns (and emits) the arbitrage
        events. Opportunities carry their open -> close life (the tracker's ids and durations)."""
        out: list[ArbitrageOpportunity] = []
        for base, family in self.board.take_dirty():
            data = self._compute(base, family, now_ms)
            out += self.tracker.update(base, family, data.arbitrage_opportunities, now_ms)
            data.arbitrage_opportunities = self.tracker.opportunities(base, family)
        self._emit(out)
        return out

    def evaluate(self, healths: Sequence[VenueHealth], now_ms: int) -> list[Any]:
        """Venue status changes and failover switches at ``now_ms`` (returned and emitted)."""
        self.healths = list(healths)
        out: list[Any] = list(self.status.evaluate(healths, now_ms))
        for machine in self.failover.values():
            for sw in machine.evaluate(healths, now_ms):
                self.switches.append(sw)
                log.warning("failover %s: %s -> %s (%s)", sw.feature, sw.from_exchange or "none",
                            sw.to_exchange or "none", sw.reason)
                out.append(sw)
        self._emit(out)
        return out

    def _emit(self, events: list[Any]) -> None:
        if self.emit is None:
            return
        for ev in events:
            try:
                self.emit(ev)
            except Exception:  # a consumer must never break the view
                log.exception("market view listener failed")

    # -- reads --------------------------------------------------------------------------
    def cross_exchange(self, symbol: str, now_ms: int) -> CrossExchangeData:
        """The current :class:`CrossExchangeData` of ``symbol`` (``BTCUSDT``, ``BTC``, ``XBTUSD``),
        rebuilt at ``now_ms`` so staleness is current. Raises ValueError for a bad query."""
        base, family = group_of(symbol)
        data = self._compute(base, family, now_ms)
        data.arbitrage_opportunities = self.tracker.opportunities(base, family)
        return data

    def groups(self) -> list[tuple[str, str]]:
        """Every ``(base, family)`` with quotes, sorted."""
        return sorted(self.board.groups())

    def best(self, feature: str) -> str | None:
        """The venue currently serving ``feature`` (after the last :meth:`evaluate`)."""
        m = self.failover.get(feature)
        return m.current if m is not None else None

    def ranking(self, feature: str) -> list[tuple[str, str]]:
        """``[(venue, state)]`` for ``feature``, best first (last :meth:`evaluate`'s health)."""
        m = self.failover.get(feature)
        return rank_venues(self.healths, feature, m.stale_after_s if m else 60.0)

    def recent_liquidations(self, base: str | None = None, limit: int = 100) -> list[Liquidation]:
        """The newest liquidations across venues (optionally one underlying), newest first."""
        b = normalize_base(base) if base else None
        out = []
        for ev in reversed(self.liquidations):
            if b is None or normalize_base(ev.base) == b:
                out.append(ev)
                if len(out) >= limit:
                    break
        return out

    def whale_tape(self, base: str | None = None, limit: int = 100) -> list[TapeEntry]:
        """The whale tape, newest first (optionally one underlying)."""
        return self.whales.entries(base, limit)
