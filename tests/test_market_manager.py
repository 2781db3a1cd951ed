"""ExchangeManager against local venue servers (tests/localvenue.py) replaying REAL recorded
frames: Binance USD-M bookTicker/aggTrade (cryptofeed 2021 session) and forceOrder (2025
capture), OKX tickers (cryptofeed 2022 session). The venues' adapters are the real ones; only
the endpoints are local. Failover: the primary goes silent (stale) or drops, the feature moves to
the backup within the stale timeout and comes back once the primary is healthy again."""

from __future__ import annotations

import asyncio
import json

import pytest
from localvenue import Drop, LocalWsVenue, Send, Sleep, WaitFor, binance_forceorder_frames, cryptofeed_frames
from venue_answers import OkxAnswers

from liqmap.market import ExchangeConfig, ExchangeManager, ExchangeType
from liqmap.models import Liquidation

FAST = dict(backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)
BOOK = [f for f in cryptofeed_frames("BINANCE_FUTURES.ws.1.0") if '"bookTicker"' in f]
OKX_TICKERS = [f for f in cryptofeed_frames("OKX.ws.1.0") if '"channel":"tickers"' in f and '"data"' in f]
STALE_S = 1.0


def okx_stream(seconds: float) -> list:
    n = int(seconds / 0.05)
    return [WaitFor(1), Send((OKX_TICKERS * (n // len(OKX_TICKERS) + 1))[:n], gap_s=0.05)]


def manager(binance_url: str, okx_url: str, **kw) -> ExchangeManager:
    m = ExchangeManager(stale_after_s=STALE_S, recover_after_s=0.5, evaluate_s=0.1,
                        adapter_kwargs={**FAST, "ws_timeout": kw.pop("ws_timeout", 30.0)}, **kw)
    m.add_exchange(ExchangeConfig(exchange_id="binance_main", exchange_type=ExchangeType.BINANCE, priority=1,
                                  enabled=True, features=["liquidations", "ticker"], ws_url=binance_url))
    m.add_exchange(ExchangeConfig("okx_backup", ExchangeType.OKX, priority=2, ws_url=okx_url))
    return m


async def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def binance_rx(m: ExchangeManager) -> list[int]:
    """Receipt times (ms) of the binance frames the view saw, oldest first."""
    q = m.view.board.quote("binance", "SUSHIUSDT")
    return [q.received_at] if q else []


@pytest.mark.parametrize("fault", ["stale", "drop"])
async def test_failover_to_the_backup_within_the_stale_timeout_and_back(fault):
    first = BOOK[:30]  # 1.5 s of real bookTicker frames, then the fault
    if fault == "stale":  # connected but silent for 2.5 s, then streaming again on the same socket
        primary = [[Send(first, gap_s=0.05), Sleep(2.5), Send(BOOK[30:], gap_s=0.05)]]
    else:  # the socket drops; the reconnected one stays silent 2 s, then streams
        primary = [[Send(first, gap_s=0.05), Drop()], [Sleep(2.0), Send(BOOK[30:], gap_s=0.05)]]
    async with LocalWsVenue(primary) as bn, LocalWsVenue([okx_stream(20)], answer=OkxAnswers()) as okx:
        m = manager(bn.url, okx.url)
        connected = await m.connect_all()
        assert connected == {"binance_main": True, "okx_backup": True}
        try:
            await wait_for(lambda: m.get_best_exchange("ticker") == "binance_main", what="binance serving")
            last_seen: list[int] = []

            def track():
                q = m.view.board.quote("binance", "SUSHIUSDT")
                if q is not None and (not last_seen or q.received_at != last_seen[-1]):
                    last_seen.append(q.received_at)
                return m.get_best_exchange("ticker") == "okx_backup"

            await wait_for(track, timeout=8, what="the switch to okx")
            (to_okx,) = [s for s in m.switches if s.to_exchange == "okx" and s.feature == "tickers"]
            # a dropped socket is "down" until it reconnects, then "stale" until data flows
            want = ("binance stale",) if fault == "stale" else ("binance down", "binance stale")
            assert to_okx.from_exchange == "binance" and to_okx.reason.startswith(want)
            # within the stale timeout (+ one evaluation period and scheduling slack) of the last frame
            assert to_okx.at_ms - last_seen[-1] <= STALE_S * 1000 + 400
            health = await m.health_check()
            assert health["okx_backup"]["serving"] and "tickers" in health["okx_backup"]["serving"]
            await wait_for(lambda: m.get_best_exchange("ticker") == "binance_main", timeout=10, what="the way back")
            back = [s for s in m.switches if s.feature == "tickers"][-1]
            assert (back.from_exchange, back.to_exchange) == ("okx", "binance") and "recovered" in back.reason
            q = m.view.board.quote("binance", "SUSHIUSDT")
            assert back.at_ms > to_okx.at_ms and q.received_at > last_seen[-1]
            # liquidations follow the same rule (both venues have the feature)
            assert m.get_best_exchange("liquidations") == "binance_main"
        finally:
            await m.disconnect_all()


async def test_cross_exchange_ticker_liquidations_and_health_from_the_venues_frames():
    liq_frames = binance_forceorder_frames()
    book = BOOK[:40]
    script = [[Send(book + liq_frames)]]
    async with LocalWsVenue(script) as bn, LocalWsVenue([okx_stream(5)], answer=OkxAnswers()) as okx:
        m = manager(bn.url, okx.url)
        await m.connect_all()
        try:
            await wait_for(lambda: len(m.view.liquidations) >= 5, what="liquidations")
            await wait_for(lambda: bn.sent and bn.sent[0] == len(book) + len(liq_frames), what="all frames")
            await asyncio.sleep(0.3)
            data = await m.get_cross_exchange_ticker("SUSHIUSDT")
            last = [json.loads(f)["data"] for f in book if '"SUSHIUSDT"' in f][-1]
            snap = data.exchanges_data["binance"]
            assert (snap.bid, snap.ask) == (float(last["b"]), float(last["a"]))
            assert data.aggregated_price == pytest.approx((float(last["b"]) + float(last["a"])) / 2)
            assert data.venues == 1 and data.base == "SUSHI" and data.quote_family == "USDT"
            btc = await m.get_cross_exchange_liquidations("BTCUSDT")
            want = [json.loads(f)["o"] for f in liq_frames if json.loads(f)["o"]["s"].startswith("BTC")]
            assert btc and all(isinstance(e, Liquidation) and e.base == "BTC" for e in btc)
            assert len(btc) == len({(w["s"], w["T"]) for w in want})
            assert await m.get_cross_exchange_whale_activity("SUSHIUSDT") == []  # no trade near 1M USD
            health = await m.health_check()
            assert set(health) == {"binance_main", "okx_backup"}
            assert health["binance_main"]["priority"] == 1 and health["binance_main"]["connected"]
            # a priority change at run time moves the feature once the new primary holds
            m.exchange_configs["binance_main"].priority = 3
            await wait_for(lambda: m.get_best_exchange("liquidations") == "okx_backup", timeout=5, what="okx primary")
        finally:
            await m.disconnect_all()


def test_configs_are_checked():
    m = ExchangeManager()
    m.add_exchange(ExchangeConfig("a", "binance"))
    with pytest.raises(ValueError, match="one config per venue type"):
        m.add_exchange(ExchangeConfig("b", ExchangeType.BINANCE))
    with pytest.raises(ValueError, match="unknown exchange type"):
        ExchangeConfig("x", "nasdaq")
    with pytest.raises(ValueError, match="unknown feature"):
        ExchangeConfig("x", "okx", features=["orderbook"])
    with pytest.raises(ValueError, match="unknown feature"):
        m.get_best_exchange("orderbook")
    assert m.get_best_exchange("ticker") is None  # nothing connected yet
