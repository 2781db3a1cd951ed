"""ExchangeAggregator: many adapters -> one deduplicated, fanned-out event stream.

Flow: every :class:`~liqmap.feed.adapter.ExchangeAdapter` calls :meth:`ExchangeAggregator.publish`
(synchronously, in the event loop) for each event and :class:`~liqmap.models.Gap`.
``publish``:

1. de-duplicates events that carry an ``id`` (Liquidation, Trade) by
   ``(type, exchange, id)`` in a bounded LRU set of ``dedupe_size`` keys
   (default 200,000, about 40 MB worst case; at a cascade peak of ~2,000
   events/s across venues that is more than a minute and a half of history,
   far beyond any reconnect/rotation overlap or replay resend window).
   Duplicates are counted in ``stats()["duplicates"]`` and not delivered;
2. passes everything else through (Gap, OpenInterest, Kline, Ticker have no
   id and are never deduped);
3. offers the event to every consumer :class:`~liqmap.feed.fanout.Subscription`.

Back-pressure policy: each consumer has its own bounded queue; ``offer`` never
blocks, and when a queue is full its OLDEST event is dropped and that
consumer's ``dropped`` counter incremented. A slow consumer therefore never
stalls the adapters or the other consumers.

Consumers: :meth:`subscribe` (generic: storage writers, API websocket) and
:meth:`stream_aggregated` (symbol + type filtered convenience).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

from liqmap.feed.adapter import ExchangeAdapter, _is_loopback, make_adapter
from liqmap.feed.fanout import Subscription
from liqmap.feed.health import HealthStatus
from liqmap.feed.dedupe import DEFAULT_DEDUPE_SIZE, Deduper
from liqmap.models import Event, Gap, Liquidation
from liqmap.symbols import SymbolQuery, parse_symbol, strict_symbols, symbol_filter

log = logging.getLogger("liqmap.feed.aggregator")

class ExchangeAggregator:
    """Run several exchange adapters and merge their events.

    Args:
        exchanges: venue names (default: all of ``registry.VENUE_NAMES``).
        symbols: symbol queries (``BTCUSDT``, ``ETH``...); each adapter subscribes
            every perpetual of those underlyings on its venue (USDT, USDC and USD
            families of the :mod:`liqmap.symbols` table); None = venue defaults.
        ws_urls / rest_urls: ``{name: url}`` overrides (see :mod:`liqmap.feed.adapter`).
        adapter_overrides: ``{name: ExchangeAdapter}`` (used as is) or
            ``{name: {kwarg: value}}`` (extra constructor kwargs for that venue).
        adapter_kwargs: kwargs for every adapter (e.g. ``ws_timeout``, ``recorder``).
        dedupe_size: LRU size of the id de-duplication set (module doc).

    Raises:
        ValueError: unknown exchange name (lists the known ones).
    """

    def __init__(
        self,
        exchanges: Sequence[str] | None = None,
        symbols: Sequence[str] | None = None,
        *,
        ws_urls: Mapping[str, str] | None = None,
        rest_urls: Mapping[str, str] | None = None,
        adapter_overrides: Mapping[str, Any] | None = None,
        adapter_kwargs: Mapping[str, Any] | None = None,
        dedupe_size: int = DEFAULT_DEDUPE_SIZE,
    ) -> None:
        from liqmap.exchanges.registry import VENUE_NAMES

        names = list(exchanges) if exchanges else list(VENUE_NAMES)
        overrides = dict(adapter_overrides or {})
        unknown = [n for n in names if n not in VENUE_NAMES and not isinstance(overrides.get(n), ExchangeAdapter)]
        if unknown:
            raise ValueError(f"unknown exchange(s) {', '.join(unknown)}; known: {', '.join(VENUE_NAMES)}")
        self.symbols = list(symbols) if symbols else None
        self.deduper = Deduper(dedupe_size)
        self.adapters: dict[str, ExchangeAdapter] = {}
        self.unavailable: dict[str, str] = {}
        self._subs: list[Subscription] = []
        self.published = 0
        self._warmup: asyncio.Task | None = None
        self.duplicates = 0
        self.gaps = 0
        ws_urls = ws_urls or {}
        rest_urls = rest_urls or {}
        for name in names:
            ov = overrides.get(name)
            if isinstance(ov, ExchangeAdapter):
                adapter = ov
            else:
                kw: dict[str, Any] = dict(adapter_kwargs or {})
                kw.update(ov or {})
                if name in ws_urls:
                    kw["ws_url"] = ws_urls[name]
                if name in rest_urls:
                    kw["rest_url"] = rest_urls[name]
                if self.symbols and "symbols" not in kw:
                    kw["symbols"] = self._native_symbols(name) or None
                try:
                    adapter = make_adapter(name, **kw)
                except ImportError as exc:  # venue module not installed/available
                    self.unavailable[name] = f"{type(exc).__name__}: {exc}"
                    log.error("exchange %s unavailable: %s", name, exc)
                    continue
            adapter.add_listener(self.publish)
            self.adapters[adapter.name] = adapter

    def _native_symbols(self, name: str) -> list[str]:
        """Every perpetual of each queried underlying on venue ``name`` (USDT, USDC
        and USD families of :data:`liqmap.symbols.STRICT_TABLE`): the default
        stream matches by base, so all of them are subscribed."""
        out: list[str] = []
        for q in self.symbols or ():
            base = parse_symbol(q).base
            for quote in ("USDT", "USDC", "USD"):
                for _ex, sym in sorted(strict_symbols(SymbolQuery(base, quote, q), [name])):
                    if sym not in out:
                        out.append(sym)
        return out

    # -- lifecycle -------------------------------------------------------------
    async def connect_all(self, contracts_cache: str | None = "data/contracts.json") -> None:
        """Start every adapter (returns once all tasks are started, not connected).

        Also starts, in the background, the contract-size warm-up
        (:meth:`liqmap.exchanges.contracts.ContractSizes.warm_up`: cache first, then
        the venues' public instruments endpoints) when at least one adapter talks
        to a real venue. Parsing starts at once on cached/fallback sizes; adapters
        pointed at loopback test servers never trigger it, so tests stay offline.
        """
        if contracts_cache is not None and self._warmup is None and self._talks_to_real_venue():
            from liqmap.exchanges.contracts import default_contracts

            self._warmup = asyncio.create_task(default_contracts().warm_up(contracts_cache))
        for adapter in self.adapters.values():
            await adapter.connect()

    def _talks_to_real_venue(self) -> bool:
        """True when some adapter may use the network (REST on, URL not loopback)."""
        return any(a.rest_enabled and not _is_loopback(a.ws_url) for a in self.adapters.values())

    async def load_contracts(self, contracts_cache: str | None = "data/contracts.json", timeout_s: float = 20.0) -> int:
        """Load contract sizes NOW (cache, then the venues' instruments endpoints) and wait
        for it, at most ``timeout_s`` seconds; ``connect_all`` then skips its background
        warm-up. Used by ``liqmap record`` so the recording can carry the sizes. Like
        ``connect_all``, it does nothing when every adapter points at loopback test servers.
        Returns how many specs the shared registry holds; never raises.
        """
        from liqmap.exchanges.contracts import default_contracts

        reg = default_contracts()
        if self._warmup is None and self._talks_to_real_venue():
            self._warmup = asyncio.ensure_future(reg.warm_up(contracts_cache))
            try:
                await asyncio.wait_for(asyncio.shield(self._warmup), timeout_s)
            except asyncio.TimeoutError:
                log.warning("contract sizes: instruments endpoints slower than %.0f s; continuing", timeout_s)
            except Exception as exc:  # warm_up never raises; belt and braces
                log.warning("contract sizes: %s", exc)
        return len(reg)

    async def disconnect_all(self) -> None:
        """Stop every adapter and end every consumer iteration."""
        for adapter in self.adapters.values():
            await adapter.disconnect()
        for sub in list(self._subs):
            sub.close()

    async def __aenter__(self) -> "ExchangeAggregator":
        await self.connect_all()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect_all()

    # -- event path ------------------------------------------------------------
    def publish(self, event: Event) -> bool:
        """Dedupe and fan out one event (never blocks). Returns False for a duplicate.

        Also the entry point for non-live producers (tests, replay into a live pipeline).
        """
        eid = getattr(event, "id", None)
        if eid is not None and self.deduper.seen((type(event), event.exchange, eid)):
            self.duplicates += 1
            return False
        self.published += 1
        if type(event) is Gap:
            self.gaps += 1
        for sub in self._subs:
            sub.offer(event)
        return True

    def subscribe(
        self,
        queue_size: int = 10_000,
        filter: Callable[[Event], bool] | None = None,
        kinds: Iterable[type] | None = None,
    ) -> Subscription:
        """A new consumer queue (async-iterable), receiving every later event incl. Gaps.

        Args:
            queue_size: bound of this consumer's queue (drop-oldest when full).
            filter: optional predicate on events.
            kinds: optional event classes to keep (e.g. ``(Liquidation, Gap)``).
        Call ``sub.close()`` when done (``disconnect_all`` closes all).
        """
        pred = filter
        if kinds is not None:
            kinds_t = tuple(kinds)
            if filter is None:
                pred = lambda ev: isinstance(ev, kinds_t)  # noqa: E731
            else:
                pred = lambda ev: isinstance(ev, kinds_t) and filter(ev)  # noqa: E731
        sub = Subscription(queue_size, pred, on_close=self._unsubscribe)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def stream_aggregated(
        self,
        symbol: str | None = "BTCUSDT",
        strict: bool = False,
        kinds: Iterable[type] = (Liquidation,),
        queue_size: int = 10_000,
    ) -> Subscription:
        """Async iterator of merged events for one underlying.

        ``symbol`` (``BTCUSDT``, ``BTC``, ``ETH-USDT``...; None = all) is matched
        by base asset, or with ``strict=True`` by the venue-native symbols of its
        quote family (:mod:`liqmap.symbols`). ``kinds`` selects event classes;
        include :class:`~liqmap.models.Gap` to receive gaps. The subscription is
        registered immediately (no event published after this call is missed).

        Raises:
            ValueError: invalid symbol query.
        """
        match = symbol_filter(symbol, strict=strict, exchanges=list(self.adapters) or None)
        return self.subscribe(queue_size, filter=match, kinds=kinds)

    # -- health ------------------------------------------------------------------
    async def health_check_all(self) -> dict[str, HealthStatus]:
        """``{exchange: HealthStatus}`` for every adapter."""
        return {name: a.health() for name, a in self.adapters.items()}

    def get_active_exchanges(self) -> list[str]:
        """Names of adapters whose websocket connections are all open right now."""
        return [name for name, a in self.adapters.items() if a.health().is_connected]

    def stats(self) -> dict[str, Any]:
        """Counters: published, duplicates, gaps, dedupe set size, per-consumer dropped."""
        return {
            "published": self.published,
            "duplicates": self.duplicates,
            "gaps": self.gaps,
            "dedupe_keys": len(self.deduper),
            "consumers": [{"queued": s.qsize(), "dropped": s.dropped, "delivered": s.delivered} for s in self._subs],
            "unavailable": dict(self.unavailable),
        }
