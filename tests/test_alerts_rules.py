"""Alert rules and cooldown/de-duplication on REAL recorded events: Binance forceOrder frames
(binance_forceorder_arbitra), Binance liquidations 2025-01/02 (PauliusMinialga capture) through
the cascade detector, and Binance large aggTrades (AlejandroME01 capture). Expected alerts are
recomputed from the events independently of the rules."""

from __future__ import annotations

from collections import defaultdict

import pytest
from conftest import BINANCE_FRAMES, DATASTREAMS, PAULIUS, replay_liquidations

from liqmap.alerts.dispatcher import AlertDispatcher
from liqmap.alerts.rules import ArbitrageRule, CascadeRule, LiquidationRule, VenueRule, WhaleRule
from liqmap.alerts.throttle import Throttle
from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.cascades import detect_cascades
from liqmap.analytics.failover import FailoverSwitch, VenueStatusChange
from liqmap.models import Trade
from liqmap.replay.runner import ReplayRunner

LIQS = replay_liquidations([BINANCE_FRAMES])
TRADES = [e for e in ReplayRunner([str(DATASTREAMS / "AlejandroME01_binance_large_aggtrades_2024-06-19_2024-06-20.csv")])
          .iter_events() if isinstance(e, Trade)]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Collect:
    """A dispatcher with no sinks records what it admits through its throttle."""

    def __init__(self, rules, clock=None, cooldown_s=0.0):
        self.d = AlertDispatcher(rules, [], cooldown_s=cooldown_s, throttle=Throttle(clock=clock or FakeClock()))
        self.sent = []
        orig = self.d.throttle.check

        def check(rule, key, dedupe_id, cooldown):
            verdict, n = orig(rule, key, dedupe_id, cooldown)
            if verdict == "send":
                self.sent.append((rule, key, dedupe_id))
            return verdict, n
        self.d.throttle.check = check


def test_liquidation_rule_threshold_and_filters_on_real_frames():
    rule = LiquidationRule(name="big-longs", min_usd=2_000, sides=["long"], bases=["AIA", "btc"])
    got = [a for a in (rule.match(e) for e in LIQS) if a is not None]
    want = [e for e in LIQS if e.value_usd >= 2_000 and e.side == "long" and e.base in ("AIA", "BTC")]
    assert want and len(want) < len(LIQS)
    assert [a.fields["id"] for a in got] == [e.id for e in want]
    a, e = got[0], want[0]
    assert a.key == f"binance:{e.symbol}:long" and a.event_ts == e.timestamp
    assert e.symbol in a.title and "LONG" in a.title


def test_whale_rule_per_base_thresholds_on_real_large_trades():
    bases = {t.base for t in TRADES}
    assert {"BTC", "ETH"} <= bases
    rule = WhaleRule(name="whales", min_usd=200_000, min_usd_by_base={"BTC": 400_000})
    got = {a.fields["id"] for a in (rule.match(t) for t in TRADES) if a is not None}
    want = {t.id for t in TRADES if t.value_usd >= (400_000 if t.base == "BTC" else 200_000)}
    assert want and len(want) < len(TRADES)
    assert got == want


def test_cascade_rule_alerts_each_severity_band_of_each_real_cascade_once():
    events = detect_cascades(replay_liquidations([PAULIUS]))
    c = Collect([CascadeRule(name="casc", min_severity="medium")])
    c.d.submit_many(events)
    # independently: per cascade id, the distinct severities >= medium seen on start/update
    want = set()
    for ev in events:
        if ev.kind != "end" and ev.cascade.severity in ("medium", "high", "critical"):
            want.add((ev.cascade.id, ev.cascade.severity))
    assert len(want) >= 3
    got = [d.rsplit(":", 1) for _, _, d in c.sent]
    assert sorted(map(tuple, got)) == sorted(want)  # each band once, nothing twice
    # and submitting the whole stream again (a replay) alerts nothing more
    n = len(c.sent)
    c.d.submit_many(events)
    assert len(c.sent) == n and c.d.rule_stats["casc"]["duplicates"] >= n


