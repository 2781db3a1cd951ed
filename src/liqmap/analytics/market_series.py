"""The event stream -> the market series liqmap stores: open interest, mark price, klines,
1-minute trade bars (issue #10 item 1). Pure, no I/O; :mod:`liqmap.storage` writes the rows.

:class:`MarketSeries.add` takes any events (the aggregator's stream carries every kind) and
returns :class:`MarketRows`:

* ``open_interest`` -- :class:`~liqmap.models.OpenInterest` that passed the
  :class:`~liqmap.analytics.oi_guard.OIGuard` (rejected values are counted there, never
  stored, never fed to the model), sampled to the LAST observation of each minute per
  instrument (venues push OI up to 10 times a second; one value a minute is plenty for
  5-minute model steps). A minute's value is handed on when an observation of a later
  minute arrives, or when the stream's event time (the newest timestamp of any event) is
  :data:`EXPIRE_MS` past the minute's end -- so the last value of a venue that went silent is
  stored too; an observation of an earlier minute than the one held is dropped (late);
* ``marks`` -- :class:`~liqmap.models.Ticker` s carrying a ``mark_price``, sampled the same way;
* ``klines`` -- CLOSED venue klines (``Kline.closed``), as the venue sent them;
* ``bars`` -- :class:`~liqmap.analytics.trade_bars.TradeBar` s (1-minute OHLC and taker
  buy / sell volume) from the trades;
* ``latest`` -- the newest accepted OI and mark per instrument of the batch, unsampled (the
  latest values the Redis tier keeps).

Prices seen on trades, tickers and klines feed the guard's "matching price move" rule.
:meth:`MarketSeries.flush` hands on what is held (shutdown, end of a replay). Every step is
deterministic in the input order, so replaying the same recording gives the same rows
(storage keys them; nothing is stored twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Iterable, TypeVar

from liqmap.analytics.oi_guard import OIGuard, OIGuardConfig
from liqmap.analytics.trade_bars import TradeBar, TradeBars
from liqmap.models import Gap, Kline, OpenInterest, Ticker, Trade
from liqmap.units import MINUTE_MS

T = TypeVar("T")
#: A held minute is handed on once the stream's event time is this far past its end (ms).
EXPIRE_MS = MINUTE_MS


@dataclass
class MarketRows:
    """Rows to store, per table (module docstring)."""

    open_interest: list[OpenInterest] = field(default_factory=list)
    marks: list[Ticker] = field(default_factory=list)
    klines: list[Kline] = field(default_factory=list)
    bars: list[TradeBar] = field(default_factory=list)
    #: 1-second merged tickers (:mod:`liqmap.analytics.ticker_series`) and arbitrage
    #: opportunity states (:mod:`liqmap.analytics.arbitrage`) of the market view (issue #15)
    tickers: list[Any] = field(default_factory=list)
    arbitrage: list[Any] = field(default_factory=list)
    #: the newest accepted OI / mark of each instrument in the batch, sampled or not (Redis' latest values)
    latest: dict[tuple[str, str, str], OpenInterest | Ticker] = field(default_factory=dict)

    def __len__(self) -> int:
        return (len(self.open_interest) + len(self.marks) + len(self.klines) + len(self.bars) + len(self.tickers)
                + len(self.arbitrage))

    def extend(self, other: "MarketRows") -> None:
        """Append ``other``'s rows to these."""
        self.open_interest += other.open_interest
        self.marks += other.marks
        self.klines += other.klines
        self.bars += other.bars
        self.tickers += other.tickers
        self.arbitrage += other.arbitrage
        self.latest.update(other.latest)


