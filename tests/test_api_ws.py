"""WebSocket API and broadcast hub on real replayed Binance forceOrder frames."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import BINANCE_FRAMES, PAULIUS, replay_liquidations
from liqmap.feed.aggregator import ExchangeAggregator
from liqmap.feed.replay import ReplayFeed
from liqmap.api.app import create_app
from liqmap.serve.server import build_replay_state
from liqmap.serve.clock import ReplayClock
from liqmap.serve.hub import BroadcastHub, liquidation_filter
from liqmap.serve.pipeline import ServePipeline
from liqmap.models import Liquidation

BINANCE = str(BINANCE_FRAMES)


def gated_state(tmp_path, n_clients: int):
    """Replay state whose feeds start once ``n_clients`` websocket clients are subscribed."""
    state = build_replay_state([BINANCE], str(tmp_path / "ws.duckdb"))
    start_feeds = state.aggregator.connect_all

    async def gated(*args, **kw):
        while len(state.hub.subscribers) < n_clients:
            await asyncio.sleep(0.01)
        await start_feeds(*args, **kw)

    state.aggregator.connect_all = gated
    return state


def test_ws_pushes_every_event_in_order_with_filters(tmp_path):
    evs = replay_liquidations([BINANCE])
    assert len(evs) == 42
    state = gated_state(tmp_path, 2)
    with TestClient(create_app(state)) as c:
        with c.websocket_connect("/ws/liquidations") as all_ws, \
                c.websocket_connect("/ws/liquidations?symbol=AIAUSDT&min_value_usd=100") as aia_ws:
            hello = all_ws.receive_json()
            assert hello["type"] == "hello" and hello["meta"]["mode"] == "replay"
            assert aia_ws.receive_json()["filter"]["underlying"] == "AIA"
            got = [all_ws.receive_json() for _ in evs]
            assert all(m["type"] == "liquidation" for m in got)
            assert [m["data"]["id"] for m in got] == [e.id for e in evs]
            assert got[0]["data"]["value_usd"] == evs[0].value_usd
            want = [e.id for e in evs if e.base == "AIA" and e.value_usd >= 100]
            assert want
            assert [aia_ws.receive_json()["data"]["id"] for _ in want] == want
        m = c.get("/metrics").text
        assert "liqmap_ws_dropped_messages_total 0.0" in m


@pytest.mark.parametrize("query,reason", [
    ("exchanges=nasdaq", "nasdaq"),
    ("symbol=%24%24%24", "invalid symbol"),
    ("min_value_usd=-3", "min_value_usd"),
    ("min_value_usd=nan", "min_value_usd"),  # NaN matched nothing and broke the hello JSON
    ("min_value_usd=inf", "min_value_usd"),
])
def test_ws_bad_params_close_with_reason(tmp_path, query, reason):
    state = build_replay_state([BINANCE], str(tmp_path / "bad.duckdb"))
    with TestClient(create_app(state)) as c:
        with c.websocket_connect(f"/ws/liquidations?{query}") as ws:
            with pytest.raises(WebSocketDisconnect) as exc:
                ws.receive_json()
            assert exc.value.code == 1008
            assert reason in exc.value.reason


@pytest.fixture(scope="module")
def evs() -> list[Liquidation]:
    return replay_liquidations([BINANCE])


async def test_slow_client_is_dropped_not_blocking(evs):
    """A client that never reads loses messages (bounded queue) and is cut off; a
    fast client and ingestion are unaffected."""
    hub = BroadcastHub()
    dropped = []
    hub.on_drop = dropped.append
    slow = hub.subscribe(queue_size=5, max_drops=10)
    fast = hub.subscribe(queue_size=1000)
    pipe = ServePipeline(hub, ReplayClock())

    async def src():
        for e in evs:
            yield e

    stats = await pipe.run(src())
    assert stats.liquidations == 42
    assert fast.queue.qsize() == 42
    assert slow.queue.qsize() == 5
    assert slow.dropped == 10 == len(dropped)
    assert slow.closed  # 10 consecutive drops -> marked for disconnect, then skipped
    first = json.loads(fast.queue.get_nowait())
    assert first["data"]["id"] == evs[0].id


async def test_aggregator_drops_duplicates_before_the_pipeline_and_clock_advances(evs):
    hub = BroadcastHub()
    sub = hub.subscribe(liquidation_filter(exchanges={"binance"}, min_value_usd=1000))
    clock = ReplayClock()
    pipe = ServePipeline(hub, clock)
    agg = ExchangeAggregator(exchanges=[])
    stream = agg.subscribe(queue_size=None)
    accepted = [agg.publish(e) for e in evs + evs[:10]]  # a resend overlap, as after a reconnect
    await agg.disconnect_all()  # the stream ends after what is queued
    stats = await pipe.run(stream.batches())
    assert accepted == [True] * 42 + [False] * 10 and agg.duplicates == 10
    assert stats.liquidations == 42
    assert sub.queue.qsize() == sum(1 for e in evs if e.value_usd >= 1000)
    assert clock.now_ms() == max(e.timestamp for e in evs)


async def test_replay_with_duplicate_lines_reaches_the_pipeline_once_per_id():
    """The real Binance capture holds most events twice (two listeners): through the one path
    (replay feed -> aggregator -> lossless stream -> pipeline) each id arrives once, in replay order."""
    want = replay_liquidations([PAULIUS])
    raw = replay_liquidations([PAULIUS], dedupe=False)
    assert len(raw) == 3510 and len(want) == 1837
    hub = BroadcastHub()
    client = hub.subscribe(queue_size=5000)
    agg = ExchangeAggregator(exchanges=[])
    agg.add_replay(ReplayFeed([PAULIUS]))
    stats = await ServePipeline(hub, ReplayClock()).consume(agg)
    await agg.wait_replays()
    assert stats.liquidations == 1837 and stats.finished
    assert agg.duplicates == 3510 - 1837
    got = [json.loads(client.queue.get_nowait())["data"]["id"] for _ in range(client.queue.qsize())]
    assert got == [e.id for e in want]


def test_ws_batch_mode_keeps_order_and_completeness(tmp_path, evs):
    state = gated_state(tmp_path, 1)
    with TestClient(create_app(state)) as c:
        with c.websocket_connect("/ws/liquidations?batch=true") as ws:
            assert ws.receive_json()["type"] == "hello"
            ids: list[str] = []
            while len(ids) < len(evs):
                m = ws.receive_json()
                assert m["type"] in ("liquidation", "batch")
                for x in (m["messages"] if m["type"] == "batch" else [m]):
                    ids.append(x["data"]["id"])
            assert ids == [e.id for e in evs]


def test_messages_a_stuck_client_misses_are_counted_in_metrics(tmp_path, evs):
    """A client whose queue is full (it stopped reading) loses messages; every lost message
    counts in liqmap_ws_dropped_messages_total (the hub's on_drop is wired to the metric)."""
    state = build_replay_state([BINANCE], str(tmp_path / "drop.duckdb"))
    stuck = state.hub.subscribe(queue_size=2, max_drops=10_000)  # never read
    with TestClient(create_app(state)) as c:
        for _ in range(500):
            if state.pipeline is not None and state.pipeline.stats.finished:
                break
            time.sleep(0.02)
        assert state.pipeline.stats.finished
        m = c.get("/metrics").text
    assert stuck.dropped == len(evs) - 2 == 40
    assert f"liqmap_ws_dropped_messages_total {float(len(evs) - 2)}" in m
