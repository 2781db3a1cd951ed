"""Hyperliquid (#16, #14): every listed coin from ``POST /info {"type":"meta"}``, the five
liquidator vaults' fills (within the 10-user limit), one subscription a message, each
acknowledged. Data: trades rebuilt from Hyperliquid's own published fills (2023)."""

from __future__ import annotations

import json

import pytest

from liqmap.exchanges.hyperliquid import LIQUIDATORS
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.models import Trade
from localvenue import LocalWsVenue, Send, WaitFor, connected, hyperliquid_trade_frames, wait_until
from venue_answers import HyperliquidAnswers, LocalListing, hyperliquid_meta

FAST = dict(ws_timeout=5.0, backoff_base=0.05, backoff_cap=0.2, ping_interval_s=None)
COINS = ["BTC", "ETH", "kPEPE", "HYPE", "OLD"]


async def test_every_listed_coin_and_every_liquidator_vault_is_subscribed_and_acknowledged():
    routes = {"/info": hyperliquid_meta(COINS, delisted=("OLD",))}
    frames = hyperliquid_trade_frames(20)
    async with LocalListing(routes) as rest, LocalWsVenue([[WaitFor(5), Send(frames)]], answer=HyperliquidAnswers()) as venue:
        adapter = ExchangeAdapter("hyperliquid", ws_url=venue.url, rest_url=rest.url, **FAST)
        events = []
        adapter.add_listener(events.append)
        async with connected(adapter):
            await wait_until(lambda: adapter.health().subscribed == 13, what="13 subscriptions acknowledged")
            await wait_until(lambda: len([e for e in events if isinstance(e, Trade)]) == 20, what="20 trades")
            h = adapter.health()
    subs = [json.loads(m)["subscription"] for m in venue.messages(0) if '"subscribe"' in m]
    assert all(len(json.loads(m)) == 2 for m in venue.messages(0) if '"subscribe"' in m)  # one a message
    assert [s["user"] for s in subs if s["type"] == "userFills"] == list(LIQUIDATORS)
    assert sorted({s["coin"] for s in subs if "coin" in s}) == ["BTC", "ETH", "HYPE", "kPEPE"]  # OLD delisted
    assert (h.subscribed, h.requested, h.listed) == (13, 13, 4) and h.connections == {"ws": "connected"}
    trades = [e for e in events if isinstance(e, Trade)]
    assert len({t.id for t in trades}) == 20


async def test_symbol_mode_uses_the_listing_spelling_and_refused_coins_are_shown():
    routes = {"/info": hyperliquid_meta(COINS)}
    answers = HyperliquidAnswers(listed={"BTC", "kPEPE"})  # ETH refused by this websocket
    async with LocalListing(routes) as rest, LocalWsVenue([[WaitFor(1)]], answer=answers) as venue:
        adapter = ExchangeAdapter("hyperliquid", ws_url=venue.url, rest_url=rest.url, symbols=["BTC", "KPEPE", "ETH", "NOPE"], **FAST)
        async with connected(adapter):
            await wait_until(lambda: len(adapter.health().rejected) == 2, what="ETH refused")
            await wait_until(lambda: adapter.health().subscribed == 9, what="the others acknowledged")
            h = adapter.health()
    assert h.not_listed == ["NOPE"]
    assert set(h.rejected) == {"trades:ETH", "activeAssetCtx:ETH"}
    assert h.rejected["trades:ETH"].startswith("Invalid subscription")
    coins = {json.loads(m)["subscription"].get("coin") for m in venue.messages(0) if '"subscribe"' in m}
    assert "kPEPE" in coins and "KPEPE" not in coins  # the listing's spelling


def test_liquidator_list_is_configurable_within_the_user_limit(monkeypatch):
    from liqmap.exchanges.hyperliquid import Hyperliquid
    from liqmap.settings import get_settings

    mine = ["0x" + "a" * 40, "0x" + "B" * 40]
    monkeypatch.setenv("LIQMAP_HYPERLIQUID_LIQUIDATORS", " , ".join(mine))
    get_settings.cache_clear()
    try:
        v = Hyperliquid()
        users = [t.arg["user"] for c in v.connections() for t in c.topics if t.arg.get("type") == "userFills"]
        assert v.liquidators == tuple(a.lower() for a in mine) and users == list(v.liquidators)
        monkeypatch.setenv("LIQMAP_HYPERLIQUID_LIQUIDATORS", ",".join(f"0x{i:040x}" for i in range(11)))
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="1 to 10"):
            Hyperliquid()
        monkeypatch.setenv("LIQMAP_HYPERLIQUID_LIQUIDATORS", "0x2e3d94f0562703b25c83308a05046ddaf9a8dd1")  # 39 digits
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="not an account address"):
            Hyperliquid()
        monkeypatch.delenv("LIQMAP_HYPERLIQUID_LIQUIDATORS")
        get_settings.cache_clear()
        assert Hyperliquid().liquidators == LIQUIDATORS
    finally:
        get_settings.cache_clear()
