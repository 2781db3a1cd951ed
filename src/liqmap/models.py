"""Normalized market events: the one schema every part of liqmap speaks.

All events are immutable ``msgspec.Struct`` values (fast to build, encode and
compare). Conventions, stated once here and relied on everywhere:

* Times are integers in **milliseconds since the Unix epoch, UTC**.
* ``timestamp`` is the exchange's event time; where a venue sends none (BitMEX
  ``liquidation`` rows) it is the receipt time, ``timestamp == received_at`` and a
  liquidation says so (``receipt_time=True``).
* ``quantity`` is always in **base-asset units** (BTC for BTCUSDT), after
  contract-size conversion (OKX ``ctVal``, Binance COIN-M ``contractSize``,
  BitMEX/Deribit/Bybit-inverse USD contracts divided by price, ...). For
  1000-lot symbols (``1000PEPEUSDT``) the base asset is the lot (``1000PEPE``),
  exactly as the venue quotes price and quantity.
* ``value_usd`` is the notional in USD. Stablecoin quotes (USDT, USDC, USD) are
  taken at par with USD; this is documented, not hidden.
* A liquidation's ``side`` is the side of the **position that was
  liquidated**: ``"long"`` or ``"short"``. Venues report this differently
  (Binance/OKX/BitMEX give the liquidation *order* side, so SELL = long; Bybit
  gives the *position* side, so ``S: Buy`` = long); each venue parser converts
  once, at the edge. See ``docs`` in each ``liqmap.exchanges.<venue>`` module.
* A trade's ``side`` is the **taker (aggressor) side**: ``"buy"`` or ``"sell"``.
"""

from __future__ import annotations

from typing import Literal, Union

import msgspec

PositionSide = Literal["long", "short"]
TakerSide = Literal["buy", "sell"]


class _Print(msgspec.Struct, frozen=True, gc=False):
    """The fields a liquidation and a trade share, in this order (see :class:`Liquidation`).

    ``side`` is typed by each subclass (position side vs taker side); a subclass's
    re-declaration keeps the field at this position, so the encoded layout is unchanged.
    """

    exchange: str
    symbol: str
    base: str
    quote: str
    side: str
    price: float
    quantity: float
    value_usd: float
    timestamp: int
    received_at: int
    id: str


class Liquidation(_Print, frozen=True, gc=False):
    """One forced close of a leveraged position.

    Fields:
        exchange: venue id, e.g. ``"binance"``, ``"bybit"``, ``"okx"``.
        symbol: venue-native instrument name (``BTCUSDT``, ``BTC-USDT-SWAP``,
            ``XBTUSD``, ``BTC-PERPETUAL``, ``BTC``).
        base: base asset (``BTC``; BitMEX ``XBT`` is reported as ``BTC``).
        quote: quote asset (``USDT``, ``USD``, ``USDC``).
        side: position liquidated, ``"long"`` | ``"short"``.
        price: average fill price where the venue gives one (Binance ``ap``),
            else the order / bankruptcy price (Bybit ``p``, OKX ``bkPx``), in quote units.
        quantity: size in base-asset units (after contract-size conversion).
        value_usd: notional in USD (quote value; USDT/USDC at par).
        timestamp: exchange event time, ms since epoch UTC (receipt time when
            the venue gives none).
        received_at: local receipt time, ms since epoch UTC.
        id: stable de-duplication key, unique per venue event.
        order_side: raw order/position side string exactly as the venue sent it.
        status: raw order status where the venue gives one (Binance ``X``).
        receipt_time: True where the venue gives no event time (BitMEX liquidation rows,
            a frame without one): ``timestamp`` is then the local receipt time.
    """

    side: PositionSide
    order_side: str | None = None
    status: str | None = None
    receipt_time: bool = False


class Trade(_Print, frozen=True, gc=False):
    """One public trade print.

    ``side`` is the taker side (``"buy"`` = aggressive buyer). ``quantity`` is in
    base units, ``value_usd`` the notional. ``liquidation`` is True when the
    venue flags the trade as caused by a liquidation (Deribit, dYdX, Kraken).
    """

    side: TakerSide
    liquidation: bool = False


class OpenInterest(msgspec.Struct, frozen=True, gc=False):
    """Open interest of one instrument at one time.

    ``open_interest`` is in base units (one side of the book, i.e. the number
    of open contracts converted to coins); ``open_interest_usd`` is its USD
    value at the venue's reference price, or ``None`` when not derivable.
    """

    exchange: str
    symbol: str
    base: str
    quote: str
    open_interest: float
    open_interest_usd: float | None
    timestamp: int
    received_at: int


