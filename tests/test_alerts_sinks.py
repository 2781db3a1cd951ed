"""Alert delivery against a local server that answers like Telegram, Discord, Slack and a JSON
webhook (tests/sinkservers.py, shapes per the official docs). The alerts are fired by rules on
REAL recorded liquidations (tests/fixtures/binance_forceorder_arbitra, 42 Binance events)."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import BINANCE_FRAMES, replay_liquidations
from sinkservers import KINDS, SinkServer

from liqmap.alerts.dispatcher import AlertDispatcher
from liqmap.alerts.rules import LiquidationRule
from liqmap.alerts.sinks import DiscordSink, SlackSink, TelegramSink, WebhookSink

LIQS = replay_liquidations([BINANCE_FRAMES])


def make_sinks(srv: SinkServer, **kw) -> list:
    u = srv.sink_urls()
    return [TelegramSink(name="telegram", token="123456:FAKE-token", chat_id="-1001", api_url=u["telegram"], **kw),
            DiscordSink(name="discord", url=u["discord"], **kw),
            SlackSink(name="slack", url=u["slack"], **kw),
            WebhookSink(name="webhook", url=u["webhook"], **kw)]


async def wait_idle(d: AlertDispatcher, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not all(w.idle() for w in d.workers.values()):
        assert time.monotonic() - t0 < timeout, d.stats()
        await asyncio.sleep(0.01)


async def test_every_real_liquidation_over_threshold_reaches_all_four_sinks_in_their_documented_shape():
    threshold = 5_000.0
    expected = {f"binance:{e.id}" for e in LIQS if e.value_usd >= threshold}
    assert 0 < len(expected) < len(LIQS)  # the threshold splits the real set
    async with SinkServer() as srv:
        d = AlertDispatcher([LiquidationRule(name="liq", min_usd=threshold, cooldown_s=0)], make_sinks(srv))
        d.start()
        d.submit_many(LIQS)
        await wait_idle(d)
        await d.aclose()
        assert srv.invalid == []
        hooks = [a for b in srv.bodies("webhook") for a in b["alerts"]]
        assert {a["dedupe_id"] for a in hooks} == expected and len(hooks) == len(expected)
        by_id = {f"binance:{e.id}": e for e in LIQS}
        for a in hooks:  # the JSON alert carries the event's facts unchanged
            ev = by_id[a["dedupe_id"]]
            assert a["fields"]["value_usd"] == ev.value_usd and a["fields"]["side"] == ev.side
            assert a["event_ts"] == ev.timestamp
        embeds = [e for b in srv.bodies("discord") for e in b["embeds"]]
        assert len(embeds) == len(expected)
        assert all(b["allowed_mentions"] == {"parse": []} for b in srv.bodies("discord"))
        slack_sections = [b for body in srv.bodies("slack") for b in body["blocks"] if b["type"] == "section"]
        assert len(slack_sections) == len(expected)
        tg_text = "\n".join(b["text"] for b in srv.bodies("telegram"))
        for key in {f"binance:{by_id[i].symbol}:{by_id[i].side}" for i in expected}:
            assert key in tg_text
        st = d.stats()["sinks"]
        for k in KINDS:
            assert st[k]["delivered"] == len(expected) and st[k]["gave_up"] == 0 and st[k]["dropped"] == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_rate_limited_sink_waits_the_time_the_service_asked_for(kind):
    async with SinkServer(retry_after=0.4, ratelimit_n=1) as srv:
        srv.mode[kind] = "ratelimit"
        sink = next(s for s in make_sinks(srv) if s.name == kind)
        d = AlertDispatcher([LiquidationRule(name="liq", min_usd=0, cooldown_s=0)], [sink],
                            backoff_base_s=0.01, backoff_cap_s=0.02)
        d.start()
        d.submit(LIQS[0])
        await wait_idle(d)
        await d.aclose()
        times = [t for t, _ in srv.received[kind]]
        assert len(times) == 2  # 429, then delivered
        # the wait honoured the service's value (0.4 s; Discord's header says 1 s, its body 0.4 s
        # and the body is the precise one), not the 0.02 s backoff cap
        assert times[1] - times[0] >= 0.38
        st = d.stats()["sinks"][kind]
        assert st["delivered"] == 1 and st["retries"] == 1 and st["failures"] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_server_errors_are_retried_with_capped_backoff_then_counted_as_given_up(kind):
    async with SinkServer() as srv:
        srv.mode[kind] = "fail"
        sink = next(s for s in make_sinks(srv, max_attempts=3) if s.name == kind)
        d = AlertDispatcher([LiquidationRule(name="liq", min_usd=0, cooldown_s=0)], [sink],
                            backoff_base_s=0.01, backoff_cap_s=0.05)
        d.start()
        d.submit(LIQS[0])
        await wait_idle(d)
        await d.aclose()
        assert len(srv.received[kind]) == 3
        st = d.stats()["sinks"][kind]
        assert st["gave_up"] == 1 and st["delivered"] == 0 and st["failures"] == 3 and st["retries"] == 2
        assert st["last_error"].startswith("HTTP 5")


@pytest.mark.parametrize("kind", KINDS)
async def test_permanent_errors_are_not_retried(kind):
    async with SinkServer() as srv:
        srv.mode[kind] = "reject"
        sink = next(s for s in make_sinks(srv) if s.name == kind)
        d = AlertDispatcher([LiquidationRule(name="liq", min_usd=0, cooldown_s=0)], [sink])
        d.start()
        d.submit(LIQS[0])
        await wait_idle(d)
        await d.aclose()
        assert len(srv.received[kind]) == 1
        assert d.stats()["sinks"][kind]["gave_up"] == 1


async def test_a_hung_sink_neither_slows_submit_nor_delays_the_other_sinks():
    async with SinkServer() as srv:
        srv.mode["slack"] = "hang"
        sinks = [s if s.name != "slack" else SlackSink(name="slack", url=s.url, timeout_s=30, queue_size=5)
                 for s in make_sinks(srv)]
        d = AlertDispatcher([LiquidationRule(name="liq", min_usd=0, cooldown_s=0)], sinks)
        d.start()
        t0 = time.perf_counter()
        d.submit_many(LIQS)  # 42 alerts; slack's queue holds 5, the other 37 are dropped and counted
        submit_s = time.perf_counter() - t0
        for kind in ("telegram", "discord", "webhook"):
            t = time.monotonic()
            while d.stats()["sinks"][kind]["delivered"] < len(LIQS):
                assert time.monotonic() - t < 10, d.stats()
                await asyncio.sleep(0.01)
        st = d.stats()["sinks"]["slack"]
        assert st["delivered"] == 0 and st["queued"] == 5 and st["dropped"] == len(LIQS) - 5
        assert submit_s < 0.5  # 42 submits, none waited on the hung sink
        await d.aclose(drain_s=0.1)


async def test_an_alert_storm_goes_out_as_digests_within_each_services_limits():
    rule = LiquidationRule(name="all", min_usd=0, cooldown_s=0)
    titles = [rule.match(e).title for e in LIQS]
    async with SinkServer() as srv:
        d = AlertDispatcher([rule], make_sinks(srv, concurrency=1))
        d.start()
        d.submit_many(LIQS)  # 42 alerts queued at once: one batch per sink
        await wait_idle(d)
        await d.aclose()
        assert srv.invalid == []
        discord = [e for b in srv.bodies("discord") for e in b["embeds"]]
        assert len(srv.bodies("discord")) == 1 and [e["title"] for e in discord] == ["20 alerts", "20 alerts", "2 alerts"]
        texts = {
            "discord": "\n".join(e["description"] for e in discord),
            "telegram": "\n".join(b["text"] for b in srv.bodies("telegram")),
            "slack": "\n".join(bl["text"]["text"] for b in srv.bodies("slack") for bl in b["blocks"]),
        }
        # in full form the 42 alerts need several 4096-character messages; as a digest, one line each
        assert all("\n\n" not in b["text"] and len(b["text"]) <= 4096 for b in srv.bodies("telegram"))
        esc = {"telegram": lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
               "slack": lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
               "discord": lambda t: t}
        for kind, text in texts.items():
            for t in titles:
                assert text.count(esc[kind](t)) == titles.count(t), (kind, t)
        for k in ("telegram", "discord", "slack", "webhook"):
            assert d.stats()["sinks"][k]["delivered"] == len(LIQS)


async def test_markup_characters_are_escaped_as_each_service_requires():
    from liqmap.alerts.rules import VenueRule
    from liqmap.analytics.failover import FailoverSwitch

    ev = FailoverSwitch("liquidations", "binance", "bybit", "binance <stale> & silent for 61 s", 1_700_000_000_000)
    async with SinkServer() as srv:
        d = AlertDispatcher([VenueRule(name="venues")], make_sinks(srv))
        d.start()
        d.submit(ev)
        await wait_idle(d)
        await d.aclose()
        assert srv.invalid == []
        assert all(d.stats()["sinks"][k]["delivered"] == 1 for k in KINDS)
        assert "binance &lt;stale&gt; &amp; silent" in srv.bodies("telegram")[0]["text"]
        assert "binance &lt;stale&gt; &amp; silent" in srv.bodies("slack")[0]["blocks"][0]["text"]["text"]
        assert "binance <stale> & silent" in srv.bodies("discord")[0]["embeds"][0]["description"]