def test_cooldown_per_rule_and_key_counts_what_it_held_back():
    clock = FakeClock()
    rule = LiquidationRule(name="liq", min_usd=0, cooldown_s=60)
    d = AlertDispatcher([rule], [], throttle=Throttle(clock=clock))
    sent = []
    orig = d.throttle.check
    d.throttle.check = lambda *a: (lambda r: (sent.append(a) if r[0] == "send" else None, r)[1])(orig(*a))
    per_key = defaultdict(list)
    for e in LIQS:
        per_key[f"{e.exchange}:{e.symbol}:{e.side}"].append(e)
    d.submit_many(LIQS)  # all within one instant: one alert per key
    assert sorted(k for _, k, _, _ in sent) == sorted(per_key)
    assert d.rule_stats["liq"]["cooldown"] == len(LIQS) - len(per_key)
    clock.t += 59.9
    d.submit_many(LIQS)  # same ids: duplicates, not even cooldown
    assert d.rule_stats["liq"]["duplicates"] == len(LIQS)
    # a new event of a busy key after the cooldown carries the held-back count
    busy = max(per_key, key=lambda k: len(per_key[k]))
    clock.t += 0.2
    th = d.throttle
    verdict, held = th.check("liq", busy, "new-id", 60)
    assert verdict == "send" and held == len(per_key[busy]) - 1


def test_zero_cooldown_admits_every_distinct_event_but_never_a_duplicate():
    c = Collect([LiquidationRule(name="liq", min_usd=0)], cooldown_s=0)
    c.d.submit_many(LIQS + LIQS)
    assert len(c.sent) == len({e.id for e in LIQS}) == len(LIQS)


def _opp(net: float, peak: float, is_open: bool = True) -> ArbitrageOpportunity:
    return ArbitrageOpportunity(id="BTC/USDT:okx>binance:1", base="BTC", quote_family="USDT", buy_exchange="okx",
                                buy_symbol="BTC-USDT-SWAP", buy_price=100.0, sell_exchange="binance",
                                sell_symbol="BTCUSDT", sell_price=100.3, gross_bps=29.96, fees_bps=9.0,
                                net_bps=net, peak_net_bps=peak, funding_spread=0.0001, opened_at=1, updated_at=2,
                                closed_at=None, duration_ms=1, open=is_open)


def test_arbitrage_rule_fires_once_per_opportunity_when_its_peak_crosses():
    c = Collect([ArbitrageRule(name="arb", min_net_bps=20)])
    for net, peak in ((10, 10), (15, 15), (21, 21), (18, 21), (25, 25)):
        c.d.submit(_opp(net, peak))
    c.d.submit(_opp(0, 25, is_open=False))
    assert [s[2] for s in c.sent] == ["BTC/USDT:okx>binance:1"]


def test_venue_rule_down_and_failover_but_not_first_up():
    rule = VenueRule(name="venues")
    assert rule.match(VenueStatusChange("bybit", "up", None, "first frame", 1)) is None
    a = rule.match(VenueStatusChange("bybit", "down", "up", "no frame for 61 s", 2))
    assert a is not None and a.severity == "critical" and a.key == "bybit:down"
    f = rule.match(FailoverSwitch("liquidations", "binance", "bybit", "binance stale", 3))
    assert f is not None and f.key == "liquidations:binance>bybit"
    assert VenueRule(name="v", on=["down"]).match(FailoverSwitch("t", "a", "b", "x", 4)) is None


def test_a_rule_that_raises_is_counted_and_never_reaches_the_caller():
    class Boom(LiquidationRule, tag="boom"):
        def match(self, ev):
            raise RuntimeError("bug")

    d = AlertDispatcher([Boom(name="boom")], [])
    assert d.submit(LIQS[0]) == 0 and d.rule_errors == 1


def test_rule_naming_an_unknown_sink_is_rejected():
    with pytest.raises(ValueError, match="unknown sink"):
        AlertDispatcher([LiquidationRule(name="x", sinks=["nope"])], [])
