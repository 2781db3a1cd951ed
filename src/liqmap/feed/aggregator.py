"""ExchangeAggregator: every feed -> ONE deduplicated, fanned-out event stream.

This is the single ingestion path. ``liqmap serve`` (live and ``--replay``), ``liqmap record``,
``liqmap replay`` and library users all consume it::

    live venues: ExchangeAdapter ──┐  (websocket + REST, parsed by the venue module)
    recordings:  ReplayFeed ───────┤  (recorded frames, the same parsers, paced)
                                   ▼
                 ExchangeAggregator.publish()   dedupe by id (the one in-memory dedupe)
                                   │
                 ┌─────────────────┼──────────────────────────┐
                 ▼                 ▼                          ▼
       subscribe(None)       stream_aggregated("BTC")   subscribe(kinds=...)
       lossless: the storing side   drop-oldest: live views
       (serve pipeline, replay --db)

Every event kind travels on the stream (Liquidation, Trade, OpenInterest, Kline, Ticker, Gap);
consumers pick with ``kinds=`` / ``filter=``. Flow: every feed calls :meth:`publish`
(synchronously, in the event loop) for each event. ``publish``:

1. de-duplicates events that carry an ``id`` (Liquidation, Trade) by ``(type, exchange, id)``
   in a bounded LRU set of ``dedupe_size`` keys (:class:`~liqmap.feed.dedupe.Deduper`: venues
   resend after reconnects, overlapping connections during rotation, captures hold lines
   twice). Duplicates are counted in ``stats()["duplicates"]`` and not delivered. Downstream
   nothing de-duplicates in memory again; the storage key is the durable guarantee;
2. passes everything else through (Gap, OpenInterest, Kline, Ticker have no id);
3. offers the event to every consumer :class:`~liqmap.feed.fanout.Subscription`.

Back-pressure: ``offer`` never blocks. A bounded consumer loses its OLDEST event when full
(counted in its ``dropped``), so a slow view never stalls the feeds or the other consumers.
A lossless consumer (``queue_size=None``) loses nothing; recorded-file replays wait for it
(:meth:`wait_for_room`), live venues cannot.

The stream ends (every subscription closes) when :meth:`disconnect_all` is called, or when the
aggregator has no live venue and every replay has been read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

from liqmap.feed.adapter import ExchangeAdapter, _is_loopback
from liqmap.feed.dedupe import DEFAULT_DEDUPE_SIZE, Deduper
from liqmap.feed.fanout import Subscription
from liqmap.feed.health import HealthStatus
from liqmap.feed.replay import ReplayFeed
from liqmap.models import Event, Gap, Liquidation
from liqmap.units import CONTRACTS_CACHE
from liqmap.symbols import QUOTE_FAMILIES, SymbolQuery, parse_symbol, strict_symbols, symbol_filter

log = logging.getLogger("liqmap.feed.aggregator")

#: Backlog (events) of a lossless consumer above which replays wait for it.
HIGH_WATER = 20_000


class ExchangeAggregator:
    """Run several feeds (live exchange adapters, recorded-file replays) and merge their events.

    Args:
        exchanges: live venue names (None: all of ``registry.VENUE_NAMES``; ``[]``: none, for
            an aggregator of replays only, see :meth:`add_replay`).
        symbols: symbol queries (``BTCUSDT``, ``ETH``...); each adapter subscribes
            every perpetual of those underlyings on its venue (USDT, USDC and USD
            families of the :mod:`liqmap.symbols` table); None = venue defaults.
        market_symbols: symbol queries whose market data (trades, tickers, open interest,
            mark price, klines) is collected besides the liquidation subscription (every
            perpetual of those underlyings, as for ``symbols``); e.g. ``serve``'s heatmap
            underlyings on top of all-market liquidations.
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
        market_symbols: Sequence[str] | None = None,
        ws_urls: Mapping[str, str] | None = None,
        rest_urls: Mapping[str, str] | None = None,
        adapter_overrides: Mapping[str, Any] | None = None,
        adapter_kwargs: Mapping[str, Any] | None = None,
        dedupe_size: int = DEFAULT_DEDUPE_SIZE,
    ) -> None:
        from liqmap.exchanges.registry import VENUE_NAMES

        names = list(VENUE_NAMES) if exchanges is None else list(exchanges)
        overrides = dict(adapter_overrides or {})
        unknown = [n for n in names if n not in VENUE_NAMES and not isinstance(overrides.get(n), ExchangeAdapter)]
        if unknown:
            raise ValueError(f"unknown exchange(s) {', '.join(unknown)}; known: {', '.join(VENUE_NAMES)}")
        self.symbols = list(symbols) if symbols else None
        self.market_symbols = list(market_symbols) if market_symbols else None
        self.deduper = Deduper(dedupe_size)
        self.adapters: dict[str, ExchangeAdapter] = {}
        self.replays: list[ReplayFeed] = []
        self._replaying: asyncio.Task | None = None
        self.replay_error: Exception | None = None
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
                    kw["symbols"] = self._native_symbols(name, self.symbols) or None
                if self.market_symbols and "market_symbols" not in kw:
                    kw["market_symbols"] = self._native_symbols(name, self.market_symbols)
                adapter = ExchangeAdapter(name, **kw)
            adapter.add_listener(self.publish)
            self.adapters[adapter.name] = adapter

    @staticmethod
    def _native_symbols(name: str, queries: Sequence[str]) -> list[str]:
        """Every perpetual of each queried underlying on venue ``name`` (the venue's
        USDT, USDC and USD quote families, :func:`liqmap.symbols.strict_symbols`): the
        default stream matches by base, so all of them are subscribed."""
        out: list[str] = []
        for q in queries:
            base = parse_symbol(q).base
            for quote in QUOTE_FAMILIES:
                for _ex, sym in sorted(strict_symbols(SymbolQuery(base, quote, q), [name])):
                    if sym not in out:
                        out.append(sym)
        return out

    # -- replays ----------------------------------------------------------------
    def add_replay(self, feed: ReplayFeed) -> ReplayFeed:
        """Add recorded files as a feed (:class:`~liqmap.feed.replay.ReplayFeed`: frames through
        the venues' live parsers, paced or not) and return it. Replays run one after another,
        in the order added, from :meth:`connect_all`::

            agg = ExchangeAggregator(exchanges=[])
            agg.add_replay(ReplayFeed(["rec.jsonl.gz"], speed=10))
        """
        feed.add_listener(self.publish)
        self.replays.append(feed)
        return feed

    async def _run_replays(self) -> None:
        try:
            for feed in self.replays:
                await feed.run(self.wait_for_room)
        except Exception as exc:  # kept for wait_replays(): the consumer decides how to report it
            self.replay_error = exc
        finally:
            if not self.adapters:  # nothing live: the stream ends with the recordings
                self._close_subscriptions()

    async def wait_for_room(self) -> None:
        """Yield to the event loop, then wait while a lossless consumer's backlog is above
        :data:`HIGH_WATER` (the back-pressure of producers that can wait)."""
        await asyncio.sleep(0)
        for sub in tuple(self._subs):
            if sub.lossless:
                await sub.wait_room(HIGH_WATER)

    async def wait_replays(self) -> None:
        """Wait until every replay has been read (after :meth:`connect_all`); re-raises the
        error that ended one (an unreadable file, a listener's error). Returns at once when
        nothing replays."""
        if self._replaying is not None:
            await asyncio.shield(self._replaying)
        if self.replay_error is not None:
            raise self.replay_error

    # -- lifecycle -------------------------------------------------------------
    async def connect_all(self, contracts_cache: str | None = CONTRACTS_CACHE) -> None:
        """Start every adapter and the replays (returns once all tasks are started, not connected).

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
        if self.replays and self._replaying is None:
            self._replaying = asyncio.create_task(self._run_replays(), name="liqmap-replay")

    def _talks_to_real_venue(self) -> bool:
        """True when some adapter may use the network (REST on, URL not loopback)."""
        return any(a.rest_enabled and not _is_loopback(a.ws_url) for a in self.adapters.values())

    async def load_contracts(self, contracts_cache: str | None = CONTRACTS_CACHE, timeout_s: float = 20.0) -> int:
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
        """Stop every adapter and replay, and end every consumer iteration."""
        for adapter in self.adapters.values():
            await adapter.disconnect()
        if self._replaying is not None and not self._replaying.done():
            self._replaying.cancel()
            await asyncio.gather(self._replaying, return_exceptions=True)
        self._close_subscriptions()

    def _close_subscriptions(self) -> None:
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
        if type(event) is Gap and not event.filled:
            self.gaps += 1
        for sub in self._subs:
            sub.offer(event)
        return True

    def subscribe(
        self,
        queue_size: int | None = 10_000,
        filter: Callable[[Event], bool] | None = None,
        kinds: Iterable[type] | None = None,
    ) -> Subscription:
        """A new consumer queue (async-iterable), receiving every later event incl. Gaps.

        Args:
            queue_size: bound of this consumer's queue (drop-oldest when full), or None for a
                lossless queue (the storing side; replays wait for it, module doc).
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

    def exchanges(self) -> list[str]:
        """Venues this stream carries: the live adapters, then the replayed files' venues."""
        out = list(self.adapters)
        for feed in self.replays:
            out += [x for x in feed.exchanges() if x not in out]
        return out

    def parse_errors(self) -> dict[str, int]:
        """``{exchange: frames its parser rejected}`` over every feed (counted, never fatal)."""
        out: dict[str, int] = {}
        for name, a in self.adapters.items():
            out[name] = a.health().parse_errors
        for feed in self.replays:
            for name, n in feed.parse_errors().items():
                out[name] = out.get(name, 0) + n
        return out

    def rate_limited(self) -> dict[str, int]:
        """``{exchange: HTTP 429/418 answers}`` of every live feed (handshakes, polls, backfill)."""
        return {name: a.health().rate_limited for name, a in self.adapters.items()}

    def gate_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{exchange: {"rejected": {reason: n}, "quarantined": {reason: n}}}``: what the venues'
        plausibility gates dropped and stored apart, over every feed (live and replayed)."""
        out: dict[str, dict[str, dict[str, int]]] = {}

        def add(name: str, counts: dict[str, dict[str, int]]) -> None:
            mine = out.setdefault(name, {"rejected": {}, "quarantined": {}})
            for kind in ("rejected", "quarantined"):
                for reason, n in counts.get(kind, {}).items():
                    mine[kind][reason] = mine[kind].get(reason, 0) + n

        for name, a in self.adapters.items():
            add(name, a.venue.gate.counts())
        for feed in self.replays:
            for name, counts in feed.gate_counts().items():
                add(name, counts)
        return out

    def subscriptions(self) -> dict[str, tuple[int, int, int]]:
        """``{exchange: (topics requested, acknowledged, rejected or unacknowledged)}`` per live venue."""
        out: dict[str, tuple[int, int, int]] = {}
        for name, a in self.adapters.items():
            h = a.health()
            out[name] = (h.requested, h.subscribed, len(h.rejected))
        return out

    def stats(self) -> dict[str, Any]:
        """Counters: published, duplicates, gaps, dedupe set size, per-consumer dropped."""
        return {
            "published": self.published,
            "duplicates": self.duplicates,
            "gaps": self.gaps,
            "dedupe_keys": len(self.deduper),
            "consumers": [{"queued": s.qsize(), "dropped": s.dropped, "delivered": s.delivered} for s in self._subs],
            "replays": [{"events": f.replayed, "done": f.done} for f in self.replays],
        }
