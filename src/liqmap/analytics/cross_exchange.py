"""Cross-exchange view of one underlying in one quote family (pure; numbers from quotes + a clock).

:func:`cross_exchange_data` turns the :class:`~liqmap.analytics.quotes.Quote` s of one
``(base, family)`` into a :class:`CrossExchangeData` at time ``now_ms``. Definitions (all
documented numbers are parameters with these defaults):

* A venue's **price** is its mid ``(bid + ask) / 2`` when it has both, else its last trade
  price, else its mark price. A venue whose newest receipt is older than ``stale_ms`` [10 s]
  is listed (``stale = True``) but left out of every aggregate.
* **aggregated_price** = sum(w_i x price_i) / sum(w_i) with w_i = 24 h USD volume when EVERY
  included venue reports one (``weighting = "volume"``), else equal weights
  (``weighting = "equal"``) -- a venue is never dropped silently for lacking a volume.
* **price_variance** = sum(w_i (price_i - aggregated_price)^2) / sum(w_i) (quote units^2, same
  weights); ``price_std_bps`` = its square root / aggregated_price x 10,000.
* **max_spread_bps** = (max price - min price) / aggregated_price x 10,000 (0 with one venue).
* **volume_total** = sum of the venues' 24 h USD volumes (``volume_total_base`` in base units);
  ``open_interest_total`` likewise (base units, and USD where known).
* **liquidity_score** (0-100), for the consolidated top of book and per venue alike:
  ``100 x (0.4 depth + 0.3 spread + 0.3 volume)`` over the components that are known
  (weights renormalised), with
  ``depth = clip(log10(depth_usd / 1,000) / 4)`` (1k USD -> 0, 10M -> 1), where depth_usd is
  the USD value of the best bid and best ask sizes quoted within 10 bps of the mid (per venue:
  its own mid; consolidated: the mid of the best bid and best ask over venues, summing every
  venue's top level inside the band);
  ``spread = clip(1 - spread_bps / 20)`` (0 bps -> 1, >= 20 bps -> 0; consolidated spread =
  best ask - best bid over venues, 0 when crossed);
  ``volume = clip(log10(volume_usd / 1e6) / 4)`` (1M USD -> 0, 10B -> 1).
* **arbitrage_opportunities**: every ordered venue pair (buy at A's best ask, sell at B's best
  bid) with ``net_bps = gross_bps - fee_A - fee_B > min_net_bps`` [0], where
  ``gross_bps = (bid_B - ask_A) / ((bid_B + ask_A) / 2) x 10,000`` and fees are each venue's
  taker fee in bps (``fees_bps``, else ``default_fee_bps`` [5]); ``funding_spread`` = B's
  funding rate - A's (the short leg's minus the long leg's; each per its own interval). Best
  first. Here they are instantaneous (``opened_at = now``); :class:`liqmap.analytics.arbitrage.ArbitrageTracker`
  gives them open -> close durations.

Cost: O(n log n) for n venues (the pair scan stops at the first pair below the fee floor).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import msgspec

from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.quotes import Quote
from liqmap.units import SECOND_MS

DEFAULT_STALE_MS = 10 * SECOND_MS
DEFAULT_FEE_BPS = 5.0
DEPTH_BAND_BPS = 10.0
LIQUIDITY_WEIGHTS = {"depth": 0.4, "spread": 0.3, "volume": 0.3}


class ExchangeSnapshot(msgspec.Struct):
    """One venue's part of a :class:`CrossExchangeData` (units as :class:`~liqmap.models.Ticker`).

    ``price`` (see module docstring; None when the venue has no price yet), ``spread_bps``
    ((ask - bid) / mid x 10,000), ``depth_usd`` (top-of-book USD within 10 bps of its mid),
    ``liquidity_score`` (0-100), ``age_ms`` (now - newest receipt), ``stale``.
    """

    exchange: str
    symbol: str
    price: float | None
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    last: float | None
    mark: float | None
    index: float | None
    spread_bps: float | None
    depth_usd: float | None
    volume_24h: float | None
    volume_24h_usd: float | None
    funding_rate: float | None
    next_funding_time: int | None
    open_interest: float | None
    open_interest_usd: float | None
    liquidity_score: float | None
    updated_at: int
    age_ms: int
    stale: bool


class CrossExchangeData(msgspec.Struct):
    """The cross-exchange view of ``base`` in ``quote_family`` at ``timestamp`` (ms UTC).

    Fields (module docstring for definitions): ``aggregated_price`` (quote units, None without
    prices), ``weighting``, ``price_variance`` (quote units^2), ``price_std_bps``,
    ``max_spread_bps``, ``best_bid`` / ``best_ask`` and their exchanges, ``volume_total`` (USD),
    ``volume_total_base``, ``open_interest_total`` (base), ``open_interest_total_usd``,
    ``funding_spread`` (max - min funding rate of the included venues), ``liquidity_score``
    (0-100), ``depth_usd`` (consolidated, within 10 bps), ``venues`` (included count),
    ``stale_venues``, ``exchanges_data`` (exchange -> :class:`ExchangeSnapshot`, stale ones too;
    ``exchange:symbol`` when a venue has two instruments in the family) and
    ``arbitrage_opportunities`` (best first).
    """

    base: str
    quote_family: str
    timestamp: int
    aggregated_price: float | None
    weighting: str
    price_variance: float | None
    price_std_bps: float | None
    max_spread_bps: float | None
    best_bid: float | None
    best_bid_exchange: str | None
    best_ask: float | None
    best_ask_exchange: str | None
    volume_total: float
    volume_total_base: float
    open_interest_total: float
    open_interest_total_usd: float
    funding_spread: float | None
    liquidity_score: float | None
    depth_usd: float | None
    venues: int
    stale_venues: list[str]
    exchanges_data: dict[str, ExchangeSnapshot]
    arbitrage_opportunities: list[ArbitrageOpportunity]


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def liquidity_score(depth_usd: float | None, spread_bps: float | None, volume_usd: float | None) -> float | None:
    """0-100 from top-of-book depth (USD within 10 bps), spread (bps) and 24 h volume (USD);
    the formula is in the module docstring. None when all three are unknown."""
    parts = []
    if depth_usd is not None:
        parts.append((LIQUIDITY_WEIGHTS["depth"], _clip(math.log10(depth_usd / 1e3) / 4) if depth_usd > 0 else 0.0))
    if spread_bps is not None:
        parts.append((LIQUIDITY_WEIGHTS["spread"], _clip(1.0 - spread_bps / 20.0)))
    if volume_usd is not None:
        parts.append((LIQUIDITY_WEIGHTS["volume"], _clip(math.log10(volume_usd / 1e6) / 4) if volume_usd > 0 else 0.0))
    if not parts:
        return None
    return 100.0 * sum(w * v for w, v in parts) / sum(w for w, _ in parts)


def _price(q: Quote) -> float | None:
    if q.bid_price and q.ask_price:
        return (q.bid_price + q.ask_price) / 2.0
    return q.last_price or q.mark_price or None


def _band_depth(q: Quote, mid: float) -> float | None:
    """USD of q's best bid/ask sizes whose prices lie within DEPTH_BAND_BPS of ``mid``."""
    lo, hi = mid * (1 - DEPTH_BAND_BPS / 1e4), mid * (1 + DEPTH_BAND_BPS / 1e4)
    usd, known = 0.0, False
    if q.bid_price and q.bid_size is not None:
        known = True
        if q.bid_price >= lo:
            usd += q.bid_price * q.bid_size
    if q.ask_price and q.ask_size is not None:
        known = True
        if q.ask_price <= hi:
            usd += q.ask_price * q.ask_size
    return usd if known else None


