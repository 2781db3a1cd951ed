"""The plausibility gate: what a venue parser emits is checked once, at normalization.

Every :class:`~liqmap.exchanges.base.Venue` owns one :class:`PlausibilityGate`;
:meth:`Venue.parse` passes each frame's events through :meth:`PlausibilityGate.filter`,
so every venue, live or replayed, new or old, gets the same rules without code of its own.

Rules (an event failing one is dropped and counted per venue and reason, never stored):

=================  ======================================================================
reason             rule
=================  ======================================================================
``non_finite``     price, quantity, value (and any optional number) NaN or infinite
``non_positive``   price, quantity or value <= 0 (liquidations, trades, kline prices);
                   open interest, volumes < 0
``too_large``      price > :attr:`GateConfig.max_price` (1e9 quote units), value >
                   :attr:`GateConfig.max_value_usd` (1e10 USD), quantity > 1e15 base units:
                   beyond anything traded (the largest single liquidations are ~1e8 USD)
``value_mismatch`` ``value_usd`` not price x quantity within 0.1 % (USD-family quotes:
                   USD, USDT, USDC, FDUSD, BUSD, USDE at par), or, for other quotes (BTC,
                   ETH, EUR), price x quantity x the quote's USD price off by more than
                   25 % from the quote's last USD price the gate saw (from the venue's own
                   USD-quoted events, e.g. XBTUSD for BTC) -- the implied price must be
                   finite and positive when none was seen
``symbol``         longer than 64 characters, characters outside ``[A-Za-z0-9._:/@-]``, or
                   (liquidations, trades, open interest) a symbol the venue's grammar
                   (:meth:`Venue.base_quote`) cannot split, or whose base/quote differ from
                   the event's
``timestamp``      event time before the venue's launch (:attr:`Venue.launched_ms`) or
                   later than now + 1 day (wall clock)
``unvalued``       a trade the venue could not value (``value_usd`` NaN: BitMEX quanto and
                   XBT-quoted prints before any XBT/USD price is known)
=================  ======================================================================

Quarantine (stored apart, counted, never mixed with normal events): a liquidation whose
price is more than :attr:`GateConfig.far_ratio` (4x, either way) from the symbol's recent
price -- the median of the last three prices the venue reported for that symbol (trades,
mark/last prices, kline closes, liquidations, quarantined ones included, so a real regime
change takes over after two prints), at most a day old in event time -- becomes a
:class:`~liqmap.models.Quarantined` event with reason ``price_far``. With fewer than three
recent prices, it is quarantined only when far from every one of them. A trade that far
away is dropped and counted (``price_far``): trades only feed bars and references.

Counters: :attr:`PlausibilityGate.rejected` and :attr:`PlausibilityGate.quarantined`
(reason -> events), shown per venue in ``/exchanges/health``, ``/health`` and ``/metrics``
(``liqmap_events_rejected_total{exchange,reason}``, ``liqmap_events_quarantined_total``).

Pure and deterministic given the frame order (a replay rejects what the live feed rejected),
except the wall-clock upper time bound.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from liqmap.models import Event, Gap, Kline, Liquidation, OpenInterest, Quarantined, Ticker, Trade
from liqmap.symbols import QUOTES, VENUE_QUOTES
from liqmap.units import DAY_MS, now_ms

if TYPE_CHECKING:
    from liqmap.exchanges.base import Venue

#: Rejection reasons (the event is dropped and counted).
REJECT_REASONS: tuple[str, ...] = (
    "non_finite", "non_positive", "too_large", "value_mismatch", "symbol", "timestamp", "unvalued", "price_far",
)  # fmt: skip
#: Quarantine reasons (the event is stored apart as :class:`~liqmap.models.Quarantined`).
QUARANTINE_REASONS: tuple[str, ...] = ("price_far", "unvalued")

#: Quotes taken at par with USD (the query quote table of :mod:`liqmap.symbols`).
_PAR_QUOTES: frozenset[str] = frozenset(QUOTES)
#: Non-USD quotes whose USD price the gate follows (from the venue's USD-quoted events).
_PRICED_QUOTES: frozenset[str] = frozenset(VENUE_QUOTES) - _PAR_QUOTES
_SYMBOL_RE = re.compile(r"[A-Za-z0-9.@][A-Za-z0-9._:/@-]*\Z")
_INF = math.inf
_CACHE_MAX = 20_000
#: the grammar verdict of an unsafe symbol (too long, characters outside the set)
_BAD: tuple[str, str, bool, bool] = ("\x00", "\x00", False, False)


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of :class:`PlausibilityGate` (quote units, USD, ms, ratios)."""

    max_symbol_len: int = 64
    max_price: float = 1e9
    max_value_usd: float = 1e10
    max_quantity: float = 1e15
    value_tolerance: float = 1e-3
    quote_tolerance: float = 0.25
    future_ms: int = DAY_MS
    far_ratio: float = 4.0
    reference_max_age_ms: int = DAY_MS


