"""OKX parser on every OKX liquidation message in the tardis fixtures and the
cryptofeed 2022 session (tests/fixtures only); the ``liquidation-orders`` REST history
(gap backfill) on bodies built from those real rows, and a reconnect filled from it."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.base import FrameError
from liqmap.exchanges.contracts import ContractSizes, ContractSpec
from liqmap.exchanges.okx import OKX
from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap, Liquidation
from test_parse_fixtures import compact, parse_cryptofeed_session, parse_ok, tardis_messages, trade_prices
from venue_live import assert_gap_stored_filled, assert_replay_matches, live_gap_backfill

OKX_IDS = ("okex-futures", "okex-swap")


def liquidation_frames() -> dict[str, list[str]]:
    """Real ``liquidation-orders`` frames (venue contract test, bench_parsers.py)."""
    msgs = [r["message"] for r in tardis_messages(*OKX_IDS)]
    return {"okx": [compact(m) for m in msgs if m.get("arg", {}).get("channel") == "liquidation-orders"]}


def test_every_tardis_okx_liquidation():
    v = get_venue("okx")
    recs = tardis_messages(*OKX_IDS)
    assert len(recs) == 7
    liqs = [e for r in recs for e in parse_ok(v, r["message"])]
    assert len(liqs) == 7 and all(isinstance(x, Liquidation) for x in liqs)
    for x in liqs:
        assert x.side in ("long", "short") and x.price > 0 and x.quantity > 0 and x.value_usd > 0
        if x.quote == "USD":  # inverse: value is whole contracts of 10/100 USD
            assert x.value_usd % 10 == 0
            assert x.quantity == pytest.approx(x.value_usd / x.price)
        else:
            assert x.value_usd == pytest.approx(x.quantity * x.price)
    assert len({x.id for x in liqs}) == 7


def test_hand_computed_okx():
    v = get_venue("okx")
    by_line = {r["source_line"]: parse_ok(v, r["message"]) for r in tardis_messages(*OKX_IDS)}
    # v5 liquidation-orders FUTURES XRP-USD-230929: side buy/posSide short, 39 contracts x 10 USD
    (xrp,) = by_line[1567]
    assert (xrp.symbol, xrp.side, xrp.base, xrp.quote) == ("XRP-USD-230929", "short", "XRP", "USD")
    assert xrp.value_usd == 390.0 and xrp.quantity == pytest.approx(390 / 0.55205)
    assert xrp.timestamp == 1680173247614
    # BTC-USDT-211231 40 contracts x 0.01 BTC = 0.4 BTC at 49674.2
    (lin,) = by_line[1544]
    assert lin.quantity == pytest.approx(0.4) and lin.value_usd == pytest.approx(19869.68)
    # v3 swap/liquidation type 3 (long) BTC-USDT-SWAP 30 contracts
    (v3,) = by_line[1830]
    assert v3.side == "long" and v3.quantity == pytest.approx(0.3) and v3.timestamp == 1608251468794
    # v3 futures type 4 -> short; BTC-USD inverse 8 x 100 USD
    (v3f,) = by_line[1444]
    assert v3f.side == "short" and v3f.value_usd == 800.0


def test_loaded_ctval_overrides_fallback():
    cs = ContractSizes([ContractSpec("okx", "XRP-USD-230929", "inverse", 100.0, "USD")])
    v = get_venue("okx", contracts=cs)
    (rec,) = [r for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    assert parse_ok(v, rec["message"])[0].value_usd == 3900.0


def test_liquidation_orders_doc_shape_with_posside_net():
    v = get_venue("okx")
    # shape of the documented push; net mode: side decides
    frame = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "details": [
            {"side": "sell", "posSide": "net", "bkPx": "60000", "sz": "3", "bkLoss": "0", "ccy": "", "ts": "1700000000000"},
            {"side": "buy", "posSide": "net", "bkPx": "60100", "sz": "1.5", "bkLoss": "0", "ccy": "", "ts": "1700000000001"}]}]}
    a, b = parse_ok(v, frame)
    assert (a.side, b.side) == ("long", "short")
    assert a.quantity == pytest.approx(0.03) and b.quantity == pytest.approx(0.015)
    assert v.parse(json.dumps(frame).encode(), 1)[0].id == a.id


def test_cryptofeed_okx_session():
    v = get_venue("okx")
    events, counts, errors = parse_cryptofeed_session(v, "OKX.ws.1.0.gz")
    prices = trade_prices(events)
    assert not errors, errors[:3]
    assert counts["Trade"] == 74 and counts["Ticker"] == 28
    spot = prices["BTC-USDT"]
    assert 30_220 <= min(spot) and max(spot) <= 30_252


def test_okx_errors_pong_and_rest_oi():
    v = get_venue("okx")
    assert v.parse("pong", 1) == []
    assert v.parse('{"event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"}}', 1) == []
    with pytest.raises(FrameError, match="60018"):
        v.parse('{"event":"error","code":"60018","msg":"channel doesnt exist"}', 1)
    with pytest.raises(FrameError):
        v.parse('{"arg":{"channel":"liquidation-orders"},"data":[{"instId":"BTC-USDT-SWAP","details":[{"side":"x","bkPx":"1","sz":"1","ts":"1"}]}]}', 1)
    body = '{"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","oi":"100","oiCcy":"1","oiUsd":"60000","ts":"1700000000000"}]}'
    (oi,) = v.parse(body, 2, "oi:SWAP")
    assert oi.open_interest == 1.0 and oi.open_interest_usd == 60000.0
    c = v.connections(["BTC-USDT-SWAP"])[0]
    assert c.url == "wss://ws.okx.com:8443/ws/v5/public" and c.heartbeat.message == "ping"
    assert c.heartbeat.interval_s < 30 and c.heartbeat.is_pong("pong")
    args = [t.request_arg for t in c.topics]
    assert {"channel": "liquidation-orders", "instType": "SWAP"} in args
    assert {"channel": "liquidation-orders", "instType": "FUTURES"} in args


def test_contract_update_after_start_is_used():
    """Sizes loaded after the venue started parsing (start-up fetch finishing late) apply at once."""
    cs = ContractSizes()
    v = get_venue("okx", contracts=cs)
    (rec,) = [r for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    assert parse_ok(v, rec["message"])[0].value_usd == 390.0  # fallback 10 USD
    cs.update([ContractSpec("okx", "XRP-USD-230929", "inverse", 100.0, "USD")])
    assert parse_ok(v, rec["message"])[0].value_usd == 3900.0


def test_native_symbols():
    assert get_venue("okx").native_symbols("BTC") == ["BTC-USDT-SWAP", "BTC-USD-SWAP"]


# ----------------------------------------------------------------------------- REST history (gap backfill)
def _real_rows() -> dict[str, dict]:
    """The REAL OKX liquidation rows of the tardis fixtures as ``liquidation-orders`` data rows,
    by instrument: the websocket push's row (XRP-USD-230929, 2023-03-30) as OKX sent it, and
    the two rows Tardis read from this REST endpoint (``liquidations`` channel, generated by
    REST polling: BTC-USD-220624 and BTC-USDT-211231, 2021-12-22) with their ``instId`` put
    back on the row."""
    out = {}
    for r in tardis_messages(*OKX_IDS):
        m = r["message"]
        arg = m.get("arg", {})
        if arg.get("channel") == "liquidation-orders":
            out.update({row["instId"]: row for row in m["data"]})
        elif arg.get("channel") == "liquidations":
            inst = arg["instId"]
            family = "-".join(inst.split("-")[:2])
            out[inst] = {"details": m["data"], "instFamily": family, "instId": inst, "instType": "FUTURES", "uly": family}
    return out


def _history_body(*rows: dict) -> str:
    """The REST answer's envelope (``{"code":"0","msg":"","data":[rows]}``) around real rows."""
    return compact({"code": "0", "msg": "", "data": list(rows)})


