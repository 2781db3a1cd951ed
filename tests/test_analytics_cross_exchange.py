"""Cross-exchange view on REAL recorded ticker/book frames (cryptofeed sample sessions in
tests/fixtures: Binance COIN-M bookTicker 2021-07-22 01:13 UTC, BitMEX quote + instrument
2021-07-22 22:36 UTC, Binance USD-M bookTicker, OKX tickers). Every value is recomputed here
from the raw JSON, independently of the parsers and of liqmap.analytics.

The sessions were recorded hours apart, so a "spread" between them is not a market fact: the
tests check the arithmetic on real values, with a stale window wide enough to hold them."""

from __future__ import annotations

import json
import math

import pytest
from test_parse_fixtures import cryptofeed_frames, cryptofeed_rest

from liqmap.analytics.cross_exchange import arbitrage_candidates, cross_exchange_data, liquidity_score
from liqmap.analytics.quotes import Quote, QuoteBoard
from liqmap.exchanges.registry import get_venue

SESSIONS = [("binance_coinm", "BINANCE_DELIVERY.ws.1.0.gz"), ("binance", "BINANCE_FUTURES.ws.1.0.gz"),
            ("bitmex", "BITMEX.0.gz"), ("bitmex", "BITMEX.ws.1.0.gz"), ("okx", "OKX.ws.1.0.gz")]
DAY_MS = 86_400_000


def board() -> tuple[QuoteBoard, int]:
    b = QuoteBoard()
    venues = {}
    newest = 0
    for name, f in SESSIONS:
        v = venues.setdefault(name, get_venue(name))
        frames = [(1_626_993_367_385, cryptofeed_rest(f))] if ".ws." not in f else cryptofeed_frames(f)
        for rx, text in frames:
            for ev in v.parse(text, rx):
                b.update(ev)
                newest = max(newest, getattr(ev, "received_at", 0))
    return b, newest


BOARD, _ = board()
#: "now" for the BCH group: its newest receipt (BitMEX, 2021-07-22 22:36 UTC)
NOW = max(q.received_at for q in BOARD.quotes("BCH", "USD"))


def last_book(name: str, symbol: str) -> dict:
    """The last bookTicker of ``symbol`` in a Binance session, raw."""
    out = None
    for _, text in cryptofeed_frames(name):
        if '"bookTicker"' in text:
            d = json.loads(text)["data"]
            if d["s"] == symbol:
                out = d
    return out


def last_bitmex_quote(symbol: str) -> tuple[dict, int]:
    out = None
    for rx, text in cryptofeed_frames("BITMEX.ws.1.0.gz"):
        msg = json.loads(text)
        if msg.get("table") == "quote" and msg["action"] in ("partial", "insert"):
            for d in msg["data"]:
                if d["symbol"] == symbol and d["bidPrice"] and d["askPrice"]:
                    out = (d, rx)
    return out


def bitmex_instrument(symbol: str) -> dict:
    return next(r for r in json.loads(cryptofeed_rest("BITMEX.0.gz")) if r["symbol"] == symbol)


def test_only_perpetuals_grouped_by_underlying_and_quote_family():
    groups = set(BOARD.groups())
    # COIN-M perps (USD family), BitMEX perps (USD inverse/quanto and USDT), USD-M perps, OKX's swap
    assert {("BCH", "USD"), ("BTC", "USD"), ("XRP", "USD"), ("UNI", "USDT"), ("UNI", "USD"), ("SUSHI", "USDT")} <= groups
    syms = {(q.exchange, q.symbol) for q in BOARD.all()}
    assert ("binance_coinm", "BCHUSD_PERP") in syms and ("bitmex", "XBTUSD") in syms and ("okx", "UNI-USD-SWAP") in syms
    # dated futures, spot and options are left out
    assert not {s for s in syms if s[1] in ("BTCUSD_211231", "ETHUSD_210924", "BTC-USDT", "BTC-USD-220527", "XRPU21")}
    assert {q.exchange for q in BOARD.quotes("BCH", "USD")} == {"binance_coinm", "bitmex"}
    assert BOARD.quotes("UNI", "USD")[0].exchange == "okx" and [q.exchange for q in BOARD.quotes("UNI", "USDT")] == ["bitmex"]


