"""Exchange adapters: one venue's websocket connections + REST pollers + health.

An :class:`ExchangeAdapter` turns a declarative :class:`~liqmap.exchanges.base.Venue`
into running I/O: one :class:`~liqmap.feed.connection.WsConnection` task per
``venue.connections(symbols)`` spec and one :class:`~liqmap.feed.rest.RestPoller`
task per ``venue.rest_polls(symbols)`` spec. It knows nothing venue-specific:
``ExchangeAdapter("okx")`` is the OKX feed; what OKX publishes, how completely,
and its limits are declared in ``liqmap.exchanges.okx``.

Output (normalized :mod:`liqmap.models` events, plus :class:`~liqmap.models.Gap`
for every disconnect -> resume): listeners, ``adapter.add_listener(callback)`` --
synchronous callbacks, called in the event loop for every event. The
:class:`~liqmap.feed.aggregator.ExchangeAggregator` is the listener; consumers read
its stream (merged, deduplicated), not an adapter's.

URL overrides (local venues in tests, proxies, testnets): ``ws_url`` replaces
the URL of ALL the venue's websocket connections; ``rest_url`` the URL of all
REST polls. An override with only scheme://host[:port] keeps the venue's own
path and query (``ws://127.0.0.1:9000`` + ``wss://fstream.binance.com/market/stream?streams=x``
-> ``ws://127.0.0.1:9000/market/stream?streams=x``); an override with a path
is used verbatim.

Safety rule: when ``ws_url`` points at a loopback host (127.x, localhost, ::1)
and no ``rest_url`` is given, REST polls, the listing and the gap backfill are
switched off (health note says so), so a test against a local venue can never
reach the real venue's REST API.

Gap backfill (:mod:`liqmap.feed.backfill`): where the venue keeps a public
liquidation history, every Gap a connection reports is fetched from it after the
reconnect and reported again with ``filled=True``.

Listing (:mod:`liqmap.feed.listing`): before subscribing, the adapter reads the
venue's ``instruments`` endpoints; requested symbols the venue does not list are
not subscribed (named in health ``not_listed``), all-market subscriptions come
from the listing (``Venue.connections`` reads ``venue.listing``), and a spec's
topics are spread over connections within ``venue.limits``. The listing is read
again every ``listing_refresh_s``: new listings are subscribed on the running
connections (or new ones when those are full), delisted topics are dropped --
no restart. A failed read keeps the previous listing (or the venue's defaults).

Settings (``liqmap.settings``): the watchdog of a connection is ``ws_timeout=``
when passed, else ``WS_TIMEOUT`` when set, else the venue's own
``ConnectionSpec.stale_after_s`` (venues know how long their quiet streams can be
silent, e.g. Binance ``!forceOrder@arr`` alone: 300 s); ``MAX_RETRIES`` is the
default ``max_retries`` (0 = forever). REST polls run at each ``RestPoll.interval_s``
(the venue module's choice, e.g. ``BINANCE_POLL_INTERVAL`` for Binance) unless
``poll_interval=`` is passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from liqmap.exchanges.base import Venue
from liqmap.feed.backfill import GapFiller
from liqmap.feed.backoff import RateLimitPolicy, RetryPolicy
from liqmap.feed.connection import WsConnection, WsOptions
from liqmap.feed.dispatch import FrameHandler, Recorder
from liqmap.feed.health import HealthStatus, HealthTracker
from liqmap.feed.listing import fetch_listing, fill, merge_specs, split_spec
from liqmap.feed.rest import RestClient, RestPoller, TokenBucket
from liqmap.models import Event, Gap
from liqmap.settings import get_settings
from liqmap.tasks import cancel_and_wait
from liqmap.units import now_ms

log = logging.getLogger("liqmap.feed")

NO_REST_LIQUIDATIONS = "venue has no public REST liquidation history: REST cannot backfill liquidation gaps"


LOCAL_NO_REST = "REST polls off: ws_url points at a loopback host and no rest_url was given"


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def override_url(original: str, override: str | None) -> str:
    """Apply a URL override (see module doc). Returns ``original`` when ``override`` is None."""
    if not override:
        return original
    o = urlsplit(override)
    if (o.path not in ("", "/")) or o.query:
        return override
    p = urlsplit(original)
    return urlunsplit((o.scheme, o.netloc, p.path, p.query, p.fragment))


def resolve_venue(venue: str | Venue) -> Venue:
    """A Venue instance from a registry name (``"binance"``) or a Venue itself.

    Raises:
        KeyError / ValueError: from the registry for an unknown name.
    """
    if isinstance(venue, Venue):
        return venue
    from liqmap.exchanges.registry import get_venue

    return get_venue(venue)


class ExchangeAdapter:
    """Live feed of one venue.

    Args:
        venue: registry name or :class:`Venue` instance.
        ws_url / rest_url: URL overrides (module doc).
        symbols: venue-native symbols to subscribe, None = the venue's all-market default.
        market_symbols: venue-native symbols whose market data (trades, tickers, open
            interest, mark price, klines) is collected besides ``symbols``' subscription;
            with ``symbols=None``: all-market liquidations plus these instruments' series
            (``Venue.market_connections``, joined onto the same sockets where the venue
            allows). Their REST polls (open interest) run too.
        poll_interval: seconds between REST polls, overrides every ``RestPoll.interval_s``.
        ws_timeout: watchdog seconds (no frame => reconnect) for every connection
            (default: ``WS_TIMEOUT`` if set, else each spec's ``stale_after_s``).
        max_retries: consecutive failed connects before a connection gives up (0 = forever).
        backoff_base / backoff_cap: full-jitter backoff window in seconds.
        rate_limit: waits after HTTP 429 / 418 on websocket handshakes and REST polls
            (default :class:`~liqmap.feed.backoff.RateLimitPolicy`: ``Retry-After``, at least 5 s;
            a 418 without it 120 s).
        rotate_margin_s / overlap_s: planned rotation before ``max_lifetime_s``.
        ping_interval_s: websocket protocol ping interval (None = off).
        rest: run the venue's REST polls (default True).
        rest_limit_per_min: override the venue's REST budget (weight units / minute).
        recorder: hook called with every RawFrame (``liqmap record``).
        http_transport: httpx transport (tests: ``httpx.MockTransport`` or a local server).
        listing: read the venue's ``instruments`` listing before subscribing and
            every ``listing_refresh_s`` (default: when REST may be used, see the
            loopback rule in the module doc).
        listing_refresh_s: seconds between listing re-reads (default the venue's
            ``listing_refresh_s``).
        backfill: fetch each gap's window from the venue's public liquidation
            history after a reconnect (:mod:`liqmap.feed.backfill`); default: when
            the venue keeps one and REST may be used (loopback rule in the module doc).
        backfill_delay_s: seconds before fetching (default ``venue.history_delay_s``).
    """

    def __init__(
        self,
        venue: str | Venue,
        ws_url: str | None = None,
        rest_url: str | None = None,
        symbols: Sequence[str] | None = None,
        poll_interval: float | None = None,
        *,
        market_symbols: Sequence[str] | None = None,
        ws_timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        rate_limit: RateLimitPolicy | None = None,
        rotate_margin_s: float = 60.0,
        overlap_s: float = 1.0,
        ping_interval_s: float | None = 20.0,
        open_timeout_s: float = 10.0,
        rest: bool = True,
        rest_limit_per_min: float | None = None,
        recorder: Recorder | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        listing: bool | None = None,
        listing_refresh_s: float | None = None,
        backfill: bool | None = None,
        backfill_delay_s: float | None = None,
    ) -> None:
        self.venue = resolve_venue(venue)
        self.name = self.venue.name
        settings = get_settings()
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.symbols = list(symbols) if symbols else None
        self.market_symbols = [m for m in dict.fromkeys(market_symbols or ()) if m not in (self.symbols or ())]
        self.poll_interval = poll_interval
        self.ws_timeout = ws_timeout
        self.env_ws_timeout = settings.ws_timeout  # None unless WS_TIMEOUT is set
        self.ws_options = WsOptions(
            max_retries=settings.max_retries if max_retries is None else max_retries,
            rotate_margin_s=rotate_margin_s,
            overlap_s=overlap_s,
            open_timeout_s=open_timeout_s,
            ping_interval_s=ping_interval_s,
        )
        self.retry = RetryPolicy(backoff_base, backoff_cap, rate_limit or RateLimitPolicy())
        self.rest_enabled = rest
        self.rest_limit_per_min = rest_limit_per_min
        self.http_transport = http_transport
        local_only = self.rest_url is None and _is_loopback(self.ws_url)
        self.listing_enabled = bool(self.venue.instruments) and (listing if listing is not None else rest and not local_only)
        self.listing_refresh_s = listing_refresh_s if listing_refresh_s is not None else self.venue.listing_refresh_s
        rest_liq = self.venue.rest_liquidations
        self.backfill_enabled = rest_liq and (backfill if backfill is not None else rest and not local_only)
        self.backfill_delay_s = backfill_delay_s
        self.filler: GapFiller | None = None
        self.tracker = HealthTracker(self.name, rest_liquidations=rest_liq, note="" if rest_liq else NO_REST_LIQUIDATIONS)
        self.tracker.gate = self.venue.gate
        self.tracker.liquidation_silence_s = self.venue.liquidation_silence_s
        self.tracker.silence_hint = self.venue.silence_hint()
        self._listeners: list[Callable[[Event], None]] = []
        self.handler = FrameHandler(self.venue, self.tracker, self._emit, recorder)
        self.connections: list[WsConnection] = []
        self.pollers: list[RestPoller] = []
        self._tasks: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self.running = False

    # -- outputs ---------------------------------------------------------------
    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event and Gap (sync, must not block)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Event], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _emit(self, event: Event) -> None:
        if type(event) is Gap and self.filler is not None:
            self.filler.on_gap(event)  # filled gaps are ignored there
        for cb in tuple(self._listeners):
            try:
                cb(event)
            except Exception as exc:  # a consumer bug must not kill the feed
                self.handler.error_log.warn(f"{self.name}/listener", f"listener failed: {exc!r}")

    # -- lifecycle -------------------------------------------------------------
    def _rest(self, limit_per_min: float | None) -> RestClient:
        """A :class:`RestClient` on the adapter's shared httpx client (created on first use),
        with a budget of ``limit_per_min`` weight units per minute (None = unlimited)."""
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.http_transport, timeout=10.0)
        bucket = TokenBucket.per_minute(limit_per_min) if limit_per_min else None
        return RestClient(self.handler, self.tracker, self._client, bucket, self.retry)

    def _stale_after(self, spec_value: float) -> float:
        if self.ws_timeout is not None:
            return self.ws_timeout
        if self.env_ws_timeout is not None:
            return self.env_ws_timeout
        return spec_value

    async def connect(self) -> None:
        """Start every connection and poller task (returns immediately; idempotent)."""
        if self.running:
            return
        self.running = True
        self.tracker.start()
        if self.listing_enabled:
            await self._load_listing()
        for spec in self._specs():
            for part in split_spec(spec, self.venue.limits):
                self._start_connection(part)
        if self.listing_enabled and self.listing_refresh_s:
            self._tasks.append(asyncio.create_task(self._refresh_listing(), name=f"liqmap-listing-{self.name}"))
        if self.backfill_enabled:
            self._start_filler()
        polled = [*(self.symbols or ()), *self.market_symbols] or None
        polls = self.venue.rest_polls(polled) if self.rest_enabled else []
        if polls and self.rest_url is None and _is_loopback(self.ws_url):
            # a local test venue has no REST side: never let a test reach the real venue
            self.tracker.base_note = "; ".join(filter(None, [self.tracker.base_note, LOCAL_NO_REST]))
            log.info("%s: %s", self.name, LOCAL_NO_REST)
            polls = []
        if polls:
            limits = [p.limit_per_min for p in polls if p.limit_per_min]
            rest = self._rest(self.rest_limit_per_min or (min(limits) if limits else None))  # one budget for all polls
            for poll in polls:
                poller = RestPoller(poll, rest, url=override_url(poll.url, self.rest_url), interval_s=self.poll_interval)
                self.pollers.append(poller)
                self._tasks.append(asyncio.create_task(poller.run(), name=f"liqmap-rest-{self.name}-{poll.label}"))

    def _start_filler(self) -> None:
        """The gap backfill (:mod:`liqmap.feed.backfill`) on the adapter's REST client, with
        the venue's own history budget."""
        self.filler = GapFiller(
            self.venue,
            self._rest(self.venue.history_limit_per_min),
            self._emit,
            url=lambda u: override_url(u, self.rest_url),
            symbols=self.symbols,
            delay_s=self.backfill_delay_s,
        )

    # -- listing ---------------------------------------------------------------
    def _rest_base(self) -> str:
        return override_url(self.venue.rest_url, self.rest_url)

    async def _load_listing(self) -> bool:
        """Read the venue's listing (and contract sizes); False on failure (kept as it was)."""
        bases = [self._rest_base()]
        if self.rest_url is None and self.venue.rest_url == self.venue.default_rest:
            bases += list(self.venue.rest_fallbacks)
        for base in bases:
            try:
                async with httpx.AsyncClient(transport=self.http_transport, timeout=10.0) as client:
                    symbols, specs = await asyncio.wait_for(fetch_listing(self.venue, client, base), 30.0)
                break
            except Exception as exc:  # network, HTTP, JSON: next host, else keep the defaults / previous listing
                self.tracker.on_error(f"listing: {base}: {type(exc).__name__}: {exc}")
                log.warning("%s: instruments listing from %s unavailable (%s)", self.name, base, exc)
        else:
            return False
        if not symbols:
            log.warning("%s: instruments listing is empty; subscribing without it", self.name)
            return False
        self.venue.set_listing(symbols)
        self.tracker.listed = len(symbols)
        if specs:
            self.venue.contracts.update(specs)
        return True

    def _specs(self) -> list:
        """Connection specs of the subscription: ``symbols``' (all-market when None) plus the
        market-data connections of ``market_symbols``, joined per URL and label. Requested
        symbols the listing does not hold are named in health (``not_listed``)."""
        main, missing = self._listed(self.symbols)
        market, missing_m = self._listed(self.market_symbols)
        missing = list(dict.fromkeys([*(missing or ()), *(missing_m or ())]))
        if missing and missing != self.tracker.not_listed:
            log.info("%s: not listed by the venue, not subscribed: %s", self.name, ", ".join(missing))
        self.tracker.not_listed = missing
        specs = list(self.venue.connections(main))
        if market:
            specs += self.venue.market_connections(market)
        return merge_specs(specs)

    def _listed(self, symbols: Sequence[str] | None) -> tuple[list[str] | None, list[str]]:
        """(the symbols the listing holds, spelled as it spells them -- all of them while no
        listing is loaded --, the ones it does not); ``(None, [])`` for None (all-market)."""
        if symbols is None:
            return None, []
        out, missing = [], []
        for s in symbols:
            got = self.venue.listed(s)
            (out if got is not None else missing).append(got or s)
        return list(dict.fromkeys(out)), missing

    async def _refresh_listing(self) -> None:
        """Re-read the listing every ``listing_refresh_s``; subscribe new listings, drop delisted."""
        while True:
            await asyncio.sleep(self.listing_refresh_s or 3600.0)
            if await self._load_listing():
                self._apply(self._specs())

    def _apply(self, specs: list) -> None:
        """Bring the running connections to ``specs`` (topics added/removed per URL)."""
        for spec in specs:
            if spec.topics_in_url:
                continue
            conns = [c for c in self.connections if c.spec.url == spec.url]
            if not conns:
                for part in split_spec(spec, self.venue.limits):
                    self._start_connection(part)
                continue
            wanted = {t.key: t for t in spec.topics}
            have = {k for c in conns for k in c.subs.states}
            for c in conns:
                c.remove_topics([k for k in c.subs.states if k not in wanted])
            new = [t for k, t in wanted.items() if k not in have]
            for c in conns:
                fits, new = fill(self.venue.limits, c.subs.topics, new)
                if fits:
                    c.add_topics(fits)
            if new:
                n = len(conns)
                for part in split_spec(dataclasses.replace(spec, topics=tuple(new)), self.venue.limits):
                    n += 1
                    self._start_connection(dataclasses.replace(part, label=f"{spec.label}-{n}"))
            if new or wanted.keys() != have:
                log.info("%s: listing refresh: %d topics on %s", self.name, len(wanted), spec.label)

    def _start_connection(self, spec) -> WsConnection:
        rate = self.venue.limits.connections_per_s
        conn = WsConnection(
            self.venue,
            spec,
            self.handler,
            self.tracker,
            self._emit,
            url=override_url(spec.url, self.ws_url),
            fallback_urls=[override_url(u, self.ws_url) for u in spec.fallback_urls],
            stale_after_s=self._stale_after(spec.stale_after_s),
            options=self.ws_options,
            retry=self.retry,
            start_delay_s=len(self.connections) / rate if rate else 0.0,
        )
        self.connections.append(conn)
        self._tasks.append(asyncio.create_task(conn.run(), name=f"liqmap-ws-{self.name}-{spec.label}"))
        return conn

    async def disconnect(self) -> None:
        """Stop all tasks and close sockets/clients; events the venue still holds
        (:meth:`Venue.drain`) are emitted. Idempotent; no Gap is emitted."""
        if not self.running:
            return
        self.running = False
        await asyncio.gather(*(c.stop() for c in self.connections), return_exceptions=True)
        for ev in self.venue.drain(now_ms()):  # held for a value: emitted, never lost at a stop
            self._emit(ev)
        if self.filler is not None:
            await self.filler.stop()
            self.filler = None
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self.connections.clear()
        self.pollers.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> "ExchangeAdapter":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    def health(self) -> HealthStatus:
        """Current :class:`HealthStatus` snapshot."""
        return self.tracker.status()
