"""Bybit parser on every Bybit liquidation message in the tardis fixtures and
on the cryptofeed 2021 sessions (tests/fixtures only)."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.bybit import is_inverse
from liqmap.exchanges.registry import get_venue
from liqmap.symbols import split_symbol
from liqmap.models import Liquidation, Trade
from test_parse_fixtures import T0, compact, parse_cryptofeed_session, parse_ok, tardis_messages


def liquidation_frames() -> dict[str, list[str]]:
    """Real liquidation frames as the websocket delivers them (venue contract test,
    bench_parsers.py): the v5 ``allLiquidation`` frame, and every recorded Bybit shape."""
    msgs = [r["message"] for r in tardis_messages("bybit")]
    return {
        "bybit": [compact(m) for m in msgs if m["topic"].startswith("allLiquidation")],
        "bybit (all shapes)": [compact(m) for m in msgs],
    }


def _all_bybit_liqs():
    v = get_venue("bybit")
    out = []
    for rec in tardis_messages("bybit"):
        out.append((rec, parse_ok(v, rec["message"])))
    return out


def test_every_tardis_bybit_liquidation_parses():
    pairs = _all_bybit_liqs()
    assert len(pairs) == 8
    total = 0
    for rec, events in pairs:
        data = rec["message"]["data"]
        rows = data if isinstance(data, list) else [data]
        assert len(events) == len(rows)
        for row, liq in zip(rows, events):
            assert isinstance(liq, Liquidation)
            raw_side = row.get("S", row.get("side"))
            # Bybit reports the POSITION side: Buy = long liquidated (opposite of Binance).
            assert liq.side == ("long" if raw_side == "Buy" else "short")
            assert liq.order_side == raw_side
            size = float(row.get("v", row.get("size", row.get("qty"))))
            price = float(row.get("p", row.get("price")))
            assert liq.price == price
            if liq.quote == "USD":  # inverse: size is USD contracts
                assert liq.value_usd == size and liq.quantity == pytest.approx(size / price)
            else:
                assert liq.quantity == size and liq.value_usd == pytest.approx(size * price)
            assert liq.timestamp == int(row.get("T", row.get("updatedTime", row.get("time"))))
            total += 1
    assert total == 10


def test_hand_computed_bybit():
    by_topic = {rec["message"]["topic"] + str(rec["source_line"]): ev for rec, ev in _all_bybit_liqs()}
    (pippin,) = by_topic["allLiquidation.PIPPINUSDT7303"]
    # allLiquidation S=Sell -> short position; 2846 PIPPIN x 0.02456 = 69.89776 USDT
    assert (pippin.side, pippin.base, pippin.quote) == ("short", "PIPPIN", "USDT")
    assert pippin.value_usd == pytest.approx(69.89776)
    assert pippin.timestamp == 1740480207110
    (xrp,) = by_topic["liquidation.XRPUSD7279"]
    # inverse XRPUSD: 6949 USD contracts at 0.5149 -> 13495.82 XRP
    assert (xrp.side, xrp.value_usd) == ("short", 6949.0)
    assert xrp.quantity == pytest.approx(13495.8244, rel=1e-6)
    (gala,) = by_topic["liquidation.GALAUSDT7267"]
    assert gala.side == "long" and gala.quantity == 1637 and gala.value_usd == pytest.approx(62.25511)
    big = by_topic["liquidation.BTCUSD6910"]
    assert len(big) == 3 and big[0].value_usd == 1_257_079 and big[0].side == "long"


def test_same_event_same_id_across_shapes():
    v = get_venue("bybit")
    (pippin,) = parse_ok(v, tardis_messages("bybit")[-1]["message"])
    row = tardis_messages("bybit")[-1]["message"]["data"][0]
    deprecated = {"topic": "liquidation.PIPPINUSDT", "type": "snapshot", "ts": 1,
                  "data": {"updatedTime": row["T"], "symbol": row["s"], "side": row["S"], "size": row["v"],
                           "price": row["p"]}}
    assert parse_ok(v, deprecated, 99)[0].id == pippin.id


def test_cryptofeed_bybit_legacy_trades():
    v = get_venue("bybit")
    for name, symbol, lo, hi in (("BYBIT.ws.25.0.gz", "ETHUSDT", 2364.6, 2365.0),
                                 ("BYBIT.ws.26.0.gz", "BTCUSD", 60621.5, 60623.0)):
        events, counts, errors = parse_cryptofeed_session(v, name)
        prices = []
        for e in events:
            if isinstance(e, Trade) and e.symbol == symbol:
                prices.append(e.price)
                if e.quote == "USD":
                    assert e.value_usd == int(e.value_usd)  # whole USD contracts
        assert not errors, errors[:3]
        assert counts["Trade"] > 50
        assert prices and lo <= min(prices) and max(prices) <= hi


def test_ticker_and_public_trade_shapes_and_errors():
    v = get_venue("bybit")
    # v5 documented shapes
    ev = v.parse(json.dumps({"topic": "tickers.BTCUSD", "type": "snapshot", "ts": T0 + 5, "data": {
        "symbol": "BTCUSD", "markPrice": "50000", "openInterest": "1000000", "lastPrice": "50010"}}), T0 + 6)
    oi = ev[0]  # openInterest counts both sides: one side is half (module docstring)
    assert oi.open_interest == 10.0 and oi.open_interest_usd == 500_000
    ev = v.parse(json.dumps({"topic": "tickers.BTCUSDT", "type": "delta", "ts": T0 + 5, "data": {
        "symbol": "BTCUSDT", "markPrice": "50000", "openInterest": "200", "openInterestValue": "10000000",
        "singleOpenInterest": "99", "singleOpenInterestValue": "4950000"}}), T0 + 6)
    assert (ev[0].open_interest, ev[0].open_interest_usd) == (99.0, 4_950_000.0)  # the single-side fields win
    assert v.parse('{"success":true,"ret_msg":"pong","op":"ping"}', 1) == []
    with pytest.raises(FrameError, match="rejected"):
        v.parse('{"success":false,"ret_msg":"Invalid symbol","op":"subscribe"}', 1)
    with pytest.raises(FrameError):
        v.parse('{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Hold","v":"1","p":"2"}]}', 1)


def test_symbols_and_connections():
    assert is_inverse("BTCUSD") and is_inverse("BTCUSDH25") and not is_inverse("BTCUSDT")
    assert split_symbol("bybit", "1000PEPEUSDT") == ("1000PEPE", "USDT")
    assert split_symbol("bybit", "BTCPERP") == ("BTC", "USDC")
    v = get_venue("bybit")
    conns = {c.label: c for c in v.connections(["BTCUSDT", "XRPUSD"])}
    assert conns["linear"].url == "wss://stream.bybit.com/v5/public/linear"
    assert conns["inverse"].url == "wss://stream.bybit.com/v5/public/inverse"
    assert conns["linear"].heartbeat.interval_s == 20 and conns["linear"].heartbeat.message == '{"op":"ping"}'
    assert "allLiquidation.XRPUSD" in [t.key for t in conns["inverse"].topics]
    default = v.connections()
    args = [t.key for c in default for t in c.topics]
    assert "allLiquidation.BTCUSDT" in args and "allLiquidation.BTCUSD" in args
    sub = json.loads(v.subscribe_request(default[0].topics[:2], 7))
    assert sub == {"req_id": "7", "op": "subscribe", "args": ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"]}


def test_v5_public_trade_and_kline_documented_shapes():
    """Documented v5 layouts (hand-written, not market data)."""
    v = get_venue("bybit")
    trade = {"topic": "publicTrade.BTCUSD", "type": "snapshot", "ts": T0 + 10, "data": [
        {"T": T0 + 9, "s": "BTCUSD", "S": "Sell", "v": "500", "p": "50000", "L": "MinusTick", "i": "abc", "BT": False}]}
    (t,) = v.parse(json.dumps(trade), T0 + 11)
    assert (t.side, t.value_usd, t.quantity, t.id) == ("sell", 500.0, 0.01, "bybit:BTCUSD:abc")
    kline = {"topic": "kline.1.BTCUSDT", "type": "snapshot", "ts": T0 + 5, "data": [
        {"start": T0, "end": T0 + 59999, "interval": "1", "open": "1", "close": "2", "high": "3", "low": "0.5",
         "volume": "10", "turnover": "15", "confirm": True, "timestamp": T0 + 5}]}
    (k,) = v.parse(json.dumps(kline), T0 + 6)
    assert (k.volume, k.quote_volume, k.closed) == (10.0, 15.0, True)


def test_native_symbols():
    assert get_venue("bybit").native_symbols("BTC") == ["BTCUSDT", "BTCUSD"]
    assert get_venue("bybit").native_symbols("BTC", "USDC") == ["BTCPERP"]
