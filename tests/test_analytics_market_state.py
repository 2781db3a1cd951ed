"""Arbitrage open -> close tracking, best-venue ranking and failover (constructed health
snapshots: state machines, not market data), and the whale tape on REAL recorded trades
(AlejandroME01 large aggTrades capture) and liquidations (Binance forceOrder frames)."""

from __future__ import annotations

import pytest
from conftest import BINANCE_FRAMES, DATASTREAMS, replay_liquidations

from liqmap.analytics.arbitrage import ArbitrageTracker
from liqmap.analytics.cross_exchange import arbitrage_candidates
from liqmap.analytics.failover import (FailoverMachine, VenueHealth, VenueStatusTracker, best_venue, rank_venues,
                                       venue_state)
from liqmap.analytics.quotes import Quote
from liqmap.analytics.whales import WhaleTape
from liqmap.models import Trade
from liqmap.replay.runner import ReplayRunner


def q(ex, bid, ask):
    x = Quote(ex, "S", "X", "USDT", "USDT")
    x.bid_price, x.ask_price, x.bid_size, x.ask_size, x.received_at = bid, ask, 1.0, 1.0, 0
    return x


def cands(now, a_ask, b_bid):
    return arbitrage_candidates("X", "USDT", [q("a", a_ask - 0.1, a_ask), q("b", b_bid, b_bid + 0.1)], now,
                                fees_bps={"a": 5, "b": 5})


def test_arbitrage_opens_reports_new_peaks_and_closes_with_its_duration():
    tr = ArbitrageTracker(step_bps=5.0)
    ev = tr.update("X", "USDT", cands(1_000, 100.0, 100.2), 1_000)  # gross ~20 bps, net ~10
    assert len(ev) == 1 and ev[0].open and ev[0].opened_at == 1_000 and ev[0].id == "X/USDT:a>b:1000"
    assert tr.update("X", "USDT", cands(2_000, 100.0, 100.22), 2_000) == []  # +2 bps: not worth telling
    ev = tr.update("X", "USDT", cands(3_000, 100.0, 100.3), 3_000)  # net ~20: a new peak >= 5 bps higher
    assert len(ev) == 1 and ev[0].id == "X/USDT:a>b:1000" and ev[0].duration_ms == 2_000
    assert ev[0].peak_net_bps == pytest.approx(ev[0].net_bps)
    (o,) = tr.opportunities("X")
    assert o.opened_at == 1_000 and o.updated_at == 3_000
    (done,) = tr.update("X", "USDT", cands(4_500, 100.0, 100.0), 4_500)  # gone
    assert not done.open and done.closed_at == 4_500 and done.duration_ms == 3_500
    assert done.peak_net_bps == pytest.approx((100.3 - 100.0) / 100.15 * 1e4 - 10)
    assert tr.opportunities() == [] and list(tr.closed) == [done]
    # other groups are untouched by this group's updates
    tr.update("Y", "USDT", [], 5_000)
    assert tr.update("X", "USDT", cands(6_000, 100.0, 100.2), 6_000)[0].id == "X/USDT:a>b:6000"


def h(ex, connected=True, age=0.5, latency=20.0, priority=1, features=("liquidations", "ticker"), enabled=True):
    return VenueHealth(ex, enabled, features, connected, age, latency, priority)


def test_states_and_ranking():
    assert venue_state(h("a", connected=False), 10) == "down"
    assert venue_state(h("a", age=11), 10) == "stale" and venue_state(h("a", age=None), 10) == "stale"
    assert venue_state(h("a", age=9), 10) == "up"
    hs = [h("slow", latency=80), h("fast", latency=5), h("backup", priority=2, latency=1), h("dead", connected=False),
          h("old", age=30), h("off", enabled=False), h("noliq", features=("ticker",))]
    assert [e for e, _ in rank_venues(hs, "liquidations", 10)] == ["fast", "slow", "backup", "old", "dead"]
    assert best_venue(hs, "liquidations", 10) == "fast"
    assert best_venue([h("x", connected=False)], "liquidations", 10) is None