def _snapshot(q: Quote, now_ms: int, stale_ms: int) -> ExchangeSnapshot:
    price = _price(q)
    spread = depth = None
    if q.bid_price and q.ask_price:
        spread = (q.ask_price - q.bid_price) / price * 1e4
        depth = _band_depth(q, price)
    age = now_ms - q.received_at
    return ExchangeSnapshot(
        q.exchange, q.symbol, price, q.bid_price, q.ask_price, q.bid_size, q.ask_size, q.last_price, q.mark_price,
        q.index_price, spread, depth, q.volume_24h, q.volume_24h_usd, q.funding_rate, q.next_funding_time,
        q.open_interest, q.open_interest_usd,
        liquidity_score(depth, None if spread is None else max(spread, 0.0), q.volume_24h_usd),
        q.updated_at, age, age > stale_ms)  # fmt: skip


def arbitrage_candidates(base: str, family: str, quotes: Sequence[Quote], now_ms: int,
                         fees_bps: Mapping[str, float] | None = None, default_fee_bps: float = DEFAULT_FEE_BPS,
                         min_net_bps: float = 0.0) -> list[ArbitrageOpportunity]:
    """Instantaneous opportunities between the quotes' best bids and asks (module docstring),
    best first. Quotes without a bid or ask take no part."""
    fees = fees_bps or {}
    fee = {q.exchange: fees.get(q.exchange, default_fee_bps) for q in quotes}
    asks = sorted((q for q in quotes if q.ask_price), key=lambda q: q.ask_price)
    bids = sorted((q for q in quotes if q.bid_price), key=lambda q: -q.bid_price)
    floor = 2 * min(fee.values(), default=0.0) + min_net_bps  # no pair nets more gross below this
    out = []
    for a in asks:
        if bids and (bids[0].bid_price - a.ask_price) / a.ask_price * 1e4 <= floor:
            break  # an upper bound of every remaining pair's gross: asks only get higher
        for b in bids:
            if b.exchange == a.exchange:
                continue
            gross = (b.bid_price - a.ask_price) / ((b.bid_price + a.ask_price) / 2.0) * 1e4
            if gross <= floor:
                break  # bids only get lower from here
            f = fee[a.exchange] + fee[b.exchange]
            net = gross - f
            if net <= min_net_bps:
                continue
            fs = b.funding_rate - a.funding_rate if a.funding_rate is not None and b.funding_rate is not None else None
            out.append(ArbitrageOpportunity(
                id=f"{base}/{family}:{a.exchange}>{b.exchange}:{now_ms}", base=base, quote_family=family,
                buy_exchange=a.exchange, buy_symbol=a.symbol, buy_price=a.ask_price, sell_exchange=b.exchange,
                sell_symbol=b.symbol, sell_price=b.bid_price, gross_bps=gross, fees_bps=f, net_bps=net,
                peak_net_bps=net, funding_spread=fs, opened_at=now_ms, updated_at=now_ms, closed_at=None,
                duration_ms=0))
    out.sort(key=lambda o: -o.net_bps)
    return out