def expected_bch():
    """BCH in the USD family, recomputed from the raw frames: COIN-M BCHUSD_PERP (10 USD
    contracts) and BitMEX BCHUSD (quote table + instrument row)."""
    cb = last_book("BINANCE_DELIVERY.ws.1.0.gz", "BCHUSD_PERP")
    c_bid, c_ask = float(cb["b"]), float(cb["a"])
    c_bsz, c_asz = float(cb["B"]) * 10 / c_bid, float(cb["A"]) * 10 / c_ask
    mq, _ = last_bitmex_quote("BCHUSD")
    inst = bitmex_instrument("BCHUSD")
    return {"coinm": (c_bid, c_ask, c_bsz, c_asz), "bitmex": (mq["bidPrice"], mq["askPrice"]), "inst": inst}


def test_bch_usd_family_values_recomputed_from_the_frames():
    x = expected_bch()
    c_bid, c_ask, c_bsz, c_asz = x["coinm"]
    m_bid, m_ask = x["bitmex"]
    data = cross_exchange_data("BCH", "USD", BOARD.quotes("BCH", "USD"), NOW, stale_ms=DAY_MS,
                               fees_bps={"binance_coinm": 5.0, "bitmex": 7.5})
    assert data.venues == 2 and data.stale_venues == []
    # COIN-M carries no 24 h volume in these sessions: equal weights, never a silent drop
    assert data.weighting == "equal"
    p1, p2 = (c_bid + c_ask) / 2, (m_bid + m_ask) / 2
    agg = (p1 + p2) / 2
    assert data.aggregated_price == pytest.approx(agg, rel=1e-12)
    assert data.price_variance == pytest.approx(((p1 - agg) ** 2 + (p2 - agg) ** 2) / 2, rel=1e-9)
    assert data.max_spread_bps == pytest.approx(abs(p2 - p1) / agg * 1e4, rel=1e-9)
    assert data.price_std_bps == pytest.approx(math.sqrt(data.price_variance) / agg * 1e4, rel=1e-9)
    assert (data.best_bid, data.best_bid_exchange) == (max(c_bid, m_bid), "bitmex" if m_bid > c_bid else "binance_coinm")
    assert (data.best_ask, data.best_ask_exchange) == (min(c_ask, m_ask), "binance_coinm" if c_ask < m_ask else "bitmex")
    inst = x["inst"]
    assert data.volume_total == pytest.approx(inst["foreignNotional24h"])  # only BitMEX reports one
    coinm = data.exchanges_data["binance_coinm"]
    assert coinm.spread_bps == pytest.approx((c_ask - c_bid) / p1 * 1e4)
    assert coinm.depth_usd == pytest.approx(c_bid * c_bsz + c_ask * c_asz)  # both within 10 bps of its mid
    assert coinm.liquidity_score == pytest.approx(100 * (
        0.4 * min(1, max(0, math.log10((c_bid * c_bsz + c_ask * c_asz) / 1e3) / 4))
        + 0.3 * min(1, max(0, 1 - coinm.spread_bps / 20))) / 0.7)
    bitmex = data.exchanges_data["bitmex"]
    assert bitmex.funding_rate == inst["fundingRate"] and bitmex.volume_24h == inst["homeNotional24h"]
    # arbitrage: buy the cheaper ask, sell the dearer bid, net of 5 + 7.5 bps taker fees
    gross = (m_bid - c_ask) / ((m_bid + c_ask) / 2) * 1e4
    (op,) = data.arbitrage_opportunities
    assert (op.buy_exchange, op.sell_exchange, op.buy_price, op.sell_price) == ("binance_coinm", "bitmex", c_ask, m_bid)
    assert op.gross_bps == pytest.approx(gross) and op.net_bps == pytest.approx(gross - 12.5)
    assert op.funding_spread is None  # COIN-M's funding is not in these sessions


def test_consolidated_liquidity_counts_only_top_levels_within_10_bps_of_the_best_mid():
    x = expected_bch()
    c_bid, c_ask, c_bsz, c_asz = x["coinm"]
    mq, _ = last_bitmex_quote("BCHUSD")
    data = cross_exchange_data("BCH", "USD", BOARD.quotes("BCH", "USD"), NOW, stale_ms=DAY_MS)
    best_bid, best_ask = max(c_bid, mq["bidPrice"]), min(c_ask, mq["askPrice"])
    mid = (best_bid + best_ask) / 2
    lo, hi = mid * (1 - 10 / 1e4), mid * (1 + 10 / 1e4)
    q = BOARD.quote("bitmex", "BCHUSD")
    depth = sum(p * s for p, s, ok in ((c_bid, c_bsz, c_bid >= lo), (c_ask, c_asz, c_ask <= hi),
                                          (q.bid_price, q.bid_size, q.bid_price >= lo),
                                          (q.ask_price, q.ask_size, q.ask_price <= hi)) if ok)
    assert data.depth_usd == pytest.approx(depth)
    spread = max(0.0, best_ask - best_bid) / mid * 1e4
    assert spread == 0.0  # the sessions are hours apart: the "book" is crossed
    want = 100 * (0.4 * min(1, max(0, math.log10(depth / 1e3) / 4)) + 0.3 * 1.0
                  + 0.3 * min(1, max(0, math.log10(x["inst"]["foreignNotional24h"] / 1e6) / 4)))
    assert data.liquidity_score == pytest.approx(want)


