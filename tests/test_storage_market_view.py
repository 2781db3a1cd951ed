"""The market view's storage: merged tickers sampled to one row per instrument and second
(DuckDB ``market_tickers``, Redis latest) and arbitrage opportunity states, from REAL recorded
frames (cryptofeed BitMEX and Binance COIN-M sessions in tests/fixtures) through the same
TieredStore serve uses. Expected rows are recomputed here from the raw frames."""

from __future__ import annotations

import json

import duckdb
import pytest
from test_parse_fixtures import cryptofeed_frames

from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.ticker_series import TickerSeries
from liqmap.exchanges.registry import get_venue
from liqmap.models import Ticker
from liqmap.storage.tiered import TieredStore


def coinm_tickers():
    v = get_venue("binance_coinm")
    return [e for rx, text in cryptofeed_frames("BINANCE_DELIVERY.ws.1.0.gz") for e in v.parse(text, rx)
            if isinstance(e, Ticker)]


def expected_last_per_second(symbol: str) -> dict[int, dict]:
    """The last bookTicker of each second (by its T) of one COIN-M symbol, raw."""
    out: dict[int, dict] = {}
    for _, text in cryptofeed_frames("BINANCE_DELIVERY.ws.1.0.gz"):
        if '"bookTicker"' in text:
            d = json.loads(text)["data"]
            if d["s"] == symbol:
                out[d["T"] - d["T"] % 1000] = d
    return out


def test_one_sample_per_instrument_and_second_is_the_seconds_last_ticker():
    ticks = coinm_tickers()
    series = TickerSeries()
    samples = series.add(ticks) + series.flush()
    want = expected_last_per_second("BCHUSD_PERP")
    got = {s.second: s for s in samples if s.symbol == "BCHUSD_PERP"}
    assert len(want) > 20 and set(got) == set(want)
    for second, d in want.items():
        s = got[second]
        assert (s.bid_price, s.ask_price, s.timestamp) == (float(d["b"]), float(d["a"]), d["T"])
        assert s.bid_size == pytest.approx(float(d["B"]) * 10 / float(d["b"]))
    assert len(samples) == len({(s.symbol, s.second) for s in samples})


def test_fields_from_different_messages_merge_and_a_late_ticker_is_counted():
    series = TickerSeries()
    a = Ticker("x", "S", 1_000, 1_000, bid_price=1.0, ask_price=2.0)
    b = Ticker("x", "S", 1_500, 1_500, funding_rate=0.001)  # same second: merged into it
    c = Ticker("x", "S", 2_100, 2_100, bid_price=1.5)
    late = Ticker("x", "S", 1_900, 1_900, bid_price=9.0)
    (first,) = series.add([a, b, c])
    assert (first.second, first.bid_price, first.ask_price, first.funding_rate) == (1_000, 1.0, 2.0, 0.001)
    assert series.add([late]) == [] and series.late == 1
    (second,) = series.flush()
    assert (second.bid_price, second.ask_price, second.funding_rate) == (1.5, 2.0, 0.001)  # carried over


async def test_tiered_store_keeps_one_row_per_second_and_a_replay_adds_nothing(tmp_path):
    ticks = coinm_tickers()
    op = ArbitrageOpportunity(id="BCH/USD:binance_coinm>bitmex:1", base="BCH", quote_family="USD",
                              buy_exchange="binance_coinm", buy_symbol="BCHUSD_PERP", buy_price=427.9,
                              sell_exchange="bitmex", sell_symbol="BCHUSD", sell_price=438.4, gross_bps=242.3,
                              fees_bps=12.5, net_bps=229.8, peak_net_bps=229.8, funding_spread=None, opened_at=1,
                              updated_at=1, closed_at=None, duration_ms=0)
    closed = ArbitrageOpportunity(**{**{f: getattr(op, f) for f in op.__struct_fields__}, "open": False,
                                     "closed_at": 9, "updated_at": 9, "duration_ms": 8})
    db = str(tmp_path / "m.duckdb")
    for _ in range(2):  # the same input twice: keyed, nothing stored twice
        store = TieredStore(db)
        await store.write(ticks + [op])
        await store.write([closed])
        await store.close()
    con = duckdb.connect(db, read_only=True)
    want = expected_last_per_second("BCHUSD_PERP")
    rows = con.execute("SELECT second, bid_price, ask_price FROM market_tickers WHERE symbol = 'BCHUSD_PERP' "
                       "ORDER BY second").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(k, float(d["b"]), float(d["a"])) for k, d in sorted(want.items())]
    n, distinct = con.execute("SELECT count(*), count(DISTINCT (exchange, symbol, second)) FROM market_tickers").fetchone()
    assert n == distinct and n == len({(t.symbol, t.timestamp - t.timestamp % 1000) for t in ticks})
    arb = con.execute("SELECT id, is_open, closed_at, duration_ms, funding_spread FROM arbitrage_opportunities").fetchall()
    assert arb == [(op.id, False, 9, 8, None)]


@pytest.mark.redis
async def test_redis_keeps_the_newest_ticker_per_instrument(tmp_path):
    import uuid

    import redis.asyncio as aioredis

    url = "redis://127.0.0.1:6379/0"
    probe = aioredis.from_url(url, socket_connect_timeout=1.0)
    try:
        await probe.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"!!! Redis not reachable at 127.0.0.1:6379: {exc} !!!")
    prefix = f"liqtest{uuid.uuid4().hex[:10]}"
    store = TieredStore(str(tmp_path / "r.duckdb"), redis_url=url, redis_prefix=prefix)
    try:
        ticks = coinm_tickers()
        await store.write(ticks)
        await store.close()
        last = max((t for t in ticks if t.symbol == "BCHUSD_PERP"), key=lambda t: t.timestamp)
        h = await probe.hgetall(f"{prefix}:ticker:binance_coinm:BCHUSD_PERP")
        assert float(h[b"bid_price"]) == last.bid_price and float(h[b"ask_price"]) == last.ask_price
        assert int(h[b"timestamp"]) == last.timestamp
        # an older sample never replaces a newer one
        store2 = TieredStore(str(tmp_path / "r2.duckdb"), redis_url=url, redis_prefix=prefix)
        await store2.write([Ticker("binance_coinm", "BCHUSD_PERP", 1, 1, bid_price=1.0, ask_price=2.0),
                            Ticker("binance_coinm", "BCHUSD_PERP", 2_000, 2_000, bid_price=1.0, ask_price=2.0)])
        await store2.close()
        h = await probe.hgetall(f"{prefix}:ticker:binance_coinm:BCHUSD_PERP")
        assert float(h[b"bid_price"]) == last.bid_price
    finally:
        keys = [k async for k in probe.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await probe.delete(*keys)
        await probe.aclose()


def test_ticker_value_fields_are_exactly_the_ticker_values():
    """The one list of Ticker value fields (quote board, 1 s series, Redis hashes) names every
    Ticker field but the identity and times: a field added to Ticker cannot be silently left out."""
    from liqmap.models import TICKER_VALUE_FIELDS, Ticker

    identity = {"exchange", "symbol", "timestamp", "received_at"}
    assert len(set(TICKER_VALUE_FIELDS)) == len(TICKER_VALUE_FIELDS)
    assert set(TICKER_VALUE_FIELDS) == set(Ticker.__struct_fields__) - identity