def test_failover_switches_to_the_backup_and_back_after_the_recovery_hold():
    m = FailoverMachine("liquidations", stale_after_s=10, recover_after_s=5)
    primary, backup = h("binance"), h("bybit", priority=2)
    (ev,) = m.evaluate([primary, backup], 0)
    assert (ev.from_exchange, ev.to_exchange, m.current) == (None, "binance", "binance")
    assert m.evaluate([primary, backup], 1_000) == []
    (ev,) = m.evaluate([h("binance", age=12), backup], 2_000)  # primary silent past the stale timeout
    assert (ev.from_exchange, ev.to_exchange) == ("binance", "bybit") and "binance stale" in ev.reason
    # back, but it must stay up for max(recover_after_s, stale timeout) = 10 s before it takes over
    assert m.evaluate([primary, backup], 3_000) == []
    assert m.evaluate([primary, backup], 12_999) == []
    (ev,) = m.evaluate([primary, backup], 13_000)
    assert (ev.from_exchange, ev.to_exchange) == ("bybit", "binance") and "recovered" in ev.reason
    (ev,) = m.evaluate([h("binance", connected=False), h("bybit", connected=False)], 14_000)
    assert ev.to_exchange is None and m.current is None and m.switches == 4
    # a better-latency venue of the same priority never takes over a healthy one
    m2 = FailoverMachine("ticker", 10, 0)
    m2.evaluate([h("a", latency=50), h("b", latency=60)], 0)
    assert m2.evaluate([h("a", latency=50), h("b", latency=1)], 10_000) == [] and m2.current == "a"


def test_priority_changes_at_run_time_move_the_feature():
    m = FailoverMachine("liquidations", 10, recover_after_s=0)
    m.evaluate([h("a", priority=1), h("b", priority=2)], 0)
    assert m.evaluate([h("a", priority=3), h("b", priority=2)], 9_999) == []  # b up for < one stale window
    (ev,) = m.evaluate([h("a", priority=3), h("b", priority=2)], 10_000)
    assert (ev.from_exchange, ev.to_exchange) == ("a", "b")


def test_venue_status_changes():
    t = VenueStatusTracker(10)
    first = t.evaluate([h("a"), h("b", connected=False)], 0)
    assert [(e.exchange, e.status, e.previous) for e in first] == [("a", "up", None), ("b", "down", None)]
    assert t.evaluate([h("a"), h("b", connected=False)], 1) == []
    (ev,) = t.evaluate([h("a", age=11.5), h("b", connected=False)], 2)
    assert (ev.status, ev.previous, ev.reason) == ("stale", "up", "no frame for 11.5 s")


TRADES = [e for e in ReplayRunner([str(DATASTREAMS / "AlejandroME01_binance_large_aggtrades_2024-06-19_2024-06-20.csv")])
          .iter_events() if isinstance(e, Trade)]
LIQS = replay_liquidations([BINANCE_FRAMES])


def test_whale_tape_on_real_trades_and_liquidations():
    tape = WhaleTape(min_usd=300_000, min_usd_by_base={"ETH": 100_000}, liquidation_min_usd=5_000)
    for e in [*TRADES, *LIQS]:
        tape.add(e)
    want_trades = [t for t in TRADES if t.value_usd >= (100_000 if t.base == "ETH" else 300_000)]
    want_liqs = [e for e in LIQS if e.value_usd >= 5_000]
    assert want_trades and want_liqs and len(want_trades) < len(TRADES) and len(want_liqs) < len(LIQS)
    got = tape.entries(limit=10_000)
    assert len(got) == len(want_trades) + len(want_liqs)
    assert [e.id for e in got if e.kind == "trade"] == [t.id for t in reversed(want_trades)]
    liq = next(e for e in got if e.kind == "liquidation")
    src = next(e for e in reversed(want_liqs))
    assert liq.id == src.id and liq.liquidated == src.side and liq.side == ("sell" if src.side == "long" else "buy")
    eth = tape.entries("ETH", limit=10_000)
    assert eth and all(e.base == "ETH" for e in eth)
    small = WhaleTape(min_usd=0, size=5)
    for t in TRADES:
        small.add(t)
    assert len(small) == 5 and small.entries()[0].id == TRADES[-1].id
