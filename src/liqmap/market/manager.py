"""ExchangeManager: the cross-exchange interface of issue #15, built on the ExchangeAggregator.

Usage (library)::

    manager = ExchangeManager(symbols=["BTCUSDT"])
    manager.add_exchange(ExchangeConfig(exchange_id="binance_main", exchange_type=ExchangeType.BINANCE,
                                        priority=1, enabled=True, features=["liquidations", "ticker"]))
    manager.add_exchange(ExchangeConfig("bybit_backup", ExchangeType.BYBIT, priority=2))
    await manager.connect_all()                                # {exchange_id: bool}
    data = await manager.get_cross_exchange_ticker("BTCUSDT")  # CrossExchangeData
    manager.get_best_exchange("liquidations")                  # exchange_id or None
    await manager.get_cross_exchange_liquidations("BTCUSDT")   # [Liquidation], newest first
    await manager.get_cross_exchange_whale_activity("BTCUSDT") # [TapeEntry], newest first
    await manager.health_check()                               # {exchange_id: {...}}
    manager.exchange_configs["binance_main"].priority = 2      # read at the next evaluation
    await manager.disconnect_all()

There is no second connection layer: the enabled configs become one
:class:`~liqmap.feed.aggregator.ExchangeAggregator` (one adapter per venue), whose merged,
de-duplicated stream feeds a :class:`~liqmap.market.view.MarketView`. Every ``refresh_s``
[0.1 s] the changed snapshots are rebuilt; every ``evaluate_s`` [0.5 s] the venues' health is
ranked and the per-feature failover runs (switch events are logged at WARNING, kept in
``manager.switches``, and given to listeners, see :meth:`ExchangeManager.add_listener`).

One config per venue type: events carry the venue name (``binance``), so two configs of one
type could not be told apart (ValueError).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Mapping, Sequence

from liqmap.analytics.cross_exchange import CrossExchangeData
from liqmap.analytics.failover import venue_state
from liqmap.analytics.whales import TapeEntry
from liqmap.exchanges.registry import VENUE_NAMES
from liqmap.market.health import feature_name, venue_health, venue_stale_after_s
from liqmap.market.view import MarketView, group_of, taker_fees
from liqmap.models import Liquidation
from liqmap.tasks import cancel_and_wait
from liqmap.units import now_ms

log = logging.getLogger("liqmap.market")

#: Venue types, one member per venue module (``ExchangeType.BINANCE.value == "binance"``).
ExchangeType = Enum("ExchangeType", {n.upper(): n for n in VENUE_NAMES}, type=str)


@dataclass
class ExchangeConfig:
    """One venue in an :class:`ExchangeManager`.

    Fields: ``exchange_id`` (your name for it); ``exchange_type`` (:data:`ExchangeType` or the
    venue name); ``priority`` (1 = primary; lower wins failover; may change at run time);
    ``enabled``; ``features`` (``liquidations``, ``ticker``/``tickers``, ``trades``,
    ``open_interest``, ``mark_price``, ``klines``); ``taker_fee_bps`` (None = the venue module's);
    ``ws_url`` / ``rest_url`` (endpoint overrides, e.g. local test servers).

    Raises:
        ValueError: unknown venue type or feature.
    """

    exchange_id: str
    exchange_type: Any
    priority: int = 1
    enabled: bool = True
    features: list[str] = field(default_factory=lambda: ["liquidations", "ticker"])
    taker_fee_bps: float | None = None
    ws_url: str | None = None
    rest_url: str | None = None

    def __post_init__(self) -> None:
        venue = self.venue
        if venue not in VENUE_NAMES:
            raise ValueError(f"unknown exchange type {self.exchange_type!r}; known: {', '.join(VENUE_NAMES)}")
        for f in self.features:
            feature_name(f)

    @property
    def venue(self) -> str:
        """The venue name (``binance``)."""
        t = self.exchange_type
        return (t.value if isinstance(t, Enum) else str(t)).lower()


class ExchangeManager:
    """Cross-exchange view and failover over several venues (module docstring).

    Args:
        symbols: symbol queries every venue subscribes (``BTCUSDT``, ``ETH``); their tickers,
            trades and open interest feed the view, liquidations come for all markets.
        stale_after_s: seconds without a frame before a venue is stale (default: ``WS_TIMEOUT``,
            else the venue module's connection timeout).
        recover_after_s: hold before a better-priority venue takes a feature back.
        quote_stale_s: a quote older than this is left out of the aggregates.
        refresh_s / evaluate_s: the two clocks (module docstring).
        min_net_bps: arbitrage threshold after fees.
        adapter_kwargs: passed to every adapter (e.g. ``ws_timeout``, ``rest_enabled``).
    """

    def __init__(self, symbols: Sequence[str] | None = None, *, stale_after_s: float | None = None,
                 recover_after_s: float = 5.0, quote_stale_s: float = 10.0, refresh_s: float = 0.1,
                 evaluate_s: float = 0.5, min_net_bps: float = 0.0,
                 adapter_kwargs: Mapping[str, Any] | None = None) -> None:
        self.symbols = list(symbols) if symbols else None
        self.exchange_configs: dict[str, ExchangeConfig] = {}
        self.stale_after_s = stale_after_s
        self.recover_after_s = recover_after_s
        self.quote_stale_s = quote_stale_s
        self.refresh_s = refresh_s
        self.evaluate_s = evaluate_s
        self.min_net_bps = min_net_bps
        self.adapter_kwargs = dict(adapter_kwargs or {})
        self.aggregator = None
        self.view: MarketView | None = None
        self._listeners: list[Callable[[Any], None]] = []
        self._tasks: list[asyncio.Task] = []
        self._sub = None

    # -- configuration -----------------------------------------------------------------
    def add_exchange(self, config: ExchangeConfig) -> None:
        """Add (or replace, same ``exchange_id``) a venue before :meth:`connect_all`.

        Raises ValueError when another config already has that venue type."""
        for cid, c in self.exchange_configs.items():
            if c.venue == config.venue and cid != config.exchange_id:
                raise ValueError(f"{config.exchange_id}: {config.venue} is already configured as {cid} "
                                 "(one config per venue type: events carry the venue name)")
        self.exchange_configs[config.exchange_id] = config

    def add_listener(self, fn: Callable[[Any], None]) -> None:
        """Call ``fn`` with every derived event (arbitrage, failover switch, venue status)."""
        self._listeners.append(fn)

    def _id_of(self, venue: str | None) -> str | None:
        if venue is None:
            return None
        return next((cid for cid, c in self.exchange_configs.items() if c.venue == venue), venue)

    def _emit(self, ev: Any) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:
                log.exception("manager listener failed")

    # -- lifecycle ---------------------------------------------------------------------
    async def connect_all(self, timeout_s: float = 10.0) -> dict[str, bool]:
        """Start every enabled venue through one aggregator; wait up to ``timeout_s`` for their
        sockets to open. Returns ``{exchange_id: connected}`` (disabled ones: False)."""
        from liqmap.feed.aggregator import ExchangeAggregator

        enabled = [c for c in self.exchange_configs.values() if c.enabled]
        fees = taker_fees({c.venue: c.taker_fee_bps for c in enabled if c.taker_fee_bps is not None})
        stale = self.stale_after_s if self.stale_after_s is not None else 60.0
        self.view = MarketView(fees, stale_ms=int(self.quote_stale_s * 1000), min_net_bps=self.min_net_bps,
                               stale_after_s=stale, recover_after_s=self.recover_after_s, emit=self._emit)
        self.aggregator = ExchangeAggregator(
            [c.venue for c in enabled], self.symbols,
            ws_urls={c.venue: c.ws_url for c in enabled if c.ws_url},
            rest_urls={c.venue: c.rest_url for c in enabled if c.rest_url},
            adapter_kwargs=self.adapter_kwargs)
        self._sub = self.aggregator.subscribe(queue_size=100_000)
        await self.aggregator.connect_all()
        self._tasks = [asyncio.create_task(self._consume(), name="liqmap-manager-stream"),
                       asyncio.create_task(self._clock(), name="liqmap-manager-clock")]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(self._connected(c.venue) for c in enabled):
            await asyncio.sleep(0.05)
        self.evaluate()
        return {cid: c.enabled and self._connected(c.venue) for cid, c in self.exchange_configs.items()}

    def _connected(self, venue: str) -> bool:
        adapter = self.aggregator.adapters.get(venue) if self.aggregator else None
        return adapter is not None and venue_health(adapter.health()).connected

    async def _consume(self) -> None:
        async for batch in self._sub.batches():
            self.view.handle_many(batch if isinstance(batch, (list, tuple)) else (batch,))

    async def _clock(self) -> None:
        last_eval = 0.0
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                self.view.refresh(now_ms())
                if time.monotonic() - last_eval >= self.evaluate_s:
                    last_eval = time.monotonic()
                    self.evaluate()
            except Exception:
                log.exception("market clock failed; retrying")

    async def disconnect_all(self) -> None:
        """Stop the clocks and every venue."""
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self.aggregator is not None:
            await self.aggregator.disconnect_all()

    # -- health and failover -------------------------------------------------------------
    def _healths(self):
        out = []
        for c in self.exchange_configs.values():
            adapter = self.aggregator.adapters.get(c.venue) if self.aggregator else None
            if adapter is None:
                continue
            out.append(venue_health(adapter.health(), enabled=c.enabled, features=c.features, priority=c.priority,
                                    stale_after_s=self.stale_after_s if self.stale_after_s is not None
                                    else venue_stale_after_s(c.venue, None)))
        return out

    def evaluate(self) -> list[Any]:
        """Rank the venues now and run failover (the clock does this every ``evaluate_s``)."""
        if self.view is None:
            return []
        return self.view.evaluate(self._healths(), now_ms())

    def get_best_exchange(self, feature: str) -> str | None:
        """The ``exchange_id`` serving ``feature`` now (after failover), or None when no enabled
        venue having it is up. Raises ValueError for an unknown feature."""
        f = feature_name(feature)
        if self.view is None:
            return None
        self.evaluate()
        return self._id_of(self.view.best(f))

    @property
    def switches(self) -> list:
        """Failover switches so far (the last 200)."""
        return list(self.view.switches) if self.view else []

    async def health_check(self) -> dict[str, dict[str, Any]]:
        """``{exchange_id: {venue, enabled, priority, features, state, connected,
        last_message_age_s, latency_ms, serving: [features], health: {...adapter health}}}``."""
        self.evaluate()
        healths = {h.exchange: h for h in (self.view.healths if self.view else [])}
        out = {}
        for cid, c in self.exchange_configs.items():
            adapter = self.aggregator.adapters.get(c.venue) if self.aggregator else None
            h = healths.get(c.venue)
            state = venue_state(h, 60.0) if h is not None else None  # h carries its own stale timeout
            serving = [f for f, m in (self.view.failover.items() if self.view else []) if m.current == c.venue]
            out[cid] = {"venue": c.venue, "enabled": c.enabled, "priority": c.priority,
                        "features": [feature_name(f) for f in c.features], "state": state,
                        "connected": h.connected if h else False,
                        "last_message_age_s": h.last_message_age_s if h else None,
                        "latency_ms": h.latency_ms if h else None, "serving": serving,
                        "health": adapter.health() if adapter else None}
        return out

    # -- market data -----------------------------------------------------------------------
    async def get_cross_exchange_ticker(self, symbol: str) -> CrossExchangeData:
        """The cross-exchange view of ``symbol`` now (``BTCUSDT``: BTC in the USDT family).
        Raises ValueError for a bad symbol, RuntimeError before :meth:`connect_all`."""
        return self._view().cross_exchange(symbol, now_ms())

    async def get_cross_exchange_liquidations(self, symbol: str, limit: int = 100) -> list[Liquidation]:
        """The newest liquidations of ``symbol``'s underlying across venues, newest first."""
        return self._view().recent_liquidations(group_of(symbol)[0], limit)

    async def get_cross_exchange_whale_activity(self, symbol: str, limit: int = 100) -> list[TapeEntry]:
        """The whale tape of ``symbol``'s underlying (large trades, liquidations inline), newest first."""
        return self._view().whale_tape(group_of(symbol)[0], limit)

    def _view(self) -> MarketView:
        if self.view is None:
            raise RuntimeError("ExchangeManager: call connect_all() first")
        return self.view
