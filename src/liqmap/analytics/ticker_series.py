"""Tickers -> one stored row per instrument and second (pure, deterministic in input order).

Venues push tickers far more often than anyone reads them back (Binance ``bookTicker`` changes
many times a second), and spread an instrument's fields over several messages. :class:`TickerSeries`
keeps, per ``(exchange, symbol)``, the MERGED state (each non-None field of a
:class:`~liqmap.models.Ticker` replaces the held one) and hands on one :class:`TickerSample` per
second that saw a ticker: the merged state as of that second's last ticker (last-value
sampling, by exchange time). A second's sample is handed on when a ticker of a later second
arrives; a ticker of an earlier second than the one held is late: counted, not applied.
:meth:`TickerSeries.flush` hands on what is held (shutdown, end of a replay).
"""

from __future__ import annotations

from typing import Any, Iterable


from liqmap.models import TICKER_VALUE_FIELDS, Ticker
from liqmap.units import SECOND_MS

FIELDS = TICKER_VALUE_FIELDS


class TickerSample(Ticker, frozen=True, gc=False, kw_only=True):
    """The merged ticker of one instrument as of the end of one second: a
    :class:`~liqmap.models.Ticker` (same fields, same units; a value field None = never
    reported) plus ``second``.

    ``second`` is the start of that second (ms UTC, keyword-only); ``timestamp`` /
    ``received_at`` are the exchange / receipt times (ms UTC) of its last ticker. Stored by
    column name (:data:`liqmap.storage.market.TICKER_COLUMNS`), never by field position.
    """

    second: int


class TickerSeries:
    """1 s last-value sampling of merged tickers (module docstring). ``late`` counts tickers
    older than the second already held."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, str], dict[str, Any]] = {}
        self._held: dict[tuple[str, str], tuple[int, int, int]] = {}  # second, timestamp, received_at
        self.late = 0

    def _sample(self, key: tuple[str, str]) -> TickerSample:
        second, ts, rx = self._held[key]
        return TickerSample(key[0], key[1], ts, rx, second=second, **self._state[key])

    def add(self, events: Iterable[Any]) -> list[TickerSample]:
        """Fold a batch (any event kinds); returns the samples of the seconds it finished."""
        out: list[TickerSample] = []
        for e in events:
            if type(e) is not Ticker:
                continue
            key = (e.exchange, e.symbol)
            second = e.timestamp - e.timestamp % SECOND_MS
            held = self._held.get(key)
            if held is not None:
                if second < held[0]:
                    self.late += 1
                    continue
                if second > held[0]:
                    out.append(self._sample(key))
            state = self._state.setdefault(key, dict.fromkeys(FIELDS))
            for f in FIELDS:
                v = getattr(e, f)
                if v is not None:
                    state[f] = v
            self._held[key] = (second, e.timestamp, e.received_at)
        return out

    def flush(self) -> list[TickerSample]:
        """The samples of every held second (emptied; the merged state is kept)."""
        out = [self._sample(k) for k in self._held]
        self._held.clear()
        return out