class MinuteSampler(Generic[T]):
    """Last item per key and minute: :meth:`offer` returns the item a later minute finished."""

    def __init__(self) -> None:
        self._held: dict[Any, tuple[int, T]] = {}
        self.late = 0

    def offer(self, key: Any, ts_ms: int, item: T) -> T | None:
        """Hold ``item`` as ``key``'s latest of its minute; returns the previous minute's last
        item when ``item`` opens a new minute, else None."""
        minute = ts_ms - ts_ms % MINUTE_MS
        held = self._held.get(key)
        if held is not None and minute < held[0]:
            self.late += 1
            return None
        self._held[key] = (minute, item)
        if held is not None and minute > held[0]:
            return held[1]
        return None

    def expire(self, now_ms: int) -> list[T]:
        """Hand on the items whose minute ended at least :data:`EXPIRE_MS` before ``now_ms``
        (a later observation of the same minute is then held and handed on again)."""
        out = []
        for key, (minute, item) in list(self._held.items()):
            if minute + MINUTE_MS + EXPIRE_MS <= now_ms:
                out.append(item)
                del self._held[key]
        return out

    def flush(self) -> list[T]:
        """Every held item (the current minutes), emptied."""
        out = [item for _, item in self._held.values()]
        self._held.clear()
        return out


class MarketSeries:
    """Events -> :class:`MarketRows` (module docstring).

    Fields: ``guard`` (its ``rejected`` counters), ``bars`` (trade bar builder); ``late``
    counts observations older than the minute already held.
    """

    def __init__(self, guard: OIGuardConfig | None = None) -> None:
        self.guard = OIGuard(guard)
        self.bars = TradeBars()
        self._oi: MinuteSampler[OpenInterest] = MinuteSampler()
        self._mark: MinuteSampler[Ticker] = MinuteSampler()
        #: newest event time seen (ms UTC): the stream's event time
        self.watermark = 0

    @property
    def late(self) -> int:
        """Observations and trades dropped as older than the minute already handed on."""
        return self._oi.late + self._mark.late + self.bars.late

    def add(self, events: Iterable[Any]) -> MarketRows:
        """Turn a batch of events (any kinds, arrival order) into rows to store."""
        rows = MarketRows()
        trades: list[Trade] = []
        guard = self.guard
        newest = self.watermark
        for e in events:
            kind = type(e)
            t = getattr(e, "timestamp", None)
            if t is not None and t > newest:
                newest = t
            if kind is Trade:
                trades.append(e)
                guard.observe_price(e.exchange, e.symbol, e.price)
            elif kind is OpenInterest:
                self._open_interest(e, rows)
            elif kind is Ticker:
                self._ticker(e, rows)
            elif kind is Kline:
                guard.observe_price(e.exchange, e.symbol, e.close)
                if e.closed:
                    rows.klines.append(e)
            elif kind is Gap:
                if trades:
                    rows.bars += self.bars.add(trades)
                    trades = []
                self.bars.gap(e)
        if trades:
            rows.bars += self.bars.add(trades)
        if newest > self.watermark:
            self.watermark = newest
            rows.open_interest += self._oi.expire(newest)
            rows.marks += self._mark.expire(newest)
        return rows

    def _open_interest(self, e: OpenInterest, rows: MarketRows) -> None:
        if self.guard.check(e) is None:
            rows.latest[("oi", e.exchange, e.symbol)] = e
            done = self._oi.offer((e.exchange, e.symbol), e.timestamp, e)
            if done is not None:
                rows.open_interest.append(done)

    def _ticker(self, e: Ticker, rows: MarketRows) -> None:
        self.guard.observe_price(e.exchange, e.symbol, e.mark_price or e.last_price)
        if e.mark_price is not None:
            rows.latest[("mark", e.exchange, e.symbol)] = e
            done = self._mark.offer((e.exchange, e.symbol), e.timestamp, e)
            if done is not None:
                rows.marks.append(done)

    def flush(self) -> MarketRows:
        """Everything held: the current minute's OI and mark samples, the open (partial) bars."""
        return MarketRows(self._oi.flush(), self._mark.flush(), [], self.bars.flush())

    def stats(self) -> dict[str, Any]:
        """``{"oi_rejected": {exchange: {reason: n}}, "oi_accepted": {exchange: n}, "late": n}``."""
        return {"oi_rejected": self.guard.rejected_by_exchange(), "oi_accepted": dict(self.guard.accepted),
                "late": self.late}
