"""The venue contract: what one venue module declares, and the parser entry point.

A venue module under ``liqmap.exchanges`` is the ONE place that knows a venue.
It defines a :class:`Venue` subclass per venue it serves and registers them
with a module-level ``VENUES = (MyVenue,)`` tuple; :mod:`liqmap.exchanges.registry`
discovers the modules, so nothing else names a venue. A subclass declares:

* identity and coverage -- ``name``, ``capabilities`` (the event kinds its public
  feeds carry, from :data:`CAPABILITIES`), ``sampling`` (``complete`` or
  ``lower_bound``, from :data:`SAMPLINGS`), ``rest_liquidations`` (a public REST
  liquidation history exists);
* endpoints and limits -- ``default_ws`` / ``default_rest`` (overridable per
  instance: ``ws_url=`` / ``rest_url=``) and ``limits`` (:class:`Limits`);
* symbol grammar -- ``quote_families`` (quote family -> the venue's quote),
  :meth:`Venue.native_symbols` (underlying -> venue symbols) and
  :meth:`Venue.base_quote` (venue symbol -> base, quote), or, for separated symbols
  (``BTC-USDT-SWAP``), just the data they are made from: ``symbol_format``,
  ``symbol_quotes``, ``symbol_sep``;
* contract sizes -- ``instruments`` (public instruments endpoints, paths under
  ``default_rest``), :meth:`Venue.contract_specs` (their response -> specs) and
  :meth:`Venue.contract_fallback` (the documented rule used until they load);
* display -- ``color`` (the venue's brand colour on the dashboard);
* replay -- ``label`` (the live connection label), ``recordings``
  (:class:`RecordingNames`: how third-party recordings name the venue) and
  :meth:`Venue.connection_label` (which live connection a recorded frame came on);
* I/O as data -- :meth:`Venue.connections` (websocket :class:`ConnectionSpec`
  carrying :class:`Topic` s), :meth:`Venue.rest_polls` (:class:`RestPoll`),
  :meth:`Venue.auto_reply`, and where a public liquidation history exists
  :meth:`Venue.history` / :meth:`Venue.history_next` (:class:`HistoryPage`: the
  gap backfill after a reconnect, ``history_delay_s``, ``history_limit_per_min``);
* the subscription protocol -- :meth:`Venue.subscribe_request` (topics -> one
  request text), :meth:`Venue.control` (an ack / rejection / restart notice ->
  :class:`Control`), ``ack_timeout_s``, ``silence_s`` (per stream kind),
  ``rejection_silences``; and the listing -- :meth:`Venue.listed_symbols` /
  :meth:`Venue.next_page` over the ``instruments`` responses, refreshed every
  ``listing_refresh_s`` (``self.listing`` holds the last one);
* the pure parser -- ``_parse(data, received_at, connection) -> list[Event]``.

Error contract: :meth:`Venue.parse` raises :class:`FrameError` (only) for a frame
it cannot understand; :func:`safe_parse` is the entry point used by feeds and
replay and never raises. All network code lives in ``liqmap.feed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import msgspec

from liqmap.models import Event, Liquidation, Trade

if TYPE_CHECKING:
    from liqmap.exchanges.contracts import ContractSizes, ContractSpec

#: Event kinds a venue's public feeds can carry (``Venue.capabilities``).
CAPABILITIES: tuple[str, ...] = ("liquidations", "trades", "open_interest", "mark_price", "klines", "tickers")
#: ``complete``: the venue says its feed carries every liquidation; ``lower_bound``:
#: throttled or partial (e.g. one per symbol per second), totals undercount.
SAMPLINGS: tuple[str, ...] = ("complete", "lower_bound")


class FrameError(ValueError):
    """A frame is malformed or of an unknown shape. The message says why.

    ``partial`` holds the events of the frame's valid rows when only some rows
    were bad (one malformed liquidation in a batch of ten): the caller counts
    the error AND keeps those events, so one bad row does not lose its
    neighbours. Empty when nothing in the frame was usable.
    """

    def __init__(self, message: str, partial: "list[Event] | None" = None) -> None:
        super().__init__(message)
        self.partial: list[Event] = partial or []


#: Exceptions a parser may hit on hostile input; :meth:`Venue.parse` turns them into FrameError.
PARSE_ERRORS = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    ZeroDivisionError,
    OverflowError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class Heartbeat:
    """Application-level keep-alive for a connection.

    ``message`` is sent every ``interval_s`` seconds (text as-is; ``None`` means
    the venue uses protocol-level ping frames, answered by the websocket
    library). ``is_pong`` recognises the venue's reply so it is not counted as
    an unknown frame.
    """

    interval_s: float | None
    message: str | None = None
    is_pong: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class Topic:
    """One subscription the venue acknowledges or rejects on its own.

    Fields:
        key: the venue's own name of the topic, as its acks and errors name it
            (``allLiquidation.BTCUSDT``, ``liquidation``, ``liquidation-orders:SWAP``);
            :meth:`Venue.control` reports keys in this form.
        kind: stream kind, one of :data:`CAPABILITIES` (``liquidations``,
            ``trades``...): picks the silence threshold (``Venue.silence_s``), and
            a connection whose ``liquidations`` topics are not acknowledged is not ok.
        arg: what a subscribe request carries for it (a string or an object);
            None = ``key``.
    """

    key: str
    kind: str = "liquidations"
    arg: Any = None

    @property
    def request_arg(self) -> Any:
        """The request argument (``arg``, else ``key``)."""
        return self.key if self.arg is None else self.arg


#: ``Control.kind`` values: the venue acknowledged topics, rejected them, or announced
#: that it will close the connection soon (service restart).
CONTROL_KINDS: tuple[str, ...] = ("ack", "reject", "restart")


@dataclass(frozen=True)
class Control:
    """What one control frame says (:meth:`Venue.control`).

    Fields:
        kind: ``ack``, ``reject`` or ``restart`` (:data:`CONTROL_KINDS`).
        keys: topic keys the frame names (an ack per topic; the bad topic of a
            rejection, when the venue names it).
        request: the request id the venue echoed (as text), when it echoes one;
            an ack with a request id and no keys acknowledges every topic of that
            request, a rejection rejects the request as a whole.
        reason: the venue's own words (error code and message), for logs and health.
        request_keys: the topics of the request the frame answers, as the venue
            echoes them (BitMEX echoes the request's args, no id): identifies the
            request when there is no id.
        exhaustive: an ack listing every topic its request got (Deribit's
            ``result``): the request's other topics were refused.
        carries_data: the frame is ALSO data to parse (dYdX's ``subscribed`` answer
            holds the market's recent trades).
    """

    kind: str
    keys: tuple[str, ...] = ()
    request: str | None = None
    reason: str = ""
    request_keys: tuple[str, ...] = ()
    exhaustive: bool = False
    carries_data: bool = False


@dataclass(frozen=True)
class ConnectionSpec:
    """One websocket connection to open for a venue.

    Fields:
        label: short name (``"usdm"``, ``"linear"``, ``"swap"``).
        url: full websocket URL (may already carry stream names).
        subscribe: messages to send after every (re)connect, before the topics'
            requests, in order (not tracked: ``public/set_heartbeat``...).
        heartbeat: keep-alive rule.
        max_lifetime_s: venue-imposed connection lifetime; the feed rotates the
            connection before it ends (``None`` = no limit).
        stale_after_s: liveness watchdog: reconnect (a Gap) when no frame at all,
            heartbeat replies included, arrives for this long.
        topics: the subscriptions, tracked until acknowledged; the feed sends them
            with :meth:`Venue.subscribe_request` in requests within ``Venue.limits``
            (liquidation topics in requests of their own) and spreads them over
            several connections when ``limits.topics_per_connection`` /
            ``chars_per_connection`` require it.
        topics_in_url: the topics are named in ``url`` (Binance combined streams):
            nothing is sent for them; an ack comes from the venue's answer to
            ``ack_probe`` or from the first data frame.
        ack_probe: a message sent after subscribing whose answer acknowledges the
            topics (Binance ``LIST_SUBSCRIPTIONS``), or None.
        fallback_urls: tried in order when ``url`` cannot be connected to
            (OKX port 8443 -> 443).
        headers: extra HTTP headers of the websocket handshake (Gate
            ``X-Gate-Size-Decimal: 1``: sizes as decimal strings).
    """

    label: str
    url: str
    subscribe: Sequence[str] = ()
    heartbeat: Heartbeat = field(default_factory=lambda: Heartbeat(None))
    max_lifetime_s: float | None = None
    stale_after_s: float = 60.0
    topics: Sequence[Topic] = ()
    topics_in_url: bool = False
    ack_probe: str | None = None
    fallback_urls: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestPoll:
    """A public REST endpoint polled as a fallback or for data without a stream.

    ``url`` is requested every ``interval_s`` seconds; the response body is
    handed to ``Venue.parse`` like a websocket frame with connection label
    ``label``. ``weight``/``limit_per_min`` describe the venue's rate limit.
    ``fallback_urls`` are used in turn when ``url`` cannot be reached.
    """

    label: str
    url: str
    interval_s: float
    weight: int = 1
    limit_per_min: int | None = None
    fallback_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryPage:
    """One request of a venue's public liquidation history (gap backfill).

    Fields:
        url: the full request URL (under ``Venue.rest_url``).
        tag: a short name of what the request covers (``usdt``, ``BTC-PERPETUAL``),
            shown in the frame's connection label.
        cursor: the venue's paging state for :meth:`Venue.history_next` (a
            continuation token, the oldest height seen ...).
        weight: rate-limit units the request costs.
        fallback_urls: the same request on the venue's other REST hosts
            (``Venue.rest_fallbacks``), tried in order when ``url`` fails.
    """

    url: str
    tag: str = ""
    cursor: Any = None
    weight: int = 1
    fallback_urls: tuple[str, ...] = ()


#: Most symbols a venue instance caches per symbol table (:meth:`Venue._split`, contract info).
SPLIT_CACHE_MAX = 10_000

#: Connection label prefix of history (backfill) bodies: ``history:{start}:{end}:{tag}``.
HISTORY_PREFIX = "history:"


def history_label(start_ms: int, end_ms: int, tag: str = "") -> str:
    """Connection label of a history body fetched for the window ``(start_ms, end_ms]``."""
    return f"{HISTORY_PREFIX}{int(start_ms)}:{int(end_ms)}:{tag}"


def history_window(label: str) -> tuple[int, int] | None:
    """``(start_ms, end_ms)`` of a :func:`history_label`, None for any other label."""
    if not label.startswith(HISTORY_PREFIX):
        return None
    parts = label.split(":", 3)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Limits:
    """Venue-imposed (or venue-advised) connection limits, as data.

    Fields (``None`` = no limit applied):
        args_per_subscribe: topics per subscribe request; the feed splits the
            :class:`Topic` s of a connection accordingly.
        topics_per_connection: streams/topics one connection carries; more open
            further connections.
        max_lifetime_s: connection lifetime; the feed rotates before it ends.
        chars_per_connection: total characters of the request args one connection
            may carry (Bybit: 21,000); more open further connections.
        subscribes_per_s: subscribe requests (any client message) per second on
            one connection; the feed paces its requests under it.
        subscribes_per_hour: subscribe requests per connection per hour (OKX 480):
            the feed stops retrying before it.
        connections_per_s: new connections per second (per IP); the feed spaces
            the opening of a venue's connections accordingly.
        users: user-specific subscriptions per IP (Hyperliquid: 10).
    """

    args_per_subscribe: int | None = None
    topics_per_connection: int | None = None
    max_lifetime_s: float | None = None
    chars_per_connection: int | None = None
    subscribes_per_s: float | None = None
    subscribes_per_hour: int | None = None
    connections_per_s: float | None = None
    users: int | None = None


@dataclass(frozen=True)
class RecordingNames:
    """How third-party recordings name a venue (the replay readers read this).

    Fields:
        cryptofeed: cryptofeed exchange ids (a sample file's name prefix, ``BINANCE_FUTURES``).
        tardis: tardis-node exchange ids; a trailing ``*`` matches a prefix (``bybit*``).
        hosts: URL hosts of old recordings besides the hosts of the venue's own
            endpoints (which are always recognised).
    """

    cryptofeed: tuple[str, ...] = ()
    tardis: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


class Venue:
    """Base class of every venue: declarations (module docstring) + the guarded parser.

    Args:
        contracts: contract-size registry (default: the process-wide one).
        ws_url: websocket URL/base replacing ``default_ws`` (e.g. a 127.0.0.1 test server).
        rest_url: REST base replacing ``default_rest``.
        kline_interval: candle interval of the ``klines`` topics for given symbols
            (``1m``; venues whose ``capabilities`` hold ``klines``).

    Venue-specific options are keyword-only arguments of a subclass
    ``__init__(self, *args, option=default, **kw)`` that sets them, then calls
    ``super().__init__(*args, **kw)``.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[tuple[str, ...]] = ("liquidations",)
    sampling: ClassVar[str] = "complete"
    rest_liquidations: ClassVar[bool] = False
    default_ws: ClassVar[str] = ""
    default_rest: ClassVar[str] = ""
    limits: ClassVar[Limits] = Limits()
    #: Quote family of a query (``USDT``, ``USDC``, ``USD``) -> the quote this venue
    #: lists perpetuals in for it; a family absent here has no strict match on the venue.
    quote_families: ClassVar[Mapping[str, str]] = {}
    #: Symbol grammar as data, for a venue naming its perpetuals ``<BASE><sep><QUOTE>[<sep>...]``
    #: (OKX ``BTC-USDT-SWAP``, Gate ``BTC_USDT``); other venues override :meth:`native_symbols`
    #: and :meth:`base_quote`. ``symbol_format`` names a perpetual from ``{base}`` and
    #: ``{quote}`` (``"{base}-{quote}-SWAP"``), ``symbol_quotes`` are the quotes of an
    #: underlying's perpetuals when no quote is asked, in order, and ``symbol_sep`` splits
    #: one: base and quote are its first two parts (upper-cased).
    symbol_format: ClassVar[str] = ""
    symbol_quotes: ClassVar[tuple[str, ...]] = ()
    symbol_sep: ClassVar[str] = ""
    #: Public instruments endpoints (paths under ``default_rest``; a ``(path, json_body)``
    #: pair is POSTed): the venue's listing (:meth:`listed_symbols`) and contract sizes
    #: (:meth:`contract_specs`).
    instruments: ClassVar[tuple[str | tuple[str, Any], ...]] = ()
    #: Other REST bases serving the same API, tried in order when ``default_rest`` fails.
    rest_fallbacks: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str] = "public"
    recordings: ClassVar[RecordingNames] = RecordingNames()
    #: Dashboard colour (CSS hex), the venue's brand colour; None = a neutral grey.
    color: ClassVar[str | None] = None
    #: Taker fee of the venue's base (non-VIP) tier for perpetuals, in bps, from its public fee
    #: page (cited where set); nets arbitrage spreads. None = unknown (the market view then uses
    #: its default, overridable per venue with ``LIQMAP_TAKER_FEES``).
    taker_fee_bps: ClassVar[float | None] = None
    #: Seconds a subscription may stay unanswered before it is sent again on its own.
    ack_timeout_s: ClassVar[float] = 10.0
    #: Seconds without a DATA frame (heartbeat replies and acks do not count) after
    #: which a connection is rotated make-before-break (no Gap), per stream kind; a
    #: connection uses the smallest value over the kinds of its topics. Liquidation-only
    #: streams are quiet for long stretches in calm markets, so theirs is long.
    silence_s: ClassVar[Mapping[str, float]] = {
        "liquidations": 3600.0, "trades": 300.0, "open_interest": 600.0,
        "mark_price": 300.0, "klines": 600.0, "tickers": 300.0,
    }  # fmt: skip
    #: True where one rejected topic can silence the other topics of its connection
    #: (Bybit, third-party report): a rejection then rotates the connection
    #: make-before-break, subscribing only the topics not rejected.
    rejection_silences: ClassVar[bool] = False
    #: True where a rejection refuses its whole request (Bybit, BitMEX): the request's
    #: other topics are then sent again one by one. False where the venue answers each
    #: topic on its own (OKX: one answer per arg).
    rejects_whole_request: ClassVar[bool] = True
    #: Seconds between re-reads of the ``instruments`` listing (new listings are
    #: subscribed without a restart); None = read once at start.
    listing_refresh_s: ClassVar[float | None] = 3600.0
    #: True for venues whose liquidation ids are built from the event's fields
    #: (no venue id): identical rows inside ONE frame are then distinct
    #: liquidations (two positions closed at the same price, size and ms) and the
    #: 2nd, 3rd ... get ``#2``, ``#3`` appended (:func:`distinct_in_frame`), so
    #: de-duplication by id does not merge them. The suffixes depend only on the
    #: frame, so replaying the same frame again gives the same ids.
    frame_repeats_are_distinct: ClassVar[bool] = False
    #: Seconds after a reconnect before the gap's window is fetched from the public
    #: liquidation history (venues publish it with a delay), see :meth:`history`.
    history_delay_s: ClassVar[float] = 5.0
    #: Rate limit of the history endpoint (weight units per minute), None = none known.
    history_limit_per_min: ClassVar[int | None] = None
    #: The venue's launch (ms UTC): an event time before it is implausible (the gate,
    #: :mod:`liqmap.exchanges.plausibility`). Default 2014-11-24, BitMEX's launch, the
    #: oldest venue liqmap knows; a venue declares its own.
    launched_ms: ClassVar[int] = 1_416_787_200_000

    def __init__(
        self,
        contracts: "ContractSizes | None" = None,
        ws_url: str | None = None,
        rest_url: str | None = None,
        kline_interval: str = "1m",
    ) -> None:
        from liqmap.exchanges.contracts import default_contracts

        self.contracts = contracts if contracts is not None else default_contracts()
        self.ws_url = (ws_url or self.default_ws).rstrip("/")
        self.rest_url = (rest_url or self.default_rest).rstrip("/")
        self.kline_interval = kline_interval
        #: :meth:`base_quote` per venue symbol seen, for the parsers' hot path (:meth:`_split`).
        self._split_cache: dict[str, tuple[str, str]] = {}
        #: ``(contracts.version, base, quote, inverse, size)`` per venue symbol (:meth:`_contract`).
        self._contract_cache: dict[str, tuple[int, str, str, bool, float]] = {}
        #: Symbols the venue lists (from ``instruments``, :meth:`set_listing`); None = not loaded.
        self.listing: frozenset[str] | None = None
        self._folded: dict[str, str] = {}
        from liqmap.exchanges.plausibility import PlausibilityGate

        #: Checks every event :meth:`parse` emits; its counters are this venue's rejections.
        self.gate = PlausibilityGate(self)
        self._init_state()

    def _init_state(self) -> None:
        """Set up the instance's parse state (symbol caches, last prices); called by
        ``__init__``. Venues keeping state override it."""

    # ------------------------------------------------------------------ I/O as data
    def connections(self, symbols: Sequence[str] | None = None) -> list[ConnectionSpec]:
        """Websocket connections to open (all-market when ``symbols`` is None)."""
        raise NotImplementedError

    def market_connections(self, symbols: Sequence[str]) -> list[ConnectionSpec]:
        """Connections carrying the per-symbol market data of ``symbols`` (trades, tickers,
        open interest, mark price, klines) and NO liquidation topics: what a feed adds to
        its all-market liquidation subscription for the instruments whose series it
        collects (``serve``'s heatmap underlyings). The feed joins a spec of the same URL
        and label with the all-market one (one socket, :func:`liqmap.feed.listing.merge_specs`).

        Default: :meth:`connections` ``(symbols)`` without its ``liquidations`` topics; a
        spec without topics (raw ``subscribe`` messages) is left out -- such a venue's
        all-market connection already carries what it can. Venues naming their topics in
        the URL override this.
        """
        out = []
        for spec in self.connections(symbols):
            topics = tuple(t for t in spec.topics if t.kind != "liquidations")
            if topics and not spec.topics_in_url:
                out.append(replace(spec, topics=topics))
        return out

    def rest_polls(self, symbols: Sequence[str] | None = None) -> list[RestPoll]:
        """REST endpoints to poll (may be empty)."""
        return []

    def history(
        self, start_ms: int, end_ms: int, symbols: Sequence[str] | None = None, connection: str = ""
    ) -> list[HistoryPage]:
        """First requests of the public liquidation history covering ``(start_ms, end_ms]``
        (ms UTC) for the subscribed ``symbols`` (None = all-market) of the live
        ``connection`` that had the gap (its label); [] where the venue keeps none
        (``rest_liquidations = False``). Their bodies are parsed by
        :meth:`parse` under :func:`history_label`; :func:`safe_parse` keeps the events
        inside the window, so ids that match the live ones de-duplicate the rest."""
        return []

    def history_next(self, page: HistoryPage, body: str, start_ms: int) -> HistoryPage | None:
        """The next page after ``page`` whose ``body`` was just read, while the history
        still reaches back to ``start_ms``; None when the window is covered. Default:
        single pages."""
        return None

    def subscribe_request(self, topics: Sequence[Topic], request_id: int) -> str:
        """Text of ONE subscribe request for ``topics`` (already within ``limits``).

        ``request_id`` is unique per connection; venues that echo an id in their
        answer put it in the request (Bybit ``req_id``, OKX ``id``, Deribit ``id``)
        and report it back in :attr:`Control.request` as text. Default: the common
        ``{"op":"subscribe","args":[...]}`` shape without an id.
        """
        return msgspec.json.encode({"op": "subscribe", "args": [t.request_arg for t in topics]}).decode()

    def control(self, data: str) -> Control | None:
        """What a control frame says (ack, rejection, restart notice), or None for
        any other frame. Called by the feed for every text frame before parsing, so
        it must be cheap (a substring check first) and must not raise."""
        return None

    @classmethod
    def listed_symbols(cls, body: str | bytes) -> list[str]:
        """Symbols a venue ``instruments`` response lists as tradable (what may be
        subscribed). Default: the symbols of :meth:`contract_specs`."""
        return [s.symbol for s in cls.contract_specs(body)]

    @classmethod
    def next_page(cls, body: str | bytes, url: str) -> str | None:
        """URL of the next page of a paginated ``instruments`` response, or None."""
        return None

    def set_listing(self, symbols: Sequence[str]) -> None:
        """Record the venue's listing (the feed calls it after reading ``instruments``)."""
        self.listing = frozenset(symbols)
        self._folded = {s.upper(): s for s in self.listing}

    def listed(self, symbol: str) -> str | None:
        """``symbol`` as the listing spells it (case-insensitive match: Hyperliquid
        lists ``kPEPE``), None when the venue does not list it; every symbol passes
        while no listing is loaded."""
        if self.listing is None or symbol in self.listing:
            return symbol
        return self._folded.get(symbol.upper())

    def frame_text(self, data: bytes) -> str:
        """Text of a binary websocket frame (default: UTF-8). Venues that compress
        their frames (HTX: gzip) decompress here; the feed calls it once per binary
        frame, before recording, control and parsing, so recordings hold the text.

        Raises:
            ValueError: bytes that are not a frame of this venue (counted as a parse error).
        """
        return data.decode("utf-8")

    def auto_reply(self, data: str) -> str | None:
        """Protocol message to send in answer to a received frame, or ``None``.

        Used for venue heartbeats that must be answered in-band (Deribit
        ``test_request`` -> ``public/test``; text ``ping`` -> ``pong``). Called by the
        feed for every text frame, so it must be cheap (a substring check first).
        """
        return None

    # ------------------------------------------------------------------ symbol grammar
    @classmethod
    def native_symbols(cls, base: str, quote: str | None = None) -> list[str]:
        """Venue perpetual symbol(s) of an underlying (``"BTC"`` -> ``["BTCUSDT"]``);
        with ``quote`` (one of ``quote_families`` values) the one in that quote.
        Default: ``symbol_format`` of each of ``symbol_quotes`` (or of ``quote``)."""
        if not cls.symbol_format:
            raise NotImplementedError
        b = base.upper()
        return [cls.symbol_format.format(base=b, quote=q.upper()) for q in ((quote,) if quote else cls.symbol_quotes)]

    @classmethod
    def base_quote(cls, symbol: str) -> tuple[str, str]:
        """``(base, quote)`` of a venue symbol, base normalised as events carry it.
        Default: the first two ``symbol_sep``-separated parts, upper-cased.

        Raises:
            FrameError: a symbol this venue's grammar cannot split.
        """
        if not cls.symbol_sep:
            raise NotImplementedError
        from liqmap.exchanges._common import split_delimited  # _common imports this module

        return split_delimited(symbol.upper(), cls.symbol_sep)

    def _split(self, symbol: str) -> tuple[str, str]:
        """:meth:`base_quote` of ``symbol``, cached (at most :data:`SPLIT_CACHE_MAX` symbols,
        so a feed naming endless garbage symbols cannot grow it). Parsers read
        ``self._split_cache.get(s) or self._split(s)`` on their hot path.

        Raises:
            FrameError: a symbol the venue's grammar cannot split (not cached).
        """
        r = self._split_cache.get(symbol)
        if r is None:
            r = self.base_quote(symbol)
            if len(self._split_cache) < SPLIT_CACHE_MAX:
                self._split_cache[symbol] = r
        return r

    def _contract(self, symbol: str) -> tuple[int, str, str, bool, float]:
        """``(contracts.version, base, quote, inverse, size)`` of a venue symbol: :meth:`_split`
        and its :attr:`contracts` spec (``inverse``: ``size`` USD per contract, else ``size``
        base coins per contract), cached (bounded) and read again once the registry's version
        moves (instruments loaded or refreshed). Parsers read ``c = self._contract_cache.get(s)``
        and call this when ``c is None or c[0] != self.contracts.version``.

        Raises:
            FrameError: a symbol the venue's grammar cannot split (not cached).
        """
        c = self._contract_cache.get(symbol)
        if c is None or c[0] != self.contracts.version:
            base, quote = self._split(symbol)
            spec = self.contracts.get(self.name, symbol)
            c = (self.contracts.version, base, quote, spec.kind == "inverse", spec.size)
            if len(self._contract_cache) < SPLIT_CACHE_MAX:
                self._contract_cache[symbol] = c
        return c

    # ------------------------------------------------------------------ contract sizes
    @classmethod
    def contract_specs(cls, body: str | bytes) -> "list[ContractSpec]":
        """Contract specs from one ``instruments`` response body ([] for none)."""
        return []

    @classmethod
    def contract_fallback(cls, symbol: str) -> "ContractSpec":
        """Documented spec used until (or if never) the instruments endpoint loads.

        Default: one contract is one base coin (venues quoting sizes in coins).
        """
        from liqmap.exchanges.contracts import ContractSpec

        return ContractSpec(cls.name, symbol, "linear", 1.0, "USD", "fallback")

    # ------------------------------------------------------------------ replay
    @classmethod
    def connection_label(cls, url: str | None = None, message: Any = None) -> str:
        """Label of the live connection that carries a recorded frame, from the
        recording's connection ``url`` or the decoded ``message`` (replayed frames
        report health and gaps under the live names). Default: ``label``."""
        return cls.label

    # ------------------------------------------------------------------ parsing
    def parse(self, data: str | bytes, received_at: int, connection: str = "") -> list[Event]:
        """Parse one raw frame into normalized events (``[]`` for acks, pongs).

        Every event passes the venue's plausibility gate (:attr:`gate`): implausible ones are
        dropped and counted there, far-priced liquidations come out as
        :class:`~liqmap.models.Quarantined`.

        Raises:
            FrameError: malformed JSON, unknown shape, or invalid values
                (message says which; ``partial`` holds the valid rows' events).
        """
        try:
            out = self._parse(data, received_at, connection)
            if len(out) > 1 and self.frame_repeats_are_distinct:
                out = distinct_in_frame(out)
            return self.gate.filter(out) if out else out
        except FrameError as exc:
            if self.frame_repeats_are_distinct and len(exc.partial) > 1:
                exc.partial = distinct_in_frame(exc.partial)
            exc.partial = self.gate.filter(exc.partial)
            raise
        except PARSE_ERRORS as exc:
            raise FrameError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        except RecursionError as exc:  # absurdly nested input
            raise FrameError(f"{self.name}: frame nested too deeply") from exc

    def _parse(self, data: str | bytes, received_at: int, connection: str) -> list[Event]:
        """The venue's parser (pure, no I/O); may raise anything in :data:`PARSE_ERRORS`."""
        raise NotImplementedError

    #: Seconds without any liquidation after which health warns (:attr:`HealthStatus.warnings`):
    #: for a source that can go stale unseen (Hyperliquid's fixed liquidator addresses); None = never.
    liquidation_silence_s: float | None = None

    def silence_hint(self) -> str:
        """What to check when :attr:`liquidation_silence_s` passed without a liquidation."""
        return ""

    def drain(self, received_at: int) -> list[Event]:
        """Events the parser still holds at the end of a stream (a replay's last frame, an
        adapter's stop; ``received_at``: ms UTC of that end), through the gate -- a venue that
        holds events for a value (BitMEX) emits them here, valued or as ``unvalued``
        :class:`~liqmap.models.Quarantined`, never dropped silently. ``[]`` by default."""
        return []


def distinct_in_frame(events: list[Event]) -> list[Event]:
    """Give repeated liquidation ids within one frame a ``#k`` suffix (k = 2, 3, ...).

    Only :class:`~liqmap.models.Liquidation` ids are touched; a frame of other
    events (one channel per frame) returns at once, and the common case (all ids
    distinct) returns ``events`` unchanged after one set check.
    """
    t0, t1 = type(events[0]), type(events[-1])
    if t0 is not Liquidation and t1 is not Liquidation:
        return events
    if len(events) == 2:  # the common multi-event frame: one comparison, no set
        if t0 is not t1 or events[0].id != events[1].id:
            return events
    elif t0 is t1 and len({e.id for e in events}) == len(events):
        return events  # one kind per frame, all ids distinct: the common case, one set
    liqs = [e.id for e in events if type(e) is Liquidation]
    if len(set(liqs)) == len(liqs):
        return events
    seen: dict[str, int] = {}
    out: list[Event] = []
    for e in events:
        if type(e) is Liquidation:
            k = seen[e.id] = seen.get(e.id, 0) + 1
            if k > 1:
                e = msgspec.structs.replace(e, id=f"{e.id}#{k}")
        out.append(e)
    return out


def safe_parse(
    venue: Venue, data: str | bytes, received_at: int, connection: str = ""
) -> tuple[list[Event], str | None]:
    """Parse a frame and never raise: returns ``(events, error)``.

    ``error`` is ``None`` on success, otherwise a one-line reason (the frame is
    counted as a parse error by the caller and the feed continues). With an
    error, ``events`` are the frame's valid rows (:attr:`FrameError.partial`),
    usually ``[]``.
    """
    try:
        events = venue.parse(data, received_at, connection)
    except FrameError as exc:
        return in_history_window(exc.partial, connection), str(exc)
    except Exception as exc:  # a parser bug must not kill a feed
        return [], f"{type(exc).__name__}: {exc}"
    if connection[:8] == HISTORY_PREFIX:
        return in_history_window(events, connection), None
    return events, None


def in_history_window(events: list[Event], connection: str) -> list[Event]:
    """A history body's liquidations and trades inside its window ``(start, end]``
    (:func:`history_label`); any other label returns ``events`` unchanged. Live and
    replay both parse through here, so a replayed backfill gives the same events."""
    window = history_window(connection)
    if window is None or not events:
        return events
    start, end = window
    return [e for e in events if type(e) in (Liquidation, Trade) and start < e.timestamp <= end]
