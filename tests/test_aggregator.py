"""ExchangeAggregator: real adapters (Binance, Bybit, OKX) against local venues replaying real frames.

Checks merge, id dedupe across reconnect resends, drop-oldest fan-out for slow consumers,
gap pass-through, symbol filters and health.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from liqmap.feed.aggregator import Deduper, ExchangeAggregator
from liqmap.feed.replay import ReplayFeed
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation
from localvenue import Drop, LocalWsVenue, Send, WaitFor, binance_forceorder_frames, tardis_messages, wait_until
from venue_answers import BybitAnswers, OkxAnswers

BINANCE = binance_forceorder_frames()  # 42 frames -> 42 liquidations
BYBIT = tardis_messages("bybit")  # 8 frames -> 10 liquidations
OKX = tardis_messages("okex-swap") + tardis_messages("okex-futures")  # 7 frames -> 7 liquidations
FAST = dict(ws_timeout=0.3, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)


def ids(venue_name, frames):
    v = get_venue(venue_name)
    return [e.id for f in frames for e in v.parse(f, 1)]


def liqs(events):
    return [e for e in events if isinstance(e, Liquidation)]


async def drain(sub, until, timeout_s=5.0):
    got = []
    async with asyncio.timeout(timeout_s):
        async for ev in sub:
            got.append(ev)
            if until(got):
                break
    return got


class ThreeVenues:
    """Binance, Bybit (linear connection only) and OKX local venues + an aggregator."""

    def __init__(self, binance_scripts=None, **kw):
        self.kw = {**FAST, **kw}
        self.binance = LocalWsVenue(binance_scripts or [[Send(BINANCE)]])
        self.bybit = LocalWsVenue([[WaitFor(1), Send(BYBIT)]], answer=BybitAnswers())  # acks like Bybit
        self.okx = LocalWsVenue([[WaitFor(1), Send(OKX)]], answer=OkxAnswers())

    async def __aenter__(self):
        for v in (self.binance, self.bybit, self.okx):
            await v.__aenter__()
        self.agg = ExchangeAggregator(
            ["binance", "bybit", "okx"],
            ws_urls={"binance": self.binance.url, "bybit": self.bybit.url, "okx": self.okx.url},
            adapter_overrides={"bybit": {"symbols": ["BTCUSDT", "GALAUSDT", "PIPPINUSDT"]}},
            adapter_kwargs=self.kw,
        )
        return self

    async def __aexit__(self, *exc):
        await self.agg.disconnect_all()
        for v in (self.binance, self.bybit, self.okx):
            await v.__aexit__(*exc)


def test_fixture_counts():
    assert (len(ids("binance", BINANCE)), len(ids("bybit", BYBIT)), len(ids("okx", OKX))) == (42, 10, 7)


async def test_merges_three_venues_and_resubscribes_per_venue_spec():
    async with ThreeVenues(ws_timeout=5.0) as t:  # no watchdog reconnects while checking "active"
        sub = t.agg.subscribe()
        await t.agg.connect_all()
        got = await drain(sub, lambda g: len(liqs(g)) >= 59)
        await wait_until(lambda: len(t.agg.get_active_exchanges()) == 3, what="3 active exchanges")
        health = await t.agg.health_check_all()
        active = sorted(t.agg.get_active_exchanges())
        bybit_topics = t.agg.adapters["bybit"].venue.connections(["BTCUSDT", "GALAUSDT", "PIPPINUSDT"])[0].topics
    by_ex = {}
    for e in liqs(got):
        by_ex.setdefault(e.exchange, []).append(e.id)
    assert by_ex["binance"] == ids("binance", BINANCE)
    assert by_ex["bybit"] == ids("bybit", BYBIT)
    assert by_ex["okx"] == ids("okx", OKX)
    sent = [a for m in t.bybit.received[0] if '"subscribe"' in m for a in json.loads(m)["args"]]
    assert sorted(sent) == sorted(x.key for x in bybit_topics)
    assert '"liquidation-orders"' in t.okx.received[0][0]
    assert set(health) == {"binance", "bybit", "okx"}
    assert health["bybit"].event_count == 10 and health["okx"].parse_errors == 0
    assert active == ["binance", "bybit", "okx"]
    assert t.agg.get_active_exchanges() == []  # after disconnect_all


async def test_resend_after_reconnect_gives_no_duplicate_and_no_loss():
    # connection 1 delivers frames 0-24 then drops; the venue resends 15-41 on the new connection
    scripts = [[Send(BINANCE[:25]), Drop()], [Send(BINANCE[15:])]]
    async with ThreeVenues(scripts) as t:
        sub = t.agg.subscribe(kinds=(Liquidation, Gap))
        await t.agg.connect_all()
        got = await drain(sub, lambda g: len([e for e in liqs(g) if e.exchange == "binance"]) >= 42)
        await asyncio.sleep(0.1)  # nothing more may arrive: no duplicate after the 42nd
        while sub.qsize():
            got.append(await sub.get())
    binance = [e.id for e in liqs(got) if e.exchange == "binance"]
    assert binance == ids("binance", BINANCE)  # each once, in order
    assert t.agg.duplicates == 10
    gaps = [e for e in got if isinstance(e, Gap)]
    assert [(g.exchange, g.reason) for g in gaps] == [("binance", "closed")]


async def test_slow_consumer_does_not_stall_adapters_and_counts_drops():
    async with ThreeVenues(ws_timeout=5.0) as t:
        fast = t.agg.subscribe()
        slow = t.agg.subscribe(queue_size=5, kinds=(Liquidation,))  # never read while streaming
        await t.agg.connect_all()
        got = await drain(fast, lambda g: len(liqs(g)) >= 59)
        await asyncio.sleep(0.05)
        h = await t.agg.health_check_all()
        stats = t.agg.stats()
        dropped, queued = slow.dropped, slow.qsize()
        kept = [(await slow.get()).id for _ in range(5)]
    assert len(liqs(got)) == 59
    assert h["binance"].event_count == 42  # the adapter kept going
    assert dropped == 59 - 5 and queued == 5
    assert kept == [e.id for e in liqs(got)][-5:]  # drop-OLDEST: the newest 5 remain
    assert {c["dropped"] for c in stats["consumers"]} == {0, 54}


async def test_stream_aggregated_symbol_filters():
    async with ThreeVenues() as t:
        loose = t.agg.stream_aggregated("BTCUSDT")
        strict = t.agg.stream_aggregated("BTCUSDT", strict=True)
        eth = t.agg.stream_aggregated("ETH-USDT")
        everything = t.agg.subscribe()
        await t.agg.connect_all()
        await drain(everything, lambda g: len(liqs(g)) >= 59)
        await t.agg.disconnect_all()  # closes the subscriptions: iteration ends after queued events
        loose_got = [e async for e in loose]
        strict_got = [e async for e in strict]
        eth_got = [e async for e in eth]
    assert {(e.exchange, e.symbol) for e in loose_got} == {
        ("binance", "BTCUSDT"),
        ("bybit", "BTCUSD"),
        ("bybit", "BTCUSDT"),
        ("okx", "BTC-USDT-SWAP"),
        ("okx", "BTC-USD-210326"),
        ("okx", "BTC-USD-220624"),
        ("okx", "BTC-USDT-211231"),
    }
    assert all(e.base == "BTC" for e in loose_got)
    assert {(e.exchange, e.symbol) for e in strict_got} == {("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP")}
    assert len([e for e in strict_got if e.exchange == "binance"]) == 2
    assert {(e.exchange, e.symbol) for e in eth_got} == {
        ("binance", "ETHUSDT"),
        ("binance", "ETHUSDC"),
        ("bybit", "ETHUSD"),
        ("okx", "ETH-USD-210326"),
    }


async def test_gaps_pass_through_generic_subscribers():
    agg = ExchangeAggregator(["binance"], adapter_kwargs=FAST)
    sub = agg.subscribe()
    gap = Gap("binance", "usdm", 1, 2, "closed")
    assert agg.publish(gap) and agg.publish(gap)  # gaps carry no id: never deduped
    assert [await sub.get(), await sub.get()] == [gap, gap]
    assert agg.stats()["gaps"] == 2


def test_unknown_exchange_and_bad_symbol_are_clear_errors():
    with pytest.raises(ValueError, match="unknown exchange.*nope"):
        ExchangeAggregator(["binance", "nope"])
    agg = ExchangeAggregator(["binance"])
    with pytest.raises(ValueError, match="invalid symbol"):
        agg.stream_aggregated("BTC USDT")


def test_default_is_every_registry_venue():
    from liqmap.exchanges.registry import VENUE_NAMES

    agg = ExchangeAggregator()
    assert set(agg.adapters) == set(VENUE_NAMES)


def test_deduper_is_bounded_lru():
    d = Deduper(3)
    assert [d.seen(k) for k in "abc"] == [False, False, False]
    assert d.seen("a") is True  # refreshes a
    assert d.seen("d") is False  # evicts b (least recent)
    assert len(d) == 3 and d.seen("b") is False and d.seen("a") is True


def test_symbol_queries_become_every_native_perpetual_per_venue():
    agg = ExchangeAggregator(["binance", "bitmex", "deribit", "hyperliquid"], symbols=["BTCUSDT"])
    assert agg.adapters["binance"].symbols == ["BTCUSDT", "BTCUSDC"]
    assert agg.adapters["bitmex"].symbols == ["XBTUSDT", "XBTUSD"]
    assert agg.adapters["deribit"].symbols == ["BTC_USDC-PERPETUAL", "BTC-PERPETUAL"]
    assert agg.adapters["hyperliquid"].symbols == ["BTC"]


async def test_lossless_consumer_gets_everything_and_a_replay_waits_for_it(monkeypatch):
    """The storing side's queue (queue_size=None) never drops: a replay of a real capture
    (3,510 rows, 1,837 ids) holds back while that consumer lags, while a bounded view loses
    its oldest events and the replay does not wait for it."""
    import liqmap.feed.aggregator as aggregator_module
    from conftest import PAULIUS
    from liqmap.feed.replay import YIELD_EVERY

    monkeypatch.setattr(aggregator_module, "HIGH_WATER", 100)
    agg = ExchangeAggregator(exchanges=[])
    feed = agg.add_replay(ReplayFeed([PAULIUS]))
    store_side = agg.subscribe(queue_size=None)
    view = agg.subscribe(queue_size=50)
    await agg.connect_all()
    got, peak = [], 0
    async for batch in store_side.batches():
        peak = max(peak, len(batch))
        got += batch
        await asyncio.sleep(0.002)  # a slow writer
    await agg.wait_replays()
    assert feed.done and feed.replayed == 3510
    assert [e.id for e in got] == list(dict.fromkeys(e.id for e in liqs(got)))  # each id once
    assert len(got) == 1837 and agg.duplicates == 3510 - 1837 and store_side.dropped == 0
    assert peak <= 100 + YIELD_EVERY  # back-pressure: the replay never ran far ahead
    assert view.dropped == 1837 - 50 and view.qsize() == 50  # the view kept only the newest


async def test_replay_error_ends_the_stream_and_is_raised_to_the_caller():
    from conftest import PAULIUS

    agg = ExchangeAggregator(exchanges=[])
    feed = agg.add_replay(ReplayFeed([PAULIUS]))
    stream = agg.subscribe(queue_size=None)
    seen = []

    def broken_tap(ev):
        seen.append(ev)
        if len(seen) == 10:
            raise BrokenPipeError("stdout closed")

    feed.add_listener(broken_tap)
    await agg.connect_all()
    got = [e async for e in stream]  # ends: nothing live, the replay stopped
    with pytest.raises(BrokenPipeError):
        await agg.wait_replays()
    assert len(seen) == 10 and 1 <= len(got) <= 10 and not feed.done


def test_an_aggregator_of_replays_only_has_no_live_venue():
    from conftest import BINANCE_FRAMES, BITMEX_INSERTS

    agg = ExchangeAggregator(exchanges=[])
    assert agg.adapters == {} and agg.exchanges() == []
    agg.add_replay(ReplayFeed([BITMEX_INSERTS]))
    agg.add_replay(ReplayFeed([BINANCE_FRAMES], only_exchanges=["binance"]))
    assert agg.exchanges() == ["bitmex", "binance"]
    with pytest.raises(FileNotFoundError):
        agg.add_replay(ReplayFeed(["/nonexistent/capture.jsonl"]))