def test_history_row_has_the_live_rows_id():
    """The real websocket push's row, answered by the REST history, gives the live event:
    same id, side, price, quantity, value and time (so a backfilled row seen live is stored once)."""
    v = get_venue("okx")
    (push,) = [r["message"] for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    (live,) = parse_ok(v, push)
    (rest,) = v.parse(_history_body(_real_rows()["XRP-USD-230929"]), 2, "history:1:2:FUTURES/XRP-USD")
    key = lambda e: (e.id, e.side, e.price, e.quantity, e.value_usd, e.timestamp, e.symbol)  # noqa: E731
    assert key(rest) == key(live) and live.id == "okx:XRP-USD-230929:1680173247614:buy:39.0:0.55205"
    # the two rows Tardis read from REST give the ids its replayed ``liquidations`` messages give
    rows = _real_rows()
    got = v.parse(_history_body(rows["BTC-USD-220624"], rows["BTC-USDT-211231"]), 3, "test")
    want = [e for r in tardis_messages("okex-futures") if r["message"].get("arg", {}).get("channel") == "liquidations"
            for e in parse_ok(v, r["message"])]  # fmt: skip
    assert [e.id for e in got] == [e.id for e in want] and len(got) == 2
    with pytest.raises(FrameError, match="51000"):  # an error body is an error, never "no rows"
        v.parse('{"code":"51000","msg":"Parameter instFamily error","data":[]}', 4, "history:1:2:x")


def test_history_requests_and_paging():
    v = OKX()
    v.set_listing(["BTC-USDT-SWAP", "BTC-USD-SWAP", "BTC-USD-250627", "BTC-USDT", "BTC-USD-250627-90000-C"])
    pages = v.history(1_700_000_000_000, 1_700_000_040_000, None, "public")
    assert [p.tag for p in pages] == ["FUTURES/BTC-USD", "SWAP/BTC-USD", "SWAP/BTC-USDT"]  # spot, option skipped
    assert pages[2].url == ("https://openapi.okx.com/api/v5/public/liquidation-orders?instType=SWAP&instFamily=BTC-USDT"
                            "&state=filled&before=1700000000000&after=1700000040001&limit=100")  # fmt: skip
    assert pages[2].fallback_urls == (pages[2].url.replace("https://openapi.okx.com", "https://www.okx.com"),)
    assert OKX(rest_url="http://127.0.0.1:1").history(1, 2, ["ETH-USDT-SWAP"])[0].fallback_urls == ()
    # no listing: the given symbols' families; neither: nothing to ask (the gap stays unfilled)
    assert [p.tag for p in OKX().history(1, 2, ["ETH-USDT-SWAP", "ETH-USD-250627"])] == ["FUTURES/ETH-USD", "SWAP/ETH-USDT"]
    assert OKX().history(1, 2) == [] and OKX(inst_types=("SWAP",)).history(1, 2, ["ETH-USD-250627"]) == []
    assert v.history(1_700_000_000_000, 1_700_000_000_000 + 86_400_001) == []  # past the one day kept
    # paging: a full page (100 details; paging logic only, not market data) asks for the older rows
    detail = _real_rows()["BTC-USDT-211231"]["details"][0]
    full = _history_body({"instId": "BTC-USDT-SWAP", "details": [{**detail, "ts": str(1_700_000_030_000 - i)} for i in range(100)]})
    nxt = v.history_next(pages[2], full, 1_700_000_000_000)
    assert nxt is not None and "&before=1700000000000&after=1700000029902&" in nxt.url  # oldest 1700000029901, +1
    assert v.history_next(pages[2], _history_body(_real_rows()["BTC-USDT-211231"]), 1_700_000_000_000) is None
    assert v.history_next(pages[2], "not json", 1_700_000_000_000) is None


async def test_reconnect_gap_filled_from_liquidation_orders(tmp_path, monkeypatch):
    """REAL OKX rows: the websocket push (XRP-USD-230929) arrives live, the connection drops;
    the two liquidations Tardis read from the REST history (2021-12-22) happened inside the
    gap and arrive from local REST answers (one request per listed instType + family); the
    XRP family's answer repeats the live row (outside the window: dropped). The gap is reported
    filled and stored once, filled; every liquidation stored once; replay gives them back."""
    rows = _real_rows()
    (push,) = [compact(r["message"]) for r in tardis_messages("okex-futures") if r["source_line"] == 1567]
    venue = OKX(contracts=ContractSizes())
    venue.set_listing(["BTC-USD-220624", "BTC-USDT-211231", "XRP-USD-230929"])
    bodies = [_history_body(rows[i]) for i in ("BTC-USD-220624", "BTC-USDT-211231", "XRP-USD-230929")]
    gap = (1_640_140_210_000, 1_640_140_212_000)
    run, rest = await live_gap_backfill(venue, [push], [], bodies, gap, tmp_path, monkeypatch)
    liqs = run.liquidations()
    assert [(e.symbol, e.side, e.timestamp) for e in liqs] == [
        ("XRP-USD-230929", "short", 1_680_173_247_614),  # live
        ("BTC-USD-220624", "short", 1_640_140_210_617),  # from REST, inside the gap
        ("BTC-USDT-211231", "short", 1_640_140_211_925)]  # fmt: skip
    assert liqs[2].quantity == pytest.approx(0.4) and liqs[1].value_usd == 1200.0  # 40 x 0.01 BTC; 12 x 100 USD
    assert [(g.start, g.end, g.filled) for g in run.events if isinstance(g, Gap)] == [(*gap, False), (*gap, True)]
    assert [p.split("&state")[0] for _, p in rest.requests] == [
        f"/api/v5/public/liquidation-orders?instType=FUTURES&instFamily={f}" for f in ("BTC-USD", "BTC-USDT", "XRP-USD")]
    assert all(p.endswith("&before=1640140210000&after=1640140212001&limit=100") for _, p in rest.requests)
    assert run.health.gaps_filled == 1 and run.health.backfilled == 2
    assert_replay_matches(run)
    await assert_gap_stored_filled(run, tmp_path)



async def _fill(venue: OKX, replies: dict[str, list], symbols: list[str]) -> tuple[list, dict, object]:
    """Run :class:`~liqmap.feed.backfill.GapFiller` for the gap around the real 2021-12-22 rows
    against local servers standing in for OKX's two REST hosts (``replies``: host -> Reply list).
    Returns (events emitted, local servers by host, the fill's error or its event count)."""
    import httpx

    from liqmap.feed.backfill import BackfillError, GapFiller
    from liqmap.feed.backoff import RetryPolicy
    from liqmap.feed.dispatch import FrameHandler
    from liqmap.feed.health import HealthTracker
    from liqmap.feed.rest import RestClient
    from localvenue import LocalHttpVenue

    gap = Gap("okx", "public", 1_640_140_210_000, 1_640_140_212_000, "reconnect")
    out: list = []
    tracker = HealthTracker("okx", rest_liquidations=True)
    async with LocalHttpVenue(replies["https://openapi.okx.com"]) as a, LocalHttpVenue(replies["https://www.okx.com"]) as b:
        local = {"https://openapi.okx.com": a, "https://www.okx.com": b}
        async with httpx.AsyncClient() as client:
            rest = RestClient(FrameHandler(venue, tracker, out.append), tracker, client, retry=RetryPolicy(0.01, 0.02))
            filler = GapFiller(venue, rest, out.append, symbols=symbols, delay_s=0.0, attempts=2,
                               url=lambda u: next(u.replace(h, s.url) for h, s in local.items() if u.startswith(h)))
            try:
                result: object = await filler.fill(gap)
            except BackfillError as exc:
                result = exc
    return out, local, result


async def test_history_falls_back_to_the_other_rest_host():
    """A history request the REST host keeps failing (HTTP 503) is sent to the fallback host
    (``www.okx.com``), and the gap is still filled."""
    from localvenue import Reply

    body = _history_body(_real_rows()["BTC-USD-220624"])
    out, local, result = await _fill(OKX(contracts=ContractSizes()), {
        "https://openapi.okx.com": [Reply(503, "busy")], "https://www.okx.com": [Reply(body=body)]}, ["BTC-USD-220624"])
    down, up = local["https://openapi.okx.com"], local["https://www.okx.com"]
    assert result == 1 and len(down.requests) == 2 and len(up.requests) == 1
    assert down.requests[0][1] == up.requests[0][1] and "instType=FUTURES&instFamily=BTC-USD&" in up.requests[0][1]
    assert [type(e).__name__ for e in out] == ["Liquidation", "Gap"] and out[1].filled


async def test_history_error_body_leaves_the_gap_unfilled():
    """OKX answers errors with HTTP 200 and a ``code`` (51000 "Parameter ... error"): the body is a
    parse error and the gap is NOT reported filled (what the other family answered is kept)."""
    from localvenue import Reply

    rows = _real_rows()
    error = '{"code":"51000","msg":"Parameter instFamily error","data":[]}'
    out, _, result = await _fill(OKX(contracts=ContractSizes()), {
        "https://openapi.okx.com": [Reply(body=_history_body(rows["BTC-USD-220624"])), Reply(body=error)],
        "https://www.okx.com": [Reply(503)]}, ["BTC-USD-220624", "BTC-USDT-211231"])  # fmt: skip
    assert "did not parse" in str(result)
    assert [e.symbol for e in out if isinstance(e, Liquidation)] == ["BTC-USD-220624"]
    assert not any(isinstance(e, Gap) for e in out)
