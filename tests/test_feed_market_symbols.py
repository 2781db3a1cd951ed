"""All-market liquidations plus the market data of a few instruments (``market_symbols``):
what ``serve`` subscribes for its heatmap underlyings (issue #10 item 1).

Checked on the venues' own declarations and against a local Bybit that answers like Bybit,
sending the real v5 ``allLiquidation`` frame of tardis-node's tests."""

from __future__ import annotations

import json

from liqmap.exchanges.base import ConnectionSpec, Topic
from liqmap.exchanges.registry import get_venue
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.feed.aggregator import ExchangeAggregator
from liqmap.feed.listing import merge_specs
from liqmap.models import Liquidation
from localvenue import LocalWsVenue, Send, Sleep, WaitFor, tardis_messages, wait_until
from venue_answers import BybitAnswers

LIQ = [m for m in tardis_messages("bybit") if '"allLiquidation.' in m]  # PIPPINUSDT, 2025-02-25
FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None, overlap_s=0.2)


def test_merge_specs_joins_one_socket_and_keeps_each_topic_once():
    a = ConnectionSpec("linear", "wss://x/linear", topics=(Topic("allLiquidation.BTCUSDT"), Topic("tickers.BTCUSDT", "tickers")))
    b = ConnectionSpec("linear", "wss://x/linear", topics=(Topic("tickers.BTCUSDT", "tickers"), Topic("publicTrade.BTCUSDT", "trades")))
    c = ConnectionSpec("inverse", "wss://x/inverse", topics=(Topic("tickers.BTCUSD", "tickers"),))
    out = merge_specs([a, c, b])
    assert [s.label for s in out] == ["linear", "inverse"]
    assert [t.key for t in out[0].topics] == ["allLiquidation.BTCUSDT", "tickers.BTCUSDT", "publicTrade.BTCUSDT"]
    url = ConnectionSpec("usdm", "wss://x/stream?streams=a", topics=(Topic("a"),), topics_in_url=True)
    assert merge_specs([url, url]) == [url, url]  # URL-named streams are never merged


def test_market_connections_carry_no_liquidation_topic():
    for name in ("bybit", "okx", "bitmex", "deribit"):
        venue = get_venue(name)
        sym = venue.native_symbols("BTC", "USDT")[0]
        specs = venue.market_connections([sym])
        assert specs, name
        kinds = {t.kind for s in specs for t in s.topics}
        assert "liquidations" not in kinds and kinds, name
        # the same socket as the all-market subscription: joined, not a second connection
        assert {(s.url, s.label) for s in specs} <= {(s.url, s.label) for s in venue.connections(None)}, name


def test_binance_market_streams_have_their_own_url_without_force_orders():
    venue = get_venue("binance")
    spec, book = venue.market_connections(["BTCUSDT"])
    assert spec.label == "usdm-market" and "forceOrder" not in spec.url
    assert [t.key for t in spec.topics] == ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "btcusdt@kline_1m",
                                            "btcusdt@ticker"]
    # best bid/ask on the high-frequency /public entry point (the 2026 URL split)
    assert book.label == "usdm-market-book" and book.url.startswith("wss://fstream.binance.com/public/")
    assert [t.key for t in book.topics] == ["btcusdt@bookTicker"]
    assert "!forceOrder@arr" in venue.connections(None)[0].url


def test_aggregator_gives_each_venue_its_native_instruments():
    agg = ExchangeAggregator(exchanges=["binance", "bybit", "okx"], market_symbols=["BTC", "ETH"])
    assert agg.adapters["binance"].symbols is None
    assert {"BTCUSDT", "ETHUSDT"} <= set(agg.adapters["binance"].market_symbols)
    assert {"BTCUSDT", "BTCUSD", "ETHUSDT"} <= set(agg.adapters["bybit"].market_symbols)
    assert {"BTC-USDT-SWAP", "ETH-USDT-SWAP"} <= set(agg.adapters["okx"].market_symbols)


async def test_bybit_all_market_liquidations_and_btc_series_on_one_socket():
    answers = BybitAnswers()  # every symbol listed
    async with LocalWsVenue([[WaitFor(1), Sleep(0.2), Send(LIQ)]], answer=answers) as venue:
        adapter = ExchangeAdapter("bybit", ws_url=venue.url, market_symbols=["BTCUSDT"], **FAST)
        events = []
        adapter.add_listener(events.append)
        await adapter.connect()
        try:
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), timeout_s=10, what="liquidations")
            await wait_until(lambda: adapter.health().subscribed == adapter.health().requested, timeout_s=10,
                             what="every topic acknowledged")
            h = adapter.health()
        finally:
            await adapter.disconnect()
    linear = [c for c in adapter_urls(venue) if c.endswith("/linear")]
    assert len(linear) == 1  # one linear socket carries both
    args = [a for m in venue.messages(0) for a in json.loads(m).get("args", [])]
    assert "allLiquidation.SOLUSDT" in args and "publicTrade.BTCUSDT" in args  # all-market + BTC's trades
    assert "publicTrade.SOLUSDT" not in args  # trades only for the market symbols
    assert args.count("tickers.BTCUSDT") == args.count("allLiquidation.BTCUSDT") == 1  # not doubled
    assert h.requested == h.subscribed > 0 and not h.rejected


def adapter_urls(venue: LocalWsVenue) -> list[str]:
    return list(venue.paths)
