"""``/market/*`` and ``/exchanges/best``: the cross-exchange market view (issue #15).

Live answers come from the serve process's :class:`~liqmap.market.view.MarketView` (fed by the
venues' tickers, trades, open interest and liquidations); ``/market/arbitrage`` and
``/market/ticker/history`` also read what was stored in DuckDB. Definitions of every number
(aggregated price, variance, spread, liquidity score, arbitrage net of taker fees):
:mod:`liqmap.analytics.cross_exchange`.

``symbol`` names an underlying and a quote family: ``BTCUSDT`` / ``BTC`` (USDT family, which
holds USDT-like stablecoins), ``BTCUSDC`` (USDC), ``BTCUSD`` / ``XBTUSD`` (USD, inverse).
Errors: 422 with the reason for a malformed parameter; 404 when this process keeps no market
view (a read-only ``create_app``) or holds no quote of the symbol (the answer names the groups
it has).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query

from liqmap.api.deps import Cursor, get_state, parse_exchanges, parse_window
from liqmap.api.errors import MAX_TIME_MS, echo
from liqmap.api.state import AppState
from liqmap.storage import market_view_reads as mvr
from liqmap.units import DAY_MS

router = APIRouter(tags=["market"])
State = Annotated[AppState, Depends(get_state)]
SYMBOL = Query(..., max_length=64, description="underlying and quote family: BTCUSDT, BTC (USDT), BTCUSDC, XBTUSD")


def _market(state: AppState) -> Any:
    if state.market is None:
        raise HTTPException(404, "no live market view in this process: `liqmap serve` keeps one "
                                 "(tickers of --heatmap-symbols on every venue)")
    return state.market


def _group(symbol: str) -> tuple[str, str]:
    from liqmap.market.view import group_of

    try:
        return group_of(symbol)
    except ValueError as exc:
        raise HTTPException(422, f"symbol: {str(exc)[:200]}") from None


def _groups_text(market: Any) -> str:
    gs = market.view.groups()
    names = [f"{b}/{f}" for b, f in gs[:30]]
    return ", ".join(names) + (f" (+{len(gs) - 30} more)" if len(gs) > 30 else "") if names else "none yet"


def _snapshot(state: AppState, symbol: str) -> Any:
    market = _market(state)
    base, family = _group(symbol)
    if not market.view.board.quotes(base, family):
        raise HTTPException(404, f"no quotes of {base}/{family} yet; the view holds: {_groups_text(market)}")
    return market.view.cross_exchange(base + family, _now(state))


def _now(state: AppState) -> int:
    """The market view's "now" (the stream's newest receipt in a replay), else the app clock."""
    return state.market.now() if state.market is not None else state.now_ms()


def _meta(state: AppState, **extra: Any) -> dict[str, Any]:
    m = state.market
    return state.meta(stale_after_ms=m.view.stale_ms if m else None, market_now_ms=_now(state), **extra)


@router.get("/market/tickers")
def market_tickers(state: State):
    """Every ``(underlying, quote family)`` the view holds, with its headline numbers (aggregated
    price, max spread bps, 24 h USD volume, open interest USD, venues included / stale)."""
    market = _market(state)
    now = _now(state)
    out = []
    for base, family in market.view.groups():
        d = market.view.cross_exchange(base + family, now)
        out.append({"base": base, "quote_family": family, "aggregated_price": d.aggregated_price,
                    "max_spread_bps": d.max_spread_bps, "volume_total": d.volume_total,
                    "open_interest_total_usd": d.open_interest_total_usd, "funding_spread": d.funding_spread,
                    "liquidity_score": d.liquidity_score, "venues": d.venues, "stale_venues": d.stale_venues,
                    "arbitrage": len(d.arbitrage_opportunities)})
    out.sort(key=lambda r: -(r["volume_total"] or 0))
    return {"meta": _meta(state), "data": out}


@router.get("/market/ticker")
def market_ticker(state: State, symbol: str = SYMBOL):
    """The cross-exchange view of one underlying in one quote family now: aggregated price
    (volume-weighted), price variance, max spread bps, best bid/ask and their venues, total
    volume, open interest, funding spread, liquidity score (0-100), per-venue snapshots
    (``exchanges_data``; stale venues listed, left out of the aggregates) and open arbitrage
    opportunities (:class:`~liqmap.analytics.cross_exchange.CrossExchangeData`)."""
    return {"meta": _meta(state), "data": msgspec.to_builtins(_snapshot(state, symbol))}


def _venue_rows(data: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"exchange": s.exchange, "symbol": s.symbol, **{f: getattr(s, f) for f in fields},
             "age_ms": s.age_ms, "stale": s.stale}
            for s in sorted(data.exchanges_data.values(), key=lambda s: (s.stale, s.exchange))]


@router.get("/market/funding")
def market_funding(state: State, symbol: str = SYMBOL):
    """Funding of one underlying across venues: per venue the current funding rate (fraction per
    the venue's funding interval), next funding time (ms UTC), mark and index price; and the
    spread (max - min rate of the fresh venues)."""
    d = _snapshot(state, symbol)
    return {"meta": _meta(state), "data": {
        "base": d.base, "quote_family": d.quote_family, "timestamp": d.timestamp, "funding_spread": d.funding_spread,
        "venues": _venue_rows(d, ("funding_rate", "next_funding_time", "mark", "index"))}}


@router.get("/market/open-interest")
def market_open_interest(state: State, symbol: str = SYMBOL):
    """Open interest of one underlying across venues now: per venue in base units (one side of
    the book) and USD, and the totals of the fresh venues. The stored history is
    ``/open-interest/aggregated``."""
    d = _snapshot(state, symbol)
    return {"meta": _meta(state), "data": {
        "base": d.base, "quote_family": d.quote_family, "timestamp": d.timestamp,
        "open_interest_total": d.open_interest_total, "open_interest_total_usd": d.open_interest_total_usd,
        "venues": _venue_rows(d, ("open_interest", "open_interest_usd"))}}


@router.get("/market/arbitrage")
def market_arbitrage(
    state: State, cur: Cursor,
    symbol: str | None = Query(None, max_length=64, description="underlying and family; default all"),
    status: Literal["open", "closed", "all"] = Query("open", description="open (live), closed or all (stored)"),
    min_net_bps: float = Query(0.0, ge=0, le=10_000, description="peak net spread at least (bps, after fees)"),
    time_window: str = Query("1d", description="closed/all: opportunities alive within this window before now"),
    limit: int = Query(100, ge=1, le=1000),
):
    """Cross-venue arbitrage: buy at one venue's best ask, sell at another's best bid, net of both
    taker fees (``fees_bps``; ``LIQMAP_TAKER_FEES``), same underlying and quote family, with the
    funding-rate spread of the legs and the opportunity's life (``opened_at`` -> ``closed_at``,
    ``duration_ms``). ``open``: the live tracker (or the stored open ones without a live view);
    ``closed`` / ``all``: stored in DuckDB plus the ones closed since the last commit. Best peak first."""
    base, family = _group(symbol) if symbol else (None, None)
    try:
        window = parse_window(time_window) if time_window != "all" else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    now = _now(state)
    since = now - window if window is not None else None
    live = state.market.view.tracker if state.market is not None else None
    rows: dict[str, dict[str, Any]] = {}
    if status != "open" or live is None:
        for r in mvr.arbitrage_history(cur, base=base, family=family, since_ms=since, min_net_bps=min_net_bps,
                                       status=status, limit=limit):
            rows[r["id"]] = r
    if live is not None:
        mem = live.opportunities(base, family) if status != "closed" else []
        if status != "open":
            mem += [o for o in live.closed if (base is None or o.base == base) and (family is None or o.quote_family == family)
                    and (since is None or (o.closed_at or o.updated_at) >= since)]
        for o in mem:
            if o.peak_net_bps >= min_net_bps:
                rows[o.id] = msgspec.to_builtins(o)
    data = sorted(rows.values(), key=lambda r: (-r["peak_net_bps"], -r["opened_at"]))[:limit]
    return {"meta": _meta(state, fees_bps=state.market.view.fees_bps if state.market else None), "data": data}


@router.get("/market/ticker/history")
def market_ticker_history(
    state: State, cur: Cursor,
    exchange: str = Query(..., max_length=32, description="venue, e.g. binance"),
    symbol: str = Query(..., max_length=64, description="venue-native symbol, e.g. BTCUSDT"),
    time_window: str = Query("1h", description="window ending at end_time"),
    end_time: int | None = Query(None, ge=0, le=MAX_TIME_MS, description="ms UTC; default now"),
):
    """One instrument's stored ticker series: the last merged ticker of every second
    (``market_tickers``: bid/ask and sizes, last, mark, index, 24 h volume, funding, open interest)."""
    try:
        window = parse_window(time_window)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if window > DAY_MS:
        raise HTTPException(422, f"time_window: at most 1d of per-second samples, got {echo(time_window)}")
    end = end_time if end_time is not None else _now(state)
    return {"meta": state.meta(), "data": mvr.ticker_history(cur, exchange.lower(), symbol, end - window, end)}


@router.get("/market/whales")
def market_whales(
    state: State,
    symbol: str | None = Query(None, max_length=64, description="underlying filter (BTC, BTCUSDT); default all"),
    exchanges: str | None = Query(None, description="Comma list of venue ids; default all"),
    kind: Literal["all", "trade", "liquidation"] = Query("all", description="trades, liquidations or both"),
    min_value_usd: float = Query(0.0, ge=0, le=1e12, description="USD notional at least"),
    limit: int = Query(100, ge=1, le=1000),
):
    """The whale tape, newest first: trades of at least ``LIQMAP_WHALE_USD`` (per underlying:
    ``LIQMAP_WHALE_USD_BY_BASE``) across venues, with liquidations of at least
    ``LIQMAP_LARGE_USD`` inline (``kind = liquidation``, ``liquidated`` = position side)."""
    market = _market(state)
    base = _group(symbol)[0] if symbol else None
    venues = set(parse_exchanges(state, exchanges) or ())
    out = []
    for e in market.view.whales.entries(base, limit=len(market.view.whales)):
        if (kind == "all" or e.kind == kind) and e.value_usd >= min_value_usd and (not venues or e.exchange in venues):
            out.append(msgspec.to_builtins(e))
            if len(out) >= limit:
                break
    tape = market.view.whales
    return {"meta": state.meta(trade_min_usd=tape.min_usd, trade_min_usd_by_base=tape.min_usd_by_base,
                               liquidation_min_usd=tape.liquidation_min_usd), "data": out}


def _switches(market: Any, limit: int = 50) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(s) for s in list(market.view.switches)[-limit:][::-1]]


@router.get("/exchanges/best")
def exchanges_best(state: State, feature: str = Query(..., max_length=32,
                                                          description="liquidations, ticker, trades, open_interest, "
                                                                      "mark_price, klines")):
    """The venue serving ``feature`` now (after failover: ranked by health, staleness, latency and
    priority), the ranking with each venue's state, and the recent switches of that feature.
    ``exchange`` is null when no venue having the feature is up (or, in a replay, none is live)."""
    from liqmap.market.health import feature_name

    try:
        f = feature_name(feature)
    except ValueError as exc:
        raise HTTPException(422, f"feature: {str(exc)[:300]}") from None
    market = _market(state)
    ranking = [{"exchange": v, "state": s} for v, s in market.view.ranking(f)]
    return {"meta": state.meta(), "feature": f, "exchange": market.view.best(f), "ranking": ranking,
            "switches": [s for s in _switches(market) if s["feature"] == f]}


@router.get("/market/health")
def market_health(state: State):
    """The market view's health: each live venue's ranking inputs (connected, frame age, latency,
    stale timeout), the venue serving each feature, failover switches (newest first, last 50),
    the view's counters and the alert sinks' counters (delivered, gave up, dropped, latency)."""
    market = _market(state)
    v = market.view
    venues = [msgspec.to_builtins(h) for h in v.healths]
    features = {f: {"exchange": m.current, "ranking": [{"exchange": x, "state": s} for x, s in v.ranking(f)]}
                for f, m in v.failover.items()}
    return {"meta": state.meta(), "venues": venues, "features": features, "switches": _switches(market),
            "view": {"events": v.events, "groups": len(v.board.groups()), "quotes": len(v.board.all()),
                     "ignored": v.board.ignored, "whale_tape": len(v.whales),
                     "arbitrage_open": len(v.tracker.opportunities()), **market.counts},
            "alerts": market.alerts.stats() if market.alerts is not None else None}
