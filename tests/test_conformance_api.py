"""Subscription health reaches the API (#16): rejections and ``subscribed / requested``
in ``/exchanges/health`` and ``/metrics``; a venue whose liquidation topic is not
acknowledged is never "ok". Local venues answer like OKX and Bybit (tests/venue_answers.py)."""

from __future__ import annotations

import httpx

from liqmap.api.app import create_app
from liqmap.serve.server import build_live_state
from localvenue import LocalWsVenue, Send, WaitFor, tardis_messages, wait_until
from venue_answers import BybitAnswers, OkxAnswers

OKX_LIQ = [m for m in tardis_messages("okex-futures") if '"liquidation-orders"' in m]


async def test_rejections_and_subscribed_over_requested_in_health_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WS_TIMEOUT", "5")
    okx_answers = OkxAnswers(listed={"BTC-USDT-SWAP"})
    silent_bybit = BybitAnswers()
    silent_bybit.reply = lambda idx, text: []  # answers nothing, not even pings: never acknowledged
    async with LocalWsVenue([[WaitFor(1), Send(OKX_LIQ)]], answer=okx_answers) as okx, \
            LocalWsVenue([[WaitFor(1)]], answer=silent_bybit) as bybit:  # fmt: skip
        state = build_live_state(["okx", "bybit"], ["BTC-USDT-SWAP", "HYPE-USD-SWAP"], str(tmp_path / "t.duckdb"),
                                 ws_urls={"okx": okx.url, "bybit": bybit.url})
        agg = state.aggregator
        for a in agg.adapters.values():
            a.rest_enabled = False
        agg.adapters["okx"].symbols = ["BTC-USDT-SWAP", "HYPE-USD-SWAP"]
        await agg.connect_all(contracts_cache=None)
        try:
            # 5 topics of the unlisted swap: trades, tickers, mark-price, open-interest, funding-rate
            await wait_until(lambda: len(agg.adapters["okx"].health().rejected) == 5, what="OKX refusals")
            await wait_until(lambda: set(agg.adapters["bybit"].health().connections.values()) == {"subscribing"},
                             what="both Bybit sockets open (the second waits for the connection rate)")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)), base_url="http://t") as c:
                health = {e["exchange"]: e for e in (await c.get("/exchanges/health")).json()["exchanges"]}
                metrics = (await c.get("/metrics")).text
        finally:
            await agg.disconnect_all()
            await state.store.close()
    okx_h, bybit_h = health["okx"], health["bybit"]
    assert okx_h["status"] == "degraded" and okx_h["subscriptions"] == "7/12"
    assert okx_h["connection"]["rejected"]["trades:HYPE-USD-SWAP"].startswith("60018: ")
    assert bybit_h["status"] == "subscribing" and bybit_h["connection"]["subscribed"] == 0
    assert bybit_h["connection"]["connections"] == {"linear": "subscribing", "inverse": "subscribing"}
    assert 'liqmap_subscriptions_requested{exchange="okx"} 12.0' in metrics
    assert 'liqmap_subscriptions_subscribed{exchange="okx"} 7.0' in metrics
    assert 'liqmap_subscriptions_failed{exchange="okx"} 5.0' in metrics
    assert 'liqmap_subscriptions_subscribed{exchange="bybit"} 0.0' in metrics