def _far(r: list, price: float, ratio: float) -> float | None:
    """The reference of ring ``r`` (``[p0, p1, p2, last_ts, n]``, newest price last) when
    ``price`` is more than ``ratio`` away from it, else None: the median of three, or with
    fewer prices the newest one when ``price`` is far from every one."""
    n = r[4]
    if n == 3:
        a, b, c = r[0], r[1], r[2]
        med = max(min(a, b), min(max(a, b), c))
        return med if (price > med * ratio or price * ratio < med) else None
    for ref in r[3 - n : 3]:
        if ref <= price * ratio and price <= ref * ratio:
            return None
    return r[2]


class PlausibilityGate:
    """Check the events one venue's parser emits (module docstring for the rules).

    Args:
        venue: the venue class (or instance) whose grammar (``base_quote``), name and
            launch time (``launched_ms``) apply.
        config: thresholds (default :class:`GateConfig`).
        clock: wall clock in ms (tests inject one).
    """

    def __init__(self, venue: "type[Venue] | Venue", config: GateConfig | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.venue_name = venue.name
        self.base_quote = venue.base_quote
        self.launched_ms = int(getattr(venue, "launched_ms", 0))
        self.config = cfg = config or GateConfig()
        self.clock = clock
        self.rejected: Counter[str] = Counter()
        self.quarantined: Counter[str] = Counter()
        self._symbols: dict[str, tuple[str, str, bool, bool]] = {}
        #: symbol -> ring ``[p0, p1, p2, last_ts, n]`` of its recent prices (newest last)
        self._refs: dict[str, list] = {}
        self._quote_usd: dict[str, float] = {}
        # the thresholds as plain attributes (the hot path reads them per event)
        self._maxp, self._maxq, self._maxv = cfg.max_price, cfg.max_quantity, cfg.max_value_usd
        self._tol, self._ratio, self._max_age = cfg.value_tolerance, cfg.far_ratio, cfg.reference_max_age_ms
        self._hi = 0  # latest plausible event time; the clock is read again only past it

        self._scan = self._build_scan()

    # ------------------------------------------------------------------ entry point
    def filter(self, events: list[Event]) -> list[Event]:
        """``events`` without the implausible ones (counted), far-priced liquidations turned
        into :class:`~liqmap.models.Quarantined`; the same list when all pass.

        Hot path: one call of the priced-event scan (:meth:`_build_scan`) checks a frame's
        liquidations and trades in a loop; it stops only at an event of another kind or one
        that fails, which :meth:`check` / :meth:`_verdict` then handle."""
        if not events:  # e.g. the partial events of a frame that failed as a whole
            return events
        t = type(events[0])
        if t is not Liquidation and t is not Trade:  # a ticker, kline, open interest ... frame
            return self._each(events)
        scan = self._scan
        hit = scan(events, 0)
        if hit is None:  # the common case: every event a plausible liquidation / trade
            return events
        out: list[Event] = []
        start, changed = 0, False
        while hit is not None:
            i, res = hit
            if i > start:
                out += events[start:i]
            e = events[i]
            kept = self.check(e) if res is None else self._verdict(e, res)
            if kept is not None:
                out.append(kept)
            changed = changed or kept is not e
            start = i + 1
            hit = scan(events, start)
        if not changed:
            return events
        out += events[start:]
        return out

    def _each(self, events: list[Event]) -> list[Event]:
        """:meth:`filter` event by event through :meth:`check` (frames of other kinds)."""
        check = self.check
        if len(events) == 1:
            kept = check(events[0])
            return events if kept is events[0] else ([] if kept is None else [kept])
        out: list[Event] | None = None
        for i, e in enumerate(events):
            kept = check(e)
            if kept is not e and out is None:
                out = events[:i]
            if out is not None and kept is not None:
                out.append(kept)
        return events if out is None else out

    def _verdict(self, e: Liquidation | Trade, res: str | float) -> Event | None:
        """A priced event the scan did not pass: quarantined (a liquidation far from its
        reference price ``res``) or rejected (None, counted under the reason)."""
        if type(res) is float:  # far from the reference
            if type(e) is Liquidation:
                self.quarantined["price_far"] += 1
                return Quarantined(e.exchange, e.id, "price_far", res, e)
            res = "price_far"
        self.rejected[res] += 1
        return None

    def check(self, e: Event) -> Event | None:
        """One event: itself (plausible), a :class:`Quarantined` wrapper, or None (rejected,
        counted)."""
        t = type(e)
        if t is Liquidation or t is Trade:
            hit = self._scan((e,), 0)
            return e if hit is None else self._verdict(e, hit[1])
        if t is Gap or t is Quarantined:
            return e
        if t is Ticker:
            reason = self._ticker(e)
        elif t is OpenInterest:
            reason = self._open_interest(e)
        elif t is Kline:
            reason = self._kline(e)
        else:
            return e
        if reason is None:
            return e
        self.rejected[reason] += 1
        return None

    def _build_scan(self) -> Callable[[Sequence[Event], int], "tuple[int, str | float | None] | None"]:
        """The check of priced events (liquidations, trades) as one closure over the gate's
        thresholds and tables (the hot path: one call a frame, no attribute look-ups on the
        gate, per-symbol facts -- base, quote, USD-family quote -- from one table look-up).

        ``scan(events, i)`` checks ``events[i:]`` in order (a plausible price joins the
        symbol's reference) and returns at the first event it does not pass: ``(index,
        reason)`` for a rejection, ``(index, reference price)`` for a price far from the
        reference, ``(index, None)`` for an event that is not a liquidation or trade; None
        when all passed."""
        maxp, maxq, maxv, tol, ratio, max_age = self._maxp, self._maxq, self._maxv, self._tol, self._ratio, self._max_age
        qtol = self.config.quote_tolerance
        symbols, refs, quote_usd, grammar = self._symbols, self._refs, self._quote_usd, self._grammar
        launched, gate = self.launched_ms, self

        def scan(events: Sequence[Event], i: int) -> tuple[int, str | float | None] | None:
            n = len(events)
            while i < n:
                e = events[i]
                te = type(e)
                if te is not Liquidation and te is not Trade:
                    return i, None
                p = e.price
                q = e.quantity
                v = e.value_usd
                if not (0.0 < p <= maxp and 0.0 < q <= maxq and 0.0 < v <= maxv):
                    return i, _bad_numbers((p, q, v), (maxp, maxq, maxv), unvalued=te is Trade and v != v)
                sym = e.symbol
                bq = symbols.get(sym) or grammar(sym)
                if bq[0] != e.base or bq[1] != e.quote:
                    return i, "symbol"
                ts = e.timestamp
                if not (launched <= ts <= gate._hi) and not gate._time_ok(ts):
                    return i, "timestamp"
                if bq[2]:  # a USD-family quote, at par
                    d = v - p * q
                    t = tol * v
                    if d > t or d < -t:  # |v - p x q| > tol x v, without the abs() call
                        return i, "value_mismatch"
                    if bq[3]:  # the base is a quote currency elsewhere (BTC): its USD price
                        quote_usd[bq[0]] = p
                else:
                    implied = v / (p * q)
                    if not (0.0 < implied < _INF):
                        return i, "value_mismatch"
                    ref = quote_usd.get(bq[1])
                    if ref is not None and abs(implied - ref) > qtol * ref:
                        return i, "value_mismatch"
                i += 1
                r = refs.get(sym)
                if r is None:
                    if len(refs) < _CACHE_MAX:
                        refs[sym] = [0.0, 0.0, p, ts, 1]
                    continue
                a, b, c, last, k = r
                dt = ts - last
                if dt == 0 and p == c:  # a resent / duplicated print: counted once
                    continue
                if dt > max_age or dt < -max_age:  # a day-old reference says nothing: start again
                    r[0], r[1], r[2], r[3], r[4] = 0.0, 0.0, p, ts, 1
                    continue
                if k == 3:  # the median of three by comparisons (no min/max calls)
                    if a > b:
                        med = a if c >= a else (c if c > b else b)
                    else:
                        med = b if c >= b else (c if c > a else a)
                    far = med if (p > med * ratio or p * ratio < med) else None
                else:
                    far = _far(r, p, ratio)
                    r[4] = k + 1
                r[0], r[1], r[2], r[3] = b, c, p, ts
                if far is not None:
                    return i - 1, far
            return None

        return scan

    def _time_ok(self, ts: int) -> bool:
        """``launched_ms <= ts <= now + future_ms`` (the clock is read only when ``ts`` passes
        the bound computed last time: the bound only grows)."""
        if ts > self._hi:
            self._hi = self.clock() + self.config.future_ms
        return self.launched_ms <= ts <= self._hi

    def unvalued(self, e: Liquidation, reason: str = "unvalued") -> Quarantined:
        """A liquidation the venue could not value (held, never released): stored apart."""
        self.quarantined[reason] += 1
        return Quarantined(e.exchange, e.id, reason, None, e)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"rejected": {reason: n}, "quarantined": {reason: n}}`` (copies)."""
        return {"rejected": dict(self.rejected), "quarantined": dict(self.quarantined)}

    # ------------------------------------------------------------------ rules
    def _grammar(self, symbol: str) -> tuple[str, str, bool, bool]:
        """``(base, quote, quote is USD-family, base is a priced quote)`` of ``symbol`` by the
        venue's grammar (cached); ``("", "", False, False)`` for a symbol of safe characters
        the grammar cannot split (fine for tickers and klines only), ``_BAD`` for anything
        else (too long, unsafe characters)."""
        bq = _BAD
        if len(symbol) <= self.config.max_symbol_len and _SYMBOL_RE.match(symbol):
            try:
                base, quote = self.base_quote(symbol)
                bq = (base, quote, quote in _PAR_QUOTES, base in _PRICED_QUOTES)
            except Exception:  # the grammar refused it (FrameError) or a venue bug: not a symbol
                bq = ("", "", False, False)
        if len(self._symbols) < _CACHE_MAX:
            self._symbols[symbol] = bq
        return bq

    def _symbol_ok(self, symbol: str) -> bool:
        """True for a symbol of safe characters within the length limit."""
        return (self._symbols.get(symbol) or self._grammar(symbol)) is not _BAD

    def _see(self, symbol: str, price: float, ts: int) -> float | None:
        """Add ``price`` (event time ``ts``) to the symbol's reference ring; returns the
        reference when ``price`` is far from it (quarantine), else None."""
        r = self._refs.get(symbol)
        if r is None:
            if len(self._refs) < _CACHE_MAX:
                self._refs[symbol] = [0.0, 0.0, price, ts, 1]
            return None
        if ts == r[3] and price == r[2]:  # a resent / duplicated print: counted once
            return None
        if abs(ts - r[3]) > self._max_age:  # a day-old reference says nothing: start again
            r[0], r[1], r[2], r[3], r[4] = 0.0, 0.0, price, ts, 1
            return None
        far = _far(r, price, self._ratio)
        r[0], r[1], r[2], r[3] = r[1], r[2], price, ts
        if r[4] < 3:
            r[4] += 1
        return far

    def _observe(self, symbol: str, price: float | None, ts: int) -> None:
        """A reference price from a ticker or kline (never quarantined itself)."""
        if price is not None and 0.0 < price < _INF:
            self._see(symbol, price, ts)

    def _ticker(self, e: Ticker) -> str | None:
        if not self._symbol_ok(e.symbol):
            return "symbol"
        if not self._time_ok(e.timestamp):
            return "timestamp"
        for x in (e.last_price, e.mark_price, e.index_price):
            if x is not None:
                if x != x or x in (_INF, -_INF):
                    return "non_finite"
                if x <= 0.0:
                    return "non_positive"
                if x > self.config.max_price:
                    return "too_large"
        f, oi = e.funding_rate, e.open_interest
        if f is not None and not math.isfinite(f):
            return "non_finite"
        if oi is not None:
            if not math.isfinite(oi):
                return "non_finite"
            if oi < 0:
                return "non_positive"
        self._observe(e.symbol, e.mark_price or e.last_price, e.timestamp)
        return None

    def _open_interest(self, e: OpenInterest) -> str | None:
        fault = open_interest_fault(e)
        if fault is not None:
            return fault
        oi, usd = e.open_interest, e.open_interest_usd
        if (usd or 0.0) > self.config.max_value_usd * 100 or oi > self.config.max_quantity:
            return "too_large"
        bq = self._symbols.get(e.symbol) or self._grammar(e.symbol)
        if bq[0] != e.base or bq[1] != e.quote:
            return "symbol"
        if not self._time_ok(e.timestamp):
            return "timestamp"
        return None

    def _kline(self, e: Kline) -> str | None:
        prices = (e.open, e.high, e.low, e.close)
        for x in prices:
            if not (0.0 < x <= self.config.max_price):
                return _bad_numbers((x,), (self.config.max_price,))
        if e.high < e.low:
            return "non_positive"
        for x in (e.volume, e.quote_volume, e.taker_buy_volume, e.taker_buy_quote_volume):
            if x is not None:
                if not math.isfinite(x):
                    return "non_finite"
                if x < 0:
                    return "non_positive"
        if not self._symbol_ok(e.symbol):
            return "symbol"
        if not (self._time_ok(e.open_time) and e.open_time <= e.close_time):
            return "timestamp"
        self._observe(e.symbol, e.close, e.close_time)
        return None


def open_interest_fault(e: OpenInterest, negative: str = "non_positive") -> str | None:
    """What is wrong with an open interest's numbers (base units, USD value), or None:
    ``non_finite`` when either is NaN or infinite, else ``negative`` when either is below
    zero -- named as the caller counts it (the gate ``non_positive``,
    :class:`~liqmap.analytics.oi_guard.OIGuard` ``negative``)."""
    oi, usd = e.open_interest, e.open_interest_usd
    if not math.isfinite(oi) or (usd is not None and not math.isfinite(usd)):
        return "non_finite"
    if oi < 0 or (usd is not None and usd < 0):
        return negative
    return None


def _bad_numbers(values: tuple[float, ...], maxima: tuple[float, ...], unvalued: bool = False) -> str:
    """The reason a tuple of numbers failed ``0 < x <= max``."""
    if unvalued:
        return "unvalued"
    for x in values:
        if x != x or x in (_INF, -_INF):
            return "non_finite"
    for x in values:
        if x <= 0.0:
            return "non_positive"
    return "too_large"