def test_a_venue_silent_past_the_stale_window_is_listed_but_not_aggregated():
    data = cross_exchange_data("BCH", "USD", BOARD.quotes("BCH", "USD"), NOW)  # default 10 s window
    assert data.stale_venues == ["binance_coinm"] and data.venues == 1
    assert data.exchanges_data["binance_coinm"].stale
    assert data.aggregated_price == pytest.approx(data.exchanges_data["bitmex"].price)
    assert data.arbitrage_opportunities == [] and data.max_spread_bps == 0.0


def test_single_venue_group_with_volume_is_volume_weighted():
    (q,) = BOARD.quotes("UNI", "USD")  # OKX UNI-USD-SWAP tickers: last frame, raw
    last = None
    for _, text in cryptofeed_frames("OKX.ws.1.0.gz"):
        if '"channel":"tickers","instId":"UNI-USD-SWAP"},"data"' in text:
            last = json.loads(text)["data"][0]
    data = cross_exchange_data("UNI", "USD", [q], q.received_at, stale_ms=DAY_MS)
    mid = (float(last["bidPx"]) + float(last["askPx"])) / 2
    assert data.weighting == "volume" and data.aggregated_price == pytest.approx(mid)
    assert data.volume_total == pytest.approx(float(last["vol24h"]) * 10)  # 10 USD contracts
    assert data.price_variance == 0.0 and data.arbitrage_opportunities == []


def quote(ex, bid, ask, vol=None, funding=None, bsz=1.0, asz=1.0, rx=1000):
    q = Quote(ex, f"{ex}-X", "X", "USDT", "USDT")
    q.bid_price, q.ask_price, q.bid_size, q.ask_size = bid, ask, bsz, asz
    q.volume_24h_usd, q.funding_rate, q.received_at = vol, funding, rx
    return q


def test_volume_weights_and_fee_netting_arithmetic():
    """Constructed numbers (arithmetic only, not market data)."""
    qs = [quote("a", 99.0, 101.0, vol=1e6, funding=0.0001), quote("b", 102.0, 104.0, vol=3e6, funding=-0.0002),
          quote("c", 100.0, 100.2, vol=None)]
    d = cross_exchange_data("X", "USDT", qs[:2], 1000, fees_bps={"a": 4, "b": 6})
    assert d.weighting == "volume" and d.aggregated_price == pytest.approx((100 * 1 + 103 * 3) / 4)
    assert d.price_variance == pytest.approx((1 * (100 - 102.25) ** 2 + 3 * (103 - 102.25) ** 2) / 4)
    (op,) = d.arbitrage_opportunities  # buy a at 101, sell b at 102
    g = (102 - 101) / 101.5 * 1e4
    assert op.gross_bps == pytest.approx(g) and op.net_bps == pytest.approx(g - 10)
    assert op.funding_spread == pytest.approx(-0.0002 - 0.0001)
    d3 = cross_exchange_data("X", "USDT", qs, 1000)
    assert d3.weighting == "equal"  # c reports no volume
    # the fee floor: a pair whose gross does not beat both fees is no opportunity
    assert arbitrage_candidates("X", "USDT", qs[:2], 1000, fees_bps={"a": 50, "b": 50}) == []
    assert liquidity_score(None, None, None) is None and liquidity_score(1e7, 0.0, 1e10) == pytest.approx(100.0)


def test_depth_counts_only_levels_within_10_bps():
    """Constructed numbers: a 30 bps wide venue has no top-of-book depth within 10 bps."""
    wide = quote("w", 99.85, 100.15, bsz=10.0, asz=10.0)
    tight = quote("t", 99.95, 100.05, bsz=10.0, asz=10.0)
    d = cross_exchange_data("X", "USDT", [wide], 1000)
    assert d.exchanges_data["w"].depth_usd == 0.0 and d.depth_usd == 0.0
    d = cross_exchange_data("X", "USDT", [wide, tight], 1000)
    assert d.exchanges_data["t"].depth_usd == pytest.approx(99.95 * 10 + 100.05 * 10)
    assert d.depth_usd == pytest.approx(99.95 * 10 + 100.05 * 10)  # mid 100: only t's levels in the band