class Kline(msgspec.Struct, frozen=True, gc=False):
    """One OHLCV candle.

    ``open_time``/``close_time`` in ms UTC; prices in quote units; ``volume``
    and ``taker_buy_volume`` in base units; ``quote_volume`` and
    ``taker_buy_quote_volume`` in quote units. ``closed`` is False while the
    candle is still forming.
    """

    exchange: str
    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float | None = None
    taker_buy_volume: float | None = None
    taker_buy_quote_volume: float | None = None
    trades: int | None = None
    closed: bool = True


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """One instrument's market summary: whatever fields the venue's message carries.

    Venues spread these over several channels (Binance ``bookTicker`` / ``markPrice`` /
    ``ticker``; OKX ``tickers`` / ``mark-price`` / ``funding-rate``; Bybit sends deltas), so a
    field the message did not carry is ``None``, never 0: consumers merge the non-None fields
    per ``(exchange, symbol)`` (:class:`liqmap.analytics.quotes.QuoteBoard`).

    Units: prices in quote units; ``bid_size`` / ``ask_size`` (best level), ``volume_24h`` and
    ``open_interest`` in BASE units after contract-size conversion; ``volume_24h_usd`` and
    ``open_interest_usd`` in USD (USDT/USDC at par); ``funding_rate`` is the fraction paid per
    funding interval (0.0001 = 0.01 %; positive = longs pay shorts); ``next_funding_time``,
    ``timestamp`` (exchange time) and ``received_at`` in ms UTC.
    """

    exchange: str
    symbol: str
    timestamp: int
    received_at: int
    last_price: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    funding_rate: float | None = None
    open_interest: float | None = None
    bid_price: float | None = None
    bid_size: float | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    volume_24h: float | None = None
    volume_24h_usd: float | None = None
    next_funding_time: int | None = None
    open_interest_usd: float | None = None


#: The value fields of :class:`Ticker` (everything but its identity and times), in the order the
#: quote board, the 1-second ticker series and the Redis hashes use.
TICKER_VALUE_FIELDS = ("bid_price", "bid_size", "ask_price", "ask_size", "last_price", "mark_price", "index_price",
                       "volume_24h", "volume_24h_usd", "funding_rate", "next_funding_time", "open_interest",
                       "open_interest_usd")


class Gap(msgspec.Struct, frozen=True, gc=False):
    """An interval with no coverage for one venue connection.

    ``start`` is the receipt time of the last frame before the disconnect (or
    the disconnect time), ``end`` the time the stream resumed, both ms UTC.
    ``reason`` is a short machine-readable cause (``"closed"``, ``"stale"``,
    ``"rotation"``, ``"error"``).

    ``filled`` is False when the gap is reported; where the venue keeps a public
    liquidation history, the feed fetches the gap's window from it afterwards and
    reports the SAME gap again (same exchange, connection, start, end) with
    ``filled=True``: the liquidations of the window arrived from REST and the stored
    gap is marked filled (:mod:`liqmap.feed.backfill`).
    """

    exchange: str
    connection: str
    start: int
    end: int
    reason: str
    filled: bool = False


class Quarantined(msgspec.Struct, frozen=True, gc=False):
    """A liquidation stored apart, not as a normal event (the plausibility gate,
    :mod:`liqmap.exchanges.plausibility`).

    Fields:
        exchange: venue id.
        id: the liquidation's id (the storage key of the quarantine table).
        reason: ``price_far`` (price more than 4x from the symbol's recent price) or
            ``unvalued`` (no USD value could be computed: a BitMEX liquidation still held
            for an XBT/USD price when its replay or feed ended).
        reference_price: the recent price it was compared with (quote units), or None.
        event: the liquidation as parsed (``value_usd`` NaN when unvalued).
    """

    exchange: str
    id: str
    reason: str
    reference_price: float | None
    event: Liquidation


Event = Union[Liquidation, Trade, OpenInterest, Kline, Ticker, Gap, Quarantined]

_encoder = msgspec.json.Encoder()


def to_json(event: Event) -> bytes:
    """Encode one event as a JSON object (field names exactly as the struct)."""
    return _encoder.encode(event)


def to_dict(event: Event) -> dict:
    """Return the event as a plain ``dict`` (JSON-ready builtins)."""
    return msgspec.to_builtins(event)


def event_type(event: Event) -> str:
    """Lower-case type name of an event: ``liquidation``, ``trade``, ``gap``..."""
    return type(event).__name__.lower()
