"""Binance USD-M / COIN-M parser on real recorded frames (tests/fixtures only)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.contracts import ContractSizes, ContractSpec
from liqmap.exchanges.registry import get_venue
from liqmap.models import Kline, Liquidation, Quarantined, Trade
from test_parse_fixtures import T0, arbitra_frames, compact, parse_cryptofeed_session, parse_ok, tardis_messages


def liquidation_frames() -> dict[str, list[str]]:
    """Real liquidation frames per venue, as the websocket delivers them (read by the
    venue contract test and benchmarks/bench_parsers.py): the 42 arbitra
    ``!forceOrder@arr`` events in their combined-stream wrapper, and the COIN-M one."""
    return {
        "binance": [compact({"stream": "!forceOrder@arr", "data": r["msg"]}) for r in arbitra_frames()],
        "binance_coinm": [compact(r["message"]) for r in tardis_messages("binance-delivery")],
    }


def _recv(rec: dict) -> int:
    return int(datetime.fromisoformat(rec["ts"]).timestamp() * 1000)


def test_all_42_arbitra_frames_invariants():
    v = get_venue("binance")
    liqs = []
    for rec in arbitra_frames():
        ev = parse_ok(v, rec["msg"], _recv(rec))
        assert len(ev) == 1 and isinstance(ev[0], Liquidation)
        liq, o = ev[0], rec["msg"]["o"]
        p, ap, z = float(o["p"]), float(o["ap"]), float(o["z"])
        # SELL => long liquidated, and the forced sell fills above its limit (p < ap).
        if o["S"] == "SELL":
            assert liq.side == "long" and p < ap
        else:
            assert liq.side == "short" and p > ap
        assert liq.price == ap and liq.quantity == z
        assert liq.value_usd == pytest.approx(z * ap)
        assert liq.timestamp == o["T"] and liq.received_at == _recv(rec)
        assert liq.symbol == o["s"] and liq.base + liq.quote == o["s"]
        assert liq.order_side == o["S"] and liq.status == "FILLED"
        liqs.append(liq)
    assert len(liqs) == 42
    assert len({x.id for x in liqs}) == 42
    assert Counter(x.side for x in liqs) == {"long": 31, "short": 11}
    assert Counter(x.quote for x in liqs)["USDC"] == 2  # ETHUSDC, SOLUSDC


def test_hand_computed_frames():
    v = get_venue("binance")
    recs = arbitra_frames()
    # MOODENGUSDT SELL q=1130 p=0.15281 ap=0.1543294 l=66 z=1130: size is z (not l).
    liq = parse_ok(v, recs[3]["msg"])[0]
    assert (liq.symbol, liq.base, liq.side) == ("MOODENGUSDT", "MOODENG", "long")
    assert liq.quantity == 1130.0 and liq.price == 0.1543294
    assert liq.value_usd == pytest.approx(174.392222)
    assert liq.timestamp == 1759417433392
    # SOLUSDT SELL 41.87 @ ap 222.72 -> 9325.2864 USD
    sol = parse_ok(v, recs[0]["msg"])[0]
    assert sol.value_usd == pytest.approx(41.87 * 222.72) == pytest.approx(9325.2864)
    btc = [parse_ok(v, r["msg"])[0] for r in recs if r["msg"]["o"]["s"] == "BTCUSDT"]
    assert len(btc) == 2 and all(120_000 < b.price < 121_000 for b in btc)


def test_combined_and_raw_give_same_event_and_id():
    v = get_venue("binance")
    msg = arbitra_frames()[5]["msg"]
    raw = v.parse(json.dumps(msg), 5, "a")
    combined = v.parse(json.dumps({"stream": "!forceOrder@arr", "data": msg}), 9, "b")
    assert raw[0].id == combined[0].id
    assert raw[0].received_at == 5 and combined[0].received_at == 9
    # bytes in, same result; number formatting ("50" vs "50.0") does not change the id
    o = dict(msg["o"], z=msg["o"]["z"] + ".000", p=msg["o"]["p"] + "0")
    again = v.parse(json.dumps(dict(msg, o=o)).encode(), 7)
    assert again[0].id == raw[0].id


def test_id_survives_csv_recording_format():
    """The datastreams CSV captures keep s,S,o,f,q,p,ap,X,l,z,T (no E): a frame
    rebuilt from such a row gets the same id as the raw websocket frame."""
    v = get_venue("binance")
    msg = arbitra_frames()[0]["msg"]
    o = msg["o"]
    rebuilt = {"e": "forceOrder", "o": {k: o[k] for k in "sSofqpapXlzT".replace("ap", "") if k in o}}
    rebuilt["o"]["ap"] = o["ap"]
    assert v.parse(json.dumps(rebuilt), 1)[0].id == v.parse(json.dumps(msg), 2)[0].id


def test_tardis_binance_messages():
    usdm, coinm = get_venue("binance"), get_venue("binance_coinm")
    (fut,) = tardis_messages("binance-futures")
    liq = parse_ok(usdm, fut["message"])[0]
    assert (liq.side, liq.price, liq.quantity) == ("short", 4706.04, 0.014)
    (dlv,) = tardis_messages("binance-delivery")
    liq = parse_ok(coinm, dlv["message"])[0]
    # COIN-M: z=3 contracts x 100 USD (BTC) = 300 USD; coins = 300 / ap 9352.7
    assert (liq.symbol, liq.base, liq.quote, liq.side) == ("BTCUSD_200925", "BTC", "USD", "long")
    assert liq.value_usd == 300.0
    assert liq.quantity == pytest.approx(300 / 9352.7)


def test_coinm_uses_loaded_contract_size():
    cs = ContractSizes([ContractSpec("binance_coinm", "BTCUSD_200925", "inverse", 50.0, "USD")])
    v = get_venue("binance_coinm", contracts=cs)
    (dlv,) = tardis_messages("binance-delivery")
    assert parse_ok(v, dlv["message"])[0].value_usd == 150.0
    eth = {"e": "forceOrder", "E": T0, "o": {"s": "ETHUSD_PERP", "S": "BUY", "q": "2", "p": "2000", "ap": "2000",
                                             "X": "FILLED", "z": "2", "T": T0}}
    assert parse_ok(v, eth)[0].value_usd == 20.0  # fallback: 10 USD per non-BTC contract


def test_cryptofeed_usdm_session():
    v = get_venue("binance")
    events, counts, errors = parse_cryptofeed_session(v, "BINANCE_FUTURES.ws.1.0.gz")
    for e in events:
        if isinstance(e, Trade) and e.symbol == "SUSHIUSDT":
            assert 7.0 < e.price < 8.5
    assert not errors
    assert counts["Trade"] > 50 and counts["Kline"] > 20


def test_cryptofeed_coinm_session():
    v = get_venue("binance_coinm")
    events, counts, errors = parse_cryptofeed_session(v, "BINANCE_DELIVERY.ws.1.0.gz")
    for e in events:
        if isinstance(e, Trade) and e.symbol == "BTCUSD_211231":
            assert 32_600 < e.price < 32_650 and e.base == "BTC"
            assert e.value_usd % 100 == 0  # whole 100-USD contracts
        if isinstance(e, Kline):
            assert e.open_time < e.close_time
    assert not errors
    assert counts["Trade"] == 51 and counts["Kline"] == 33


def test_open_interest_rest_body_and_errors():
    v = get_venue("binance")
    body = '{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}'
    (oi,) = v.parse(body, 5, "oi:BTCUSDT")
    assert oi.open_interest == 10659.509 and oi.timestamp == 1589437530011 and oi.base == "BTC"
    assert v.parse('{"result":null,"id":1}', 1) == []
    for bad in ("", "{", "[1,2]", '{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","p":"-1","z":"1"}}',
                '{"e":"forceOrder","o":{"s":"BTCUSDT","S":"HOLD","p":"1","z":"1"}}', '{"e":"mystery"}'):
        with pytest.raises(FrameError):
            v.parse(bad, 1)


def test_connection_specs():
    v = get_venue("binance")
    (c,) = v.connections()
    assert c.url == "wss://fstream.binance.com/market/stream?streams=!forceOrder@arr"
    assert c.max_lifetime_s is not None and 23 * 3600 < c.max_lifetime_s < 24 * 3600
    assert c.heartbeat.message == c.ack_probe == '{"method":"LIST_SUBSCRIPTIONS","id":900001}' and c.topics_in_url
    assert [(t.key, t.kind) for t in c.topics] == [("!forceOrder@arr", "liquidations")]
    assert v.rest_liquidations is False
    cm = get_venue("binance_coinm").connections()[0]
    assert cm.url == "wss://dstream.binance.com/stream?streams=!forceOrder@arr"
    many = v.connections([f"S{i}USDT" for i in range(200)])
    # 1 + 200 x 4 market streams on /market (5 connections of <= 200), 200 bookTicker on /public
    assert len(many) == 6 and many[0].url.count("/") > 100
    assert [c.url.split("/stream")[0] for c in many] == ["wss://fstream.binance.com/market"] * 5 + [
        "wss://fstream.binance.com/public"]
    assert many[-1].label == "usdm-book" and many[-1].url.count("@bookTicker") == 200
    (poll,) = v.rest_polls(["BTCUSDT"])
    assert poll.url == "https://fapi.binance.com/fapi/v1/openInterest?symbol=BTCUSDT"


def test_datastreams_csv_capture_rows():
    """456 real forceOrder events captured as CSV (symbol with 'USDT' stripped, no E).

    Rebuilt as forceOrder events they parse, obey the side/price invariants, and
    get the same id as the websocket frame carrying an E field would.
    """
    import csv

    from test_parse_fixtures import FIX

    v = get_venue("binance")
    path = FIX / "binance_forceorder_datastreams" / "BandsThoBaby_binance_liquidations_2024-08-17.csv"
    n = thousand = 0
    quarantined = []
    with open(path) as fh:
        for row in csv.reader(fh):
            s, S, o, f, q, p, ap, X, l, z, T, usd = row[:12]
            sym = s if s.endswith("USDC") else s + "USDT"
            event = {"e": "forceOrder", "o": {"s": sym, "S": S, "o": o, "f": f, "q": q, "p": p, "ap": ap,
                                              "X": X, "l": l, "z": z, "T": int(T)}}
            (liq,) = v.parse(json.dumps(event), int(T) + 5)
            if isinstance(liq, Quarantined):  # the gate: a price 4x away from the symbol's recent ones
                quarantined.append((liq.event.symbol, liq.event.price, liq.reference_price))
                liq = liq.event
            assert liq.side == ("long" if S == "SELL" else "short")
            # the forced order never fills worse than its limit (some rows fill exactly at it)
            assert (float(p) <= float(ap)) if S == "SELL" else (float(p) >= float(ap))
            assert liq.quantity == float(z) and liq.price == float(ap)
            assert liq.value_usd == pytest.approx(float(z) * float(ap))
            assert float(usd) == pytest.approx(liq.quantity * float(p))  # the CSV's usd_size is z x p
            with_e = dict(event, E=int(T) + 2)
            assert v.parse(json.dumps({"stream": "!forceOrder@arr", "data": with_e}), int(T) + 5)[0].id == liq.id
            if s.startswith("1000"):
                assert liq.base.startswith("1000") and liq.quote == "USDT"
                thousand += 1
            n += 1
    assert n == 456 and thousand == 13
    # one real row: RARE "SELL" at 1.7137 among RARE prints at 0.21-0.23 (the capture strips
    # USDT from symbols, so its contract cannot be told): stored apart, not as a liquidation
    assert quarantined == [("RAREUSDT", 1.7136747, 0.2197)]


def test_mark_price_array_and_aggtrade_documented_shapes():
    """Documented payload layouts (hand-written, not market data): ``!markPrice@arr``
    arrives as a list inside ``data``; aggTrade ``m=true`` means the buyer was the
    maker, i.e. the taker SOLD."""
    v = get_venue("binance")
    arr = {"stream": "!markPrice@arr@1s", "data": [
        {"e": "markPriceUpdate", "E": T0 + 1, "s": "BTCUSDT", "p": "100.5", "i": "100.4", "r": "0.0001", "T": 2},
        {"e": "markPriceUpdate", "E": T0 + 1, "s": "ETHUSDT", "p": "10.5", "i": "", "r": "", "T": 2}]}
    a, b = v.parse(json.dumps(arr), T0 + 3)
    assert (a.mark_price, a.index_price, a.funding_rate) == (100.5, 100.4, 0.0001)
    assert b.index_price is None and b.funding_rate is None
    agg = {"e": "aggTrade", "E": T0 + 5, "s": "BTCUSDT", "a": 7, "p": "100", "q": "2", "f": 1, "l": 2, "T": T0 + 4,
           "m": True}
    (t,) = v.parse(json.dumps(agg), T0 + 6)
    assert (t.side, t.value_usd, t.id, t.timestamp) == ("sell", 200.0, "binance:BTCUSDT:7", T0 + 4)


def test_quarterly_symbols_and_recorded_exchange_info():
    v = get_venue("binance")
    ev = {"e": "forceOrder", "E": T0 + 2, "o": {"s": "BTCUSDT_250627", "S": "SELL", "q": "0.5", "p": "90000",
                                                "ap": "90100", "X": "FILLED", "z": "0.5", "T": T0 + 1}}
    (liq,) = v.parse(json.dumps(ev), T0 + 3)
    assert (liq.base, liq.quote, liq.symbol) == ("BTC", "USDT", "BTCUSDT_250627")
    # the recorded REST exchangeInfo body is not an event stream: no events, no error
    from test_parse_fixtures import cryptofeed_rest

    assert v.parse(cryptofeed_rest("BINANCE_FUTURES.0.gz"), 1, "rest") == []


def test_native_symbols():
    assert get_venue("binance").native_symbols("BTC") == ["BTCUSDT"]
    assert get_venue("binance").native_symbols("ETH", "USDC") == ["ETHUSDC"]
    assert get_venue("binance_coinm").native_symbols("BTC") == ["BTCUSD_PERP"]


def test_listing_from_the_real_exchange_info():
    """The recorded ``/fapi/v1/exchangeInfo`` (cryptofeed BINANCE_FUTURES.0, 2021-07-21):
    the feed subscribes only symbols listed there (status TRADING)."""
    import gzip

    from test_parse_fixtures import FIX

    line = gzip.open(FIX / "cryptofeed_sample_data" / "BINANCE_FUTURES.0.gz", "rt").readline()
    body = line[line.index(": {") + 2 :]
    listed = get_venue("binance").listed_symbols(body)
    rows = json.loads(body)["symbols"]
    assert len(listed) == sum(r["status"] == "TRADING" for r in rows) > 100
    assert "BTCUSDT" in listed and "BTCUSDT_210924" in [r["symbol"] for r in rows]
    v = get_venue("binance")
    v.set_listing(listed)
    assert v.listed("btcusdt") == "BTCUSDT" and v.listed("HYPEUSDT") is None


def test_coin_margined_symbol_on_the_usdm_parser_is_valued_as_coinm():
    """Contract type from the symbol grammar, not the stream: the real COIN-M forceOrder
    (tardis binance-delivery, BTCUSD_200925, z=3 contracts) replayed through the USD-M
    parser is 300 USD under binance_coinm with the COIN-M parser's id -- not 3 BTC (~28,000 USD)."""
    (dlv,) = tardis_messages("binance-delivery")
    (via_usdm,) = parse_ok(get_venue("binance", contracts=ContractSizes()), dlv["message"])
    (via_coinm,) = parse_ok(get_venue("binance_coinm", contracts=ContractSizes()), dlv["message"])
    assert via_usdm == via_coinm
    assert (via_usdm.exchange, via_usdm.value_usd, via_usdm.id.split(":")[0]) == ("binance_coinm", 300.0, "binance_coinm")
    with pytest.raises(FrameError, match="coin-margined"):  # Aster lists no COIN-M contract: never guessed
        parse_ok(get_venue("aster"), dlv["message"])