def cross_exchange_data(base: str, family: str, quotes: Sequence[Quote], now_ms: int,
                        stale_ms: int = DEFAULT_STALE_MS, fees_bps: Mapping[str, float] | None = None,
                        default_fee_bps: float = DEFAULT_FEE_BPS, min_net_bps: float = 0.0) -> CrossExchangeData:
    """The :class:`CrossExchangeData` of ``quotes`` (one underlying and family) at ``now_ms``."""
    snaps = [(q, _snapshot(q, now_ms, stale_ms)) for q in quotes]
    multi = len({q.exchange for q in quotes}) < len(quotes)
    data = {(f"{q.exchange}:{q.symbol}" if multi else q.exchange): s for q, s in snaps}
    live = [(q, s) for q, s in snaps if not s.stale and s.price is not None]
    stale = sorted(s.exchange for _, s in snaps if s.stale)
    agg = var = std = spread = None
    weighting = "equal"
    if live:
        vols = [s.volume_24h_usd for _, s in live]
        if all(v is not None and v > 0 for v in vols):
            weights, weighting = vols, "volume"
        else:
            weights = [1.0] * len(live)
        total_w = sum(weights)
        agg = sum(w * s.price for w, (_, s) in zip(weights, live)) / total_w
        var = sum(w * (s.price - agg) ** 2 for w, (_, s) in zip(weights, live)) / total_w
        std = math.sqrt(var) / agg * 1e4
        prices = [s.price for _, s in live]
        spread = (max(prices) - min(prices)) / agg * 1e4
    lq = [q for q, _ in live]
    bid_q = max((q for q in lq if q.bid_price), key=lambda q: q.bid_price, default=None)
    ask_q = min((q for q in lq if q.ask_price), key=lambda q: q.ask_price, default=None)
    depth = book_spread = None
    if bid_q is not None and ask_q is not None:
        mid = (bid_q.bid_price + ask_q.ask_price) / 2.0
        book_spread = max(0.0, ask_q.ask_price - bid_q.bid_price) / mid * 1e4
        depths = [d for d in (_band_depth(q, mid) for q in lq) if d is not None]
        depth = sum(depths) if depths else None
    vol_usd = [s.volume_24h_usd for _, s in live if s.volume_24h_usd is not None]
    fundings = [s.funding_rate for _, s in live if s.funding_rate is not None]
    return CrossExchangeData(
        base=base, quote_family=family, timestamp=now_ms, aggregated_price=agg, weighting=weighting,
        price_variance=var, price_std_bps=std, max_spread_bps=spread,
        best_bid=bid_q.bid_price if bid_q else None, best_bid_exchange=bid_q.exchange if bid_q else None,
        best_ask=ask_q.ask_price if ask_q else None, best_ask_exchange=ask_q.exchange if ask_q else None,
        volume_total=sum(vol_usd), volume_total_base=sum(s.volume_24h for _, s in live if s.volume_24h is not None),
        open_interest_total=sum(s.open_interest for _, s in live if s.open_interest is not None),
        open_interest_total_usd=sum(s.open_interest_usd for _, s in live if s.open_interest_usd is not None),
        funding_spread=max(fundings) - min(fundings) if len(fundings) >= 2 else None,
        liquidity_score=liquidity_score(depth, book_spread, sum(vol_usd) if vol_usd else None), depth_usd=depth,
        venues=len(live), stale_venues=stale, exchanges_data=data,
        arbitrage_opportunities=arbitrage_candidates(base, family, lq, now_ms, fees_bps, default_fee_bps, min_net_bps),
    )
