"""BitMEX against a local venue that answers like BitMEX (#16): per-topic success answers,
a request naming an unknown symbol refused as a whole (echoed, no id), over-long requests
refused; the liquidation topic in a request of its own; XBTEUR values converted to USD.
Data: 117 real BitMEX liquidation inserts (2019-11), the real welcome frame and the real
``/api/v1/instrument/active`` response of cryptofeed's sample data (2021-07-22)."""

from __future__ import annotations

import json
import logging

from liqmap.exchanges.base import Limits
from liqmap.exchanges.bitmex import BitMEX
from liqmap.exchanges.contracts import ContractSizes
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Liquidation, OpenInterest
from localvenue import FIXTURES, LocalWsVenue, Send, WaitFor, bitmex_insert_frames, connected, wait_until
from venue_answers import BitmexAnswers, bitmex_welcome
from test_parse_fixtures import T0

FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)
FRAMES = bitmex_insert_frames()  # ETHUSD rows wait for the first XBTUSD price


def instrument_body() -> str:
    import gzip

    line = gzip.open(FIXTURES / "cryptofeed_sample_data" / "BITMEX.0.gz", "rt").readline()
    return line[line.index(": [") + 2 :]


def listed() -> set[str]:
    return {r["symbol"] for r in json.loads(instrument_body())}


async def test_unknown_symbol_refuses_its_request_the_liquidation_topic_is_not_in_it(caplog):
    caplog.set_level(logging.WARNING, logger="liqmap.feed")
    async with LocalWsVenue([[Send([bitmex_welcome()]), WaitFor(2), Send(FRAMES)]], answer=BitmexAnswers(listed())) as venue:
        adapter = ExchangeAdapter("bitmex", ws_url=venue.url, symbols=["XBTUSD", "XBTEUR", "NOPEUSD"], **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().subscribed == 7 and len(adapter.health().rejected) == 3, what="answers")
            await wait_until(lambda: any(isinstance(e, Liquidation) for e in events), what="liquidations")
            h = adapter.health()
    sent = [json.loads(m)["args"] for m in venue.messages(0) if m != "ping"]
    assert sent[0] == ["liquidation"]  # alone
    assert all(len(a) <= 10 for a in sent)
    assert h.rejected == {f"{t}:NOPEUSD": "400: Unknown or expired symbol." for t in ("trade", "quote", "instrument")}
    # liquidation, instrument:XBTUSD, then trade + quote (+ instrument) per symbol
    assert (h.subscribed, h.requested) == (7, 10) and h.connections == {"realtime": "connected"}
    assert h.parse_errors == 0 and h.rejections == 4  # the shared request, then each NOPEUSD topic alone
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "rejected" in r.getMessage()]
    assert len(warned) == 4 and all("Unknown or expired symbol" in m for m in warned)  # the venue's reason, logged


async def test_over_long_request_is_refused_and_recovered_one_topic_at_a_time():
    """A module that ignored the limit (one request of 31 args) is refused by the venue;
    the feed retries each topic alone. With the declared limit nothing is refused."""
    symbols = sorted(s for s in listed() if s.endswith("USDT"))  # 15 in 2021: 47 topics
    n = 2 + 3 * len(symbols)  # liquidation, instrument:XBTUSD; trade, quote, instrument per symbol
    assert n > 20

    class Greedy(BitMEX):
        limits = Limits(args_per_subscribe=None, subscribes_per_s=50.0)  # fast retries for the test

    for venue_obj, refused in ((Greedy(contracts=ContractSizes()), 1), (BitMEX(contracts=ContractSizes()), 0)):
        async with LocalWsVenue([[WaitFor(1)]], answer=BitmexAnswers(listed())) as venue:
            adapter = ExchangeAdapter(venue_obj, ws_url=venue.url, symbols=symbols, **{**FAST, "ws_timeout": 30.0})
            async with connected(adapter):
                await wait_until(lambda: adapter.health().subscribed == n, timeout_s=20, what="every topic subscribed")
                h = adapter.health()
        assert h.rejections == refused and h.rejected == {}


def test_xbteur_values_are_converted_to_usd_not_labelled():
    """Real instrument rows: XBTEUR open interest (EUR contracts) valued via XBT/USD."""
    cs = ContractSizes()
    v = BitMEX(contracts=cs)
    body = instrument_body()
    cs.update(v.contract_specs(body))
    rows = {r["symbol"]: r for r in json.loads(body)}
    ois = {e.symbol: e for e in v.parse(body, 1_626_993_367_384) if isinstance(e, OpenInterest)}
    eur = ois["XBTEUR"]
    xbt_usd, xbt_eur = rows["XBTUSD"]["markPrice"], rows["XBTEUR"]["markPrice"]
    assert (eur.base, eur.quote) == ("BTC", "EUR")
    assert abs(eur.open_interest - rows["XBTEUR"]["openInterest"] / xbt_eur) < 1e-9
    assert abs(eur.open_interest_usd - rows["XBTEUR"]["openInterest"] * xbt_usd / xbt_eur) < 1e-6
    assert eur.open_interest_usd != rows["XBTEUR"]["openInterest"]  # not the EUR amount called USD


def test_xbteur_liquidation_value_is_usd():
    """No XBTEUR liquidation was ever recorded: this row is a real XBTUSD liquidation row
    (2019-11) with the symbol changed to XBTEUR and prices of the real instrument rows."""
    cs = ContractSizes()
    v = BitMEX(contracts=cs)
    body = instrument_body()
    cs.update(v.contract_specs(body))
    v.parse(body, T0)  # XBT/USD mark 32184.89, XBTEUR mark 27464.48
    row = dict(json.loads(FRAMES[0])["data"][0], symbol="XBTEUR", price=27464.5)
    (liq,) = v.parse(json.dumps({"table": "liquidation", "action": "insert", "data": [row]}), T0)
    assert (liq.base, liq.quote) == ("BTC", "EUR")
    assert abs(liq.quantity - row["leavesQty"] / 27464.5) < 1e-12
    assert abs(liq.value_usd - liq.quantity * 32184.89) < 1e-6
