"""Cross-exchange snapshot benchmark (plain script; prints figures).
Run: ``uv run python benchmarks/bench_market.py``.

Load: a SYNTHETIC generator (load test only, not market data): 200 instruments x 14 venues
(2,800 perpetual quotes; names ``SYN0``.. on venues ``venue0``..). Every round it moves every
quote (a random walk of bid/ask, sizes, 24 h volume and funding, as ``Ticker`` events), folds
them into a :class:`liqmap.analytics.quotes.QuoteBoard`, then recomputes the
:class:`~liqmap.analytics.cross_exchange.CrossExchangeData` of all 200 instruments (VWAP,
variance, spreads, liquidity, arbitrage net of fees) and feeds the arbitrage tracker, on one
core (the process is pinned to CPU 0).

Target (issue #15): the snapshot of 200 instruments across 14 venues updated >= 10 times a
second. The figure is rounds per second of CPU time (rounds/s = 1 / seconds per round), and
separately the snapshot-only part.

``--serve``: the same load through what ``liqmap serve`` runs instead
(:class:`liqmap.serve.market.MarketService`): ``handle`` per ticker (view, counters, alert
routing), then one ``tick`` per round (snapshots, arbitrage tracking and events, and the
``/ws/market`` push of every changed snapshot JSON-encoded for one subscriber).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from liqmap.analytics.arbitrage import ArbitrageTracker
from liqmap.analytics.cross_exchange import cross_exchange_data
from liqmap.analytics.quotes import QuoteBoard
from liqmap.models import Ticker

VENUES = [f"venue{i}" for i in range(14)]
FEES = {v: 2.0 + i * 0.5 for i, v in enumerate(VENUES)}


def synthetic_resolver(exchange: str, symbol: str) -> tuple[str, str, str]:
    """Every synthetic symbol is a USDT perpetual of its own name."""
    return symbol, "USDT", "USDT"


def round_of_tickers(state: dict, rng: random.Random, now_ms: int) -> list[Ticker]:
    """One SYNTHETIC ticker per quote: each instrument's common price takes a random-walk step;
    each venue quotes it with its own noise (1.5 bps) and, 1 % of the time, a 30 bps dislocation
    (so arbitrage candidates appear and close, as in a real market)."""
    out = []
    for sym in state:
        state[sym] *= 1 + rng.gauss(0, 2e-4)
    for ex in VENUES:
        for sym, common in state.items():
            p = common * (1 + rng.gauss(0, 1.5e-4) + (3e-3 if rng.random() < 0.01 else 0.0))
            half = p * rng.uniform(0.5e-4, 3e-4)
            out.append(Ticker(ex, sym, now_ms, now_ms, last_price=p, bid_price=p - half, ask_price=p + half,
                              bid_size=rng.uniform(0.1, 50), ask_size=rng.uniform(0.1, 50),
                              volume_24h_usd=rng.uniform(1e6, 5e9), funding_rate=rng.gauss(1e-4, 5e-5)))
    return out


def serve_service():
    """A MarketService as serve builds it, on the synthetic names and fees, one WS subscriber."""
    from liqmap.serve.market import MarketService
    from liqmap.settings import Settings

    svc = MarketService(Settings(stats_interval_s=0), lambda: 0, push_s=0.0)
    svc.view.board = QuoteBoard(resolver=synthetic_resolver)
    svc.view.fees_bps = dict(FEES)
    sub = svc.hub.subscribe(queue_size=1_000_000)
    return svc, sub


def main(instruments: int, rounds: int, serve: bool = False) -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    rng = random.Random(42)
    state = {f"SYN{i}": 100.0 * (1 + i) for i in range(instruments)}
    board, tracker = QuoteBoard(resolver=synthetic_resolver), ArbitrageTracker()
    svc, sub = serve_service() if serve else (None, None)
    if svc is not None:
        board, tracker = svc.view.board, svc.view.tracker
    total, snap_only, opps = [], [], 0
    now = 1_700_000_000_000
    for r in range(rounds):
        now += 100
        ticks = round_of_tickers(state, rng, now)  # generating the load is not timed
        t0 = time.process_time()
        fold = svc.handle if svc is not None else board.update
        for t in ticks:
            fold(t)
        t1 = time.process_time()
        if svc is not None:
            svc.tick(now)
            opps += sum(len(d.arbitrage_opportunities) for d in svc.view.snapshots.values())
            while not sub.queue.empty():
                sub.queue.get_nowait()
        else:
            for base, fam in board.take_dirty():
                d = cross_exchange_data(base, fam, board.quotes(base, fam), now, fees_bps=FEES)
                tracker.update(base, fam, d.arbitrage_opportunities, now)
                opps += len(d.arbitrage_opportunities)
        t2 = time.process_time()
        if r >= 3:  # warm-up rounds
            total.append(t2 - t0)
            snap_only.append(t2 - t1)
    med, p95 = statistics.median(total), sorted(total)[int(0.95 * len(total))]
    n = instruments * len(VENUES)
    print(f"{instruments} instruments x {len(VENUES)} venues = {n} quotes, {len(total)} rounds (one core)"
          + (", serve path (MarketService.handle + tick + /ws/market encode)" if serve else ""))
    print(f"  per round (fold {n} tickers + {instruments} snapshots + tracker): median {med * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms -> {1 / med:.1f} rounds/s (median), {1 / p95:.1f} (p95)")
    sm = statistics.median(snap_only)
    print(f"  snapshots only: median {sm * 1000:.1f} ms per round of {instruments} -> {1 / sm:.1f} rounds/s, "
          f"{sm / instruments * 1e6:.0f} us per snapshot")
    print(f"  arbitrage candidates seen: {opps} (synthetic spreads), open at the end: {len(tracker.opportunities())}")
    ok = 1 / p95 >= 10
    print(f"target >= 10 rounds/s (p95): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instruments", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--serve", action="store_true", help="drive serve's MarketService instead of the pure functions")
    a = ap.parse_args()
    raise SystemExit(main(a.instruments, a.rounds, a.serve))
