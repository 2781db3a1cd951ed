"""The market service inside ``serve`` (issue #15 items 4, 6): the tiered liquidation log, one
WARNING line per cascade start / severity rise, the STATS line, failover switches in
``/market/health`` and ``/metrics``, and alerts delivered from a replaying serve to a local
server that answers like a JSON webhook (tests/sinkservers.py, in its own process).

Inputs are REAL recorded liquidations (Binance forceOrder captures of tests/fixtures)."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time

import httpx
import pytest
from conftest import BINANCE_FRAMES, PAULIUS, load_liquidations, replay_liquidations, wait_finished

from liqmap.analytics.cascades import CascadeConfig, CascadeDetector
from liqmap.analytics.failover import VenueHealth
from liqmap.analytics.risk import severity_rank
from liqmap.serve.market import MarketService
from liqmap.settings import Settings


def service(**kw) -> MarketService:
    return MarketService(Settings(**kw), lambda: 0)


def test_liquidations_are_logged_by_size_tier(caplog):
    liqs = load_liquidations(PAULIUS)
    settings = dict(large_usd=10_000.0, institutional_usd=100_000.0)
    svc = service(**settings)
    with caplog.at_level(logging.DEBUG, logger="liqmap.events"):
        for ev in liqs:
            svc.handle(ev)
    lines = [r for r in caplog.records if r.name == "liqmap.events" and r.getMessage().startswith("LIQUIDATION")]
    assert len(lines) == len(liqs)
    warn = [r for r in lines if r.levelno == logging.WARNING]
    info = [r for r in lines if r.levelno == logging.INFO]
    assert len(warn) == sum(e.value_usd >= 100_000 for e in liqs) > 0
    assert len(info) == sum(10_000 <= e.value_usd < 100_000 for e in liqs) > 0
    assert all("institutional" in r.getMessage() for r in warn)
    assert svc.counts["liquidations"] == len(liqs)
    assert svc.counts["liquidation_usd"] == pytest.approx(sum(e.value_usd for e in liqs))


def test_one_warning_per_cascade_start_and_severity_rise(caplog):
    liqs = load_liquidations(PAULIUS)
    det = CascadeDetector(CascadeConfig())
    cev = [c for e in liqs for c in det.update(e)] + det.flush()
    starts = {c.cascade.id for c in cev if c.kind == "start"}
    assert starts, "the capture holds cascades"
    rises, seen = 0, {}
    for c in cev:  # severity rises, recomputed from the detector's own events
        if c.kind == "end":
            continue
        prev = seen.get(c.cascade.id)
        if prev is not None and severity_rank(c.cascade.severity) > severity_rank(prev):
            rises += 1
        seen[c.cascade.id] = c.cascade.severity if prev is None else max(prev, c.cascade.severity, key=severity_rank)
    svc = service()
    with caplog.at_level(logging.INFO, logger="liqmap.events"):
        svc.on_cascade_events(cev)
    warn = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(m.startswith("CASCADE START") for m in warn) == len(starts)
    assert sum(m.startswith("CASCADE ESCALATED") for m in warn) == rises
    ends = [r for r in caplog.records if r.getMessage().startswith("CASCADE END")]
    assert len(ends) == len(starts) and all(r.levelno == logging.INFO for r in ends)
    assert svc.counts["cascades"] == len(starts)


def test_stats_line_counts_what_went_through():
    liqs = replay_liquidations([BINANCE_FRAMES])
    svc = service()
    for ev in liqs:
        svc.handle(ev)
    line = svc.stats_line()
    assert line.startswith("STATS ") and f"liquidations {len(liqs)} " in line and f"events {len(liqs)} " in line
    assert "arbitrage 0 open" in line and "failovers 0" in line


def test_failover_switch_is_in_health_metrics_and_the_best_exchange(tmp_path):
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.serve.server import build_replay_state

    state = build_replay_state([str(BINANCE_FRAMES)], str(tmp_path / "f.duckdb"))
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        view = state.market.view

        def health(binance_age):  # what the adapters' health says (inputs of the ranking)
            return [VenueHealth("binance", True, ("liquidations",), True, binance_age, 20.0, 1, 60.0),
                    VenueHealth("bybit", True, ("liquidations",), True, 1.0, 30.0, 2, 60.0)]

        view.evaluate(health(1.0), 1_000)
        view.evaluate(health(61.0), 2_000)  # binance stale -> bybit
        b = c.get("/exchanges/best", params={"feature": "liquidations"}).json()
        assert b["exchange"] == "bybit" and b["ranking"][0] == {"exchange": "bybit", "state": "up"}
        assert [(s["from_exchange"], s["to_exchange"]) for s in b["switches"]] == [("binance", "bybit"), (None, "binance")]
        h = c.get("/market/health").json()
        assert h["switches"][0]["reason"].startswith("binance stale") and h["view"]["switches"] == 2
        m = c.get("/metrics").text
        assert 'liqmap_failover_switches_total{feature="liquidations",from_exchange="binance",to_exchange="bybit"} 1.0' in m
        assert 'liqmap_feature_venue{exchange="bybit",feature="liquidations"} 1.0' in m


@pytest.fixture()
def sink_url():
    from sinkservers import serve_in_process

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_in_process, args=(child,), daemon=True)
    proc.start()
    try:
        assert parent.poll(30), "sink server did not start"
        yield parent.recv()
    finally:
        proc.kill()
        proc.join(5)


def test_serve_sends_alerts_of_real_liquidations_to_the_webhook(tmp_path, sink_url):
    from fastapi.testclient import TestClient

    from liqmap.api.app import create_app
    from liqmap.serve.server import build_replay_state

    liqs = replay_liquidations([BINANCE_FRAMES])
    threshold = 5_000.0
    expected = {f"binance:{e.id}" for e in liqs if e.value_usd >= threshold}
    assert 0 < len(expected) < len(liqs)
    cfg = tmp_path / "alerts.json"
    cfg.write_text(json.dumps({"cooldown_s": 0, "sinks": [{"name": "ops", "type": "webhook", "url": f"{sink_url}/hook/ops"}],
                               "rules": [{"name": "big", "type": "liquidation", "min_usd": threshold}]}))
    state = build_replay_state([str(BINANCE_FRAMES)], str(tmp_path / "a.duckdb"), alerts_config=str(cfg))
    got: set[str] = set()
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        deadline = time.monotonic() + 20
        while got != expected and time.monotonic() < deadline:
            bodies = [b for _, b in httpx.get(f"{sink_url}/_received/webhook").json()]
            got = {a["dedupe_id"] for b in bodies for a in b["alerts"]}
            time.sleep(0.1)
        assert got == expected
        st = c.get("/market/health").json()["alerts"]
        assert st["sinks"]["ops"]["delivered"] == len(expected) and st["rules"]["big"]["duplicates"] == 0
        assert 'liqmap_alerts_total{outcome="delivered",sink="ops"}' in c.get("/metrics").text


def test_a_bad_alert_config_stops_serve_with_the_reason(tmp_path):
    from liqmap.serve.server import ServeError, build_replay_state

    cfg = tmp_path / "alerts.toml"
    cfg.write_text('[[rules]]\nname = "x"\ntype = "liquidation"\nsinks = ["nowhere"]\n'
                   '[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n')
    with pytest.raises(ServeError, match="nowhere"):
        build_replay_state([str(BINANCE_FRAMES)], str(tmp_path / "b.duckdb"), alerts_config=str(cfg))
