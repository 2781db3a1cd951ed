"""Liquidation cascade detection: start / update / end events, event-time driven.

A *cascade* is a burst of liquidations on one underlying (``Liquidation.base``,
so BTCUSDT, BTCUSDC, BTC-USDT-SWAP and XBTUSD all count as BTC) across all
venues.

Rules (:class:`CascadeConfig`, defaults in brackets):

* A rolling window of ``window_ms`` [60 s] of events is kept per base.
  With ``end_after_ms`` shorter than ``window_ms`` the window can still be
  hot when a cascade ends, so one long burst may come out as consecutive
  cascades; the default (equal) avoids that. Time is
  **event time** (``Liquidation.timestamp``); the clock is the watermark = the
  largest timestamp seen so far over all bases. Replays of old recordings
  therefore behave exactly like live input.
* **start**: when, after adding an event, the base's window holds at least
  ``min_events`` [5] events AND at least ``min_value_usd`` [100,000 USD]. The
  cascade's totals start from the window's events (those not already part of
  an earlier cascade of the same base). One ``start`` per cascade.
* While open, every event of that base is added to the cascade totals. The
  window is *hot* when it still meets both thresholds; ``last_hot_ts`` is the
  time of the last event after which it was hot.
* **update** is emitted (never once per event) when, after an event, one of:
  the peak severity band rose; ``cross_exchange`` became true; the cascade's
  value_usd reached 2x the value in the last emitted event; or
  ``update_every_events`` [50] events were added since the last emission.
* **end**: when the watermark passes ``last_hot_ts + end_after_ms`` [=
  window_ms] (the window has been below the thresholds -- quiet -- for that
  long), or on :meth:`CascadeDetector.flush` at end of input. Ends of other
  bases are checked lazily: only when the watermark passes the earliest open
  deadline.
* ``cross_exchange`` is true when the cascade's events come from at least
  ``cross_exchange_min_venues`` [2] distinct exchanges.
* ``risk_score``/``severity`` of a cascade are the **peak** window score seen
  while it was open (see :mod:`liqmap.analytics.risk`); ``current_risk_score``
  is the latest window's score.

Out-of-order input: events are evicted from the window in arrival order once
their timestamp is at or before ``watermark - window_ms``; an event that
arrives that late is not put in the window (``late_events`` counts it) but is
still added to an open cascade of its base. A slightly late event can stay in
the window up to its lateness longer than ``window_ms``.

Cost per event: O(1) amortized (deque window with running sums, monotonic
deques for min/max price, venue counter). Starting a cascade walks the window
once; end checks scan the k open cascades only when the earliest quiet deadline
passes.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Literal

import msgspec

from liqmap.analytics.risk import (
    RiskInputs,
    RiskScore,
    factor_values,
    factors_dict,
    risk_from_inputs,
    score_of,
    severity_of,
    severity_rank,
)
from liqmap.models import Liquidation
from liqmap.units import CASCADE_MIN_USD, INSTITUTIONAL_USD, MINUTE_MS

CascadeKind = Literal["start", "update", "end"]


class CascadeConfig(msgspec.Struct, frozen=True):
    """Detector thresholds (see module docstring).

    ``min_events``; ``window_ms`` (ms); ``min_value_usd`` (USD);
    ``end_after_ms`` quiet period in ms (None = ``window_ms``);
    ``cross_exchange_min_venues``; ``update_every_events``;
    ``institutional_usd`` (event size counted in the institutional factor).
    Raises ValueError on non-positive values.
    """

    min_events: int = 5
    window_ms: int = MINUTE_MS
    min_value_usd: float = CASCADE_MIN_USD
    end_after_ms: int | None = None
    cross_exchange_min_venues: int = 2
    update_every_events: int = 50
    institutional_usd: float = INSTITUTIONAL_USD

    def __post_init__(self) -> None:
        if self.min_events < 1 or self.window_ms <= 0 or self.min_value_usd < 0:
            raise ValueError("min_events >= 1, window_ms > 0 and min_value_usd >= 0 are required")
        if self.end_after_ms is not None and self.end_after_ms <= 0:
            raise ValueError("end_after_ms must be positive")
        if self.cross_exchange_min_venues < 1 or self.update_every_events < 1:
            raise ValueError("cross_exchange_min_venues and update_every_events must be >= 1")

    @property
    def quiet_ms(self) -> int:
        """Effective quiet period in ms."""
        return self.window_ms if self.end_after_ms is None else self.end_after_ms


class Cascade(msgspec.Struct):
    """Snapshot of one cascade.

    Fields: ``id`` (``"{base}-{start_ts}"`` as of the start event; stays the
    same for the cascade's life even if a late event moves ``start_ts``); ``base``; ``symbols`` (venue
    symbols seen, sorted); ``start_ts`` / ``end_ts`` (first / last event time
    included, ms UTC); ``events`` (count); ``value_usd``, ``long_usd``,
    ``short_usd``, ``largest_usd`` (USD); ``exchanges`` (sorted);
    ``price_low`` / ``price_high`` (quote units); ``risk_score`` (peak) /
    ``severity`` (band of the peak); ``current_risk_score``; ``factors`` (of
    the peak window); ``cross_exchange``; ``open`` (False once ended).
    """

    id: str
    base: str
    symbols: tuple[str, ...]
    start_ts: int
    end_ts: int
    events: int
    value_usd: float
    long_usd: float
    short_usd: float
    largest_usd: float
    exchanges: tuple[str, ...]
    price_low: float
    price_high: float
    risk_score: float
    severity: str
    current_risk_score: float
    factors: dict[str, float]
    cross_exchange: bool
    open: bool = True


class CascadeEvent(msgspec.Struct, frozen=True):
    """One detector output: ``kind`` (start/update/end), the cascade snapshot,
    and ``at_ts`` (watermark, ms UTC, when it was emitted)."""

    kind: CascadeKind
    cascade: Cascade
    at_ts: int


class _Totals:
    """Running totals of a set of liquidations: ``count``; ``value``, ``long`` and ``short`` (USD).

    Shared by an open cascade (:class:`_Open`, events only join) and a base's rolling window
    (:class:`_Window`, events join and leave).
    """

    __slots__ = ("count", "value", "long", "short")

    def __init__(self) -> None:
        self.zero()

    def zero(self) -> None:
        """Back to the empty set."""
        self.count = 0
        self.value = self.long = self.short = 0.0

    def fold(self, value: float, is_long: bool, n: int = 1) -> None:
        """Add (``n=1``) or take out (``n=-1``) one liquidation of ``value`` USD, long or short side."""
        usd = value if n > 0 else -value
        self.count += n
        self.value += usd
        if is_long:
            self.long += usd
        else:
            self.short += usd


class _Open(_Totals):
    """Mutable state of an open cascade (``count`` = its events)."""

    __slots__ = (
        "id", "base", "start_ts", "end_ts", "largest",
        "exchanges", "symbols", "low", "high", "peak", "current",
        "last_hot_ts", "emitted_value", "emitted_events", "cross",
    )

    def __init__(self, base: str):
        super().__init__()
        self.id = ""  # fixed at start; late events may move start_ts earlier
        self.base = base
        self.start_ts = 0
        self.end_ts = 0
        self.largest = 0.0
        self.exchanges: set[str] = set()
        self.symbols: set[str] = set()
        self.low = float("inf")
        self.high = 0.0
        self.peak = RiskScore(0.0, "low", {})  # the highest window score while open
        self.current = 0.0
        self.last_hot_ts = 0
        self.emitted_value = 0.0
        self.emitted_events = 0
        self.cross = False

    def add(self, ts: int, value: float, is_long: bool, price: float, exchange: str, symbol: str) -> None:
        """Fold one liquidation into the cascade: ``ts`` ms UTC, ``value`` USD, ``price`` quote units."""
        if self.count == 0 or ts < self.start_ts:
            self.start_ts = ts
        if ts > self.end_ts:
            self.end_ts = ts
        self.fold(value, is_long)
        if value > self.largest:
            self.largest = value
        if price < self.low:
            self.low = price
        if price > self.high:
            self.high = price
        self.exchanges.add(exchange)
        self.symbols.add(symbol)

    def snapshot(self, is_open: bool) -> Cascade:
        """The cascade as it stands (a copy; ``open`` = ``is_open``)."""
        return Cascade(
            id=self.id,
            base=self.base,
            symbols=tuple(sorted(self.symbols)),
            start_ts=self.start_ts,
            end_ts=self.end_ts,
            events=self.count,
            value_usd=self.value,
            long_usd=self.long,
            short_usd=self.short,
            largest_usd=self.largest,
            exchanges=tuple(sorted(self.exchanges)),
            price_low=self.low,
            price_high=self.high,
            risk_score=self.peak.score,
            severity=self.peak.severity,
            current_risk_score=self.current,
            factors=dict(self.peak.factors),
            cross_exchange=self.cross,
            open=is_open,
        )


class _Window(_Totals):
    """Rolling window of one base with running sums (O(1) amortized).

    Holds the state, the O(1) append and eviction, and the RiskInputs view; ``inst`` is
    the USD of its institutional-size events.
    """

    __slots__ = ("q", "inst", "venues", "minq", "maxq", "consumed_seq", "cascade", "max_ts")

    def __init__(self) -> None:
        super().__init__()
        # entries: (seq, ts, value, is_long, price, exchange, symbol)
        self.q: deque[tuple] = deque()
        self.venues: dict[str, int] = {}
        self.minq: deque[tuple[int, float]] = deque()
        self.maxq: deque[tuple[int, float]] = deque()
        self.consumed_seq = -1
        self.cascade: _Open | None = None
        self.max_ts = -(2**63)  # newest timestamp ever pushed

    def zero(self) -> None:
        """Totals back to the empty window (the entries are the caller's)."""
        super().zero()
        self.inst = 0.0

    def clear(self) -> None:
        """Drop every entry at once (all expired): O(1) bookkeeping."""
        self.q.clear()
        self.minq.clear()
        self.maxq.clear()
        self.venues.clear()
        self.zero()

    def push(self, seq: int, ts: int, value: float, is_long: bool, price: float, exchange: str,
             symbol: str, inst_usd: float) -> None:
        """Add one event (``ts`` ms UTC, ``value`` USD, ``price`` quote units) to the sums and the
        monotonic min/max price deques; ``inst_usd`` is the institutional-size threshold (USD)."""
        self.q.append((seq, ts, value, is_long, price, exchange, symbol))
        if ts > self.max_ts:
            self.max_ts = ts
        self.fold(value, is_long)
        if value >= inst_usd:
            self.inst += value
        venues = self.venues
        venues[exchange] = venues.get(exchange, 0) + 1
        minq = self.minq
        while minq and minq[-1][1] >= price:
            minq.pop()
        minq.append((seq, price))
        maxq = self.maxq
        while maxq and maxq[-1][1] <= price:
            maxq.pop()
        maxq.append((seq, price))

    def evict(self, cutoff_ts: int, inst_usd: float) -> None:
        """Drop events with timestamp <= ``cutoff_ts`` (ms UTC) from the window sums;
        ``inst_usd`` is the institutional-size threshold (USD) used when they were added."""
        if self.max_ts <= cutoff_ts:  # everything expired (typical after a quiet gap)
            self.clear()
            return
        q = self.q
        while q and q[0][1] <= cutoff_ts:
            seq, _ts, value, is_long, _price, exchange, _sym = q.popleft()
            self.fold(value, is_long, -1)
            if value >= inst_usd:
                self.inst -= value
            n = self.venues[exchange] - 1
            if n:
                self.venues[exchange] = n
            else:
                del self.venues[exchange]
            if self.minq and self.minq[0][0] == seq:
                self.minq.popleft()
            if self.maxq and self.maxq[0][0] == seq:
                self.maxq.popleft()
        if not q:  # reset float drift
            self.zero()

    def inputs(self, newest_ts: int) -> RiskInputs:
        """The window's risk inputs, its span ending at ``newest_ts`` (ms UTC)."""
        q = self.q
        return RiskInputs(
            count=self.count,
            value_usd=self.value,
            long_usd=self.long,
            short_usd=self.short,
            institutional_usd=self.inst,
            first_ts=q[0][1] if q else 0,
            last_ts=newest_ts,
            price_low=self.minq[0][1] if self.minq else 0.0,
            price_high=self.maxq[0][1] if self.maxq else 0.0,
            venues=len(self.venues),
        )


class CascadeDetector:
    """Streaming cascade detector (see the module docstring for the rules).

    Usage::

        det = CascadeDetector(CascadeConfig())
        for liq in events:
            for ev in det.update(liq):
                ...  # ev.kind in ("start", "update", "end"), ev.cascade
        tail = det.flush()
    """

    def __init__(self, config: CascadeConfig | None = None):
        self.config = config or CascadeConfig()
        self._windows: dict[str, _Window] = {}
        self._open: dict[str, _Window] = {}  # bases with an open cascade
        self._seq = 0
        self.watermark: int | None = None
        self._next_deadline: int | None = None
        self.late_events = 0
        self.events_seen = 0
        cfg = self.config  # hot-path copies of the thresholds
        self._window_ms = cfg.window_ms
        self._min_events = cfg.min_events
        self._min_value = cfg.min_value_usd
        self._inst_usd = cfg.institutional_usd

    # -- public API -------------------------------------------------------
    def open_cascades(self) -> list[Cascade]:
        """Snapshots of the currently open cascades, sorted by base."""
        return [w.cascade.snapshot(True) for b, w in sorted(self._open.items()) if w.cascade]

    def update(self, liq: Liquidation) -> list[CascadeEvent]:
        """Feed one liquidation; returns the cascade events it caused (often none).

        Ends of quiet cascades (any base) come first, then this base's
        start/update.
        """
        ts = liq.timestamp
        out: list[CascadeEvent] = []
        self.events_seen += 1
        wm = self.watermark
        if wm is None or ts > wm:
            self.watermark = wm = ts
            if self._next_deadline is not None and ts >= self._next_deadline:
                self._expire(ts, out)
        base = liq.base
        w = self._windows.get(base)
        if w is None:
            w = self._windows[base] = _Window()
        seq = self._seq
        self._seq = seq + 1
        is_long = liq.side == "long"
        inst_usd = self._inst_usd
        cutoff = wm - self._window_ms
        q = w.q
        if q and q[0][1] <= cutoff:
            w.evict(cutoff, inst_usd)
        if ts > cutoff:
            w.push(seq, ts, liq.value_usd, is_long, liq.price, liq.exchange, liq.symbol, inst_usd)
        else:
            self.late_events += 1
        hot = w.count >= self._min_events and w.value >= self._min_value
        c = w.cascade
        if c is None:
            if hot and ts > cutoff:  # only an event that entered the window can start one
                self._start(w, base, wm, out)
            return out
        # open cascade: fold the event in
        c.add(ts, liq.value_usd, is_long, liq.price, liq.exchange, liq.symbol)
        w.consumed_seq = seq
        self._advance(c, w, ts, wm, hot, out)
        return out

    def _advance(self, c: "_Open", w: "_Window", ts: int, wm: int, hot: bool, out: list[CascadeEvent]) -> None:
        """After an event joined open cascade ``c``: move its quiet deadline, rescore it from
        the window, and emit an ``update`` when a rule of the module docstring says so."""
        cfg = self.config
        if hot:
            c.last_hot_ts = max(c.last_hot_ts, ts)
            deadline = c.last_hot_ts + cfg.quiet_ms
            if self._next_deadline is None or deadline < self._next_deadline:
                self._next_deadline = deadline
        q = w.q
        f = factor_values(
            w.count, w.value, w.long, w.short, w.inst, (wm - q[0][1]) if q else 0,
            w.minq[0][1] if w.minq else 0.0, w.maxq[0][1] if w.maxq else 0.0, len(w.venues),
        )
        score = score_of(f)
        c.current = score
        reason = False
        if score > c.peak.score:
            sev = severity_of(score)
            if severity_rank(sev) > severity_rank(c.peak.severity):
                reason = True
            c.peak = RiskScore(score, sev, factors_dict(f))
        if not c.cross and len(c.exchanges) >= cfg.cross_exchange_min_venues:
            c.cross = True
            reason = True
        if c.value >= 2 * c.emitted_value or c.count - c.emitted_events >= cfg.update_every_events:
            reason = True
        if reason:
            c.emitted_value, c.emitted_events = c.value, c.count
            out.append(CascadeEvent("update", c.snapshot(True), wm))

    def expire(self, now_ms: int) -> list[CascadeEvent]:
        """End cascades quiet at ``now_ms`` (ms UTC) without new input.

        For live use on a wall clock: advances the watermark to ``now_ms`` if
        it is later. Returns the ``end`` events.
        """
        out: list[CascadeEvent] = []
        if self.watermark is None or now_ms > self.watermark:
            self.watermark = now_ms
        self._expire(self.watermark, out)
        return out

    def flush(self, now_ms: int | None = None) -> list[CascadeEvent]:
        """End every open cascade (end of input). With ``now_ms``, quiet ones
        end first via :meth:`expire`; the rest end regardless. Sorted by base."""
        out = self.expire(now_ms) if now_ms is not None else []
        wm = self.watermark if self.watermark is not None else 0
        for base in sorted(self._open):
            w = self._open[base]
            if w.cascade is not None:
                out.append(CascadeEvent("end", w.cascade.snapshot(False), wm))
                w.cascade = None
        self._open.clear()
        self._next_deadline = None
        return out

    # -- internals --------------------------------------------------------
    def _start(self, w: _Window, base: str, wm: int, out: list[CascadeEvent]) -> None:
        cfg = self.config
        c = _Open(base)
        for seq, ts, value, is_long, price, exchange, sym in w.q:
            if seq > w.consumed_seq:
                c.add(ts, value, is_long, price, exchange, sym)
        w.consumed_seq = w.q[-1][0]
        c.id = f"{base}-{c.start_ts}"
        rs = risk_from_inputs(w.inputs(wm))
        c.peak, c.current = rs, rs.score
        c.cross = len(c.exchanges) >= cfg.cross_exchange_min_venues
        c.last_hot_ts = w.q[-1][1] if w.q[-1][1] > c.end_ts else c.end_ts
        c.emitted_value, c.emitted_events = c.value, c.count
        w.cascade = c
        self._open[base] = w
        deadline = c.last_hot_ts + cfg.quiet_ms
        if self._next_deadline is None or deadline < self._next_deadline:
            self._next_deadline = deadline
        out.append(CascadeEvent("start", c.snapshot(True), wm))

    def _expire(self, now: int, out: list[CascadeEvent]) -> None:
        quiet = self.config.quiet_ms
        nxt: int | None = None
        for base in sorted(self._open):
            w = self._open[base]
            c = w.cascade
            if c is None:
                del self._open[base]
                continue
            deadline = c.last_hot_ts + quiet
            if now >= deadline:
                out.append(CascadeEvent("end", c.snapshot(False), now))
                w.cascade = None
                del self._open[base]
            elif nxt is None or deadline < nxt:
                nxt = deadline
        self._next_deadline = nxt


def detect_cascades(liqs: Iterable[Liquidation], config: CascadeConfig | None = None) -> list[CascadeEvent]:
    """Batch helper: run a detector over ``liqs`` and flush at the end."""
    det = CascadeDetector(config)
    out: list[CascadeEvent] = []
    for liq in liqs:
        out.extend(det.update(liq))
    out.extend(det.flush())
    return out


def cascade_row(event: CascadeEvent) -> dict:
    """Row for the storage ``cascades`` table (upsert by ``id``).

    Keys exactly: id, symbol (= base), start_ts, end_ts, n_events, value_usd,
    long_usd, short_usd, exchanges (list), risk_score, severity,
    cross_exchange, status (``"active"`` while open, ``"ended"`` after the end
    event), updated_at (= ``event.at_ts``, ms UTC).
    """
    c = event.cascade
    return {
        "id": c.id,
        "symbol": c.base,
        "start_ts": c.start_ts,
        "end_ts": c.end_ts,
        "n_events": c.events,
        "value_usd": c.value_usd,
        "long_usd": c.long_usd,
        "short_usd": c.short_usd,
        "exchanges": list(c.exchanges),
        "risk_score": c.risk_score,
        "severity": c.severity,
        "cross_exchange": c.cross_exchange,
        "status": "ended" if event.kind == "end" else "active",
        "updated_at": event.at_ts,
    }
