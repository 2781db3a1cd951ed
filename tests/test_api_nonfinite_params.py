"""Regressions for the API on real replayed Binance forceOrder frames (2025-10-02):

* non-finite numeric query parameters (``inf``/``nan``) are rejected with 4xx instead of
  a 500 (``min_usd=inf`` broke JSON encoding of ``meta``) or a garbage 200
  (``level_size=inf`` turned every price level into ``null``);
* the websocket rejects a non-finite ``min_value_usd`` (NaN silently matched nothing
  and the hello message was not valid JSON): ``test_api_ws.py::test_ws_bad_params_close_with_reason``;
* a too-slow ``batch=true`` websocket client is closed with 1013 (ingestion never waits).
"""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import BINANCE_FRAMES, replay_client, replay_liquidations, wait_finished
from liqmap.api.app import create_app
from liqmap.serve.server import build_replay_state

BINANCE = str(BINANCE_FRAMES)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("review_api") / "api.duckdb"
    with replay_client([BINANCE], db, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path,params,field", [
    ("/liquidations/heatmap", {"symbol": "BTC", "timeframe": "all", "level_size": "inf"}, "level_size"),
    ("/liquidations/heatmap", {"symbol": "BTC", "timeframe": "all", "level_size": "nan"}, "level_size"),
    ("/liquidations/cascades", {"timeframe": "all", "min_usd": "inf"}, "min_usd"),
    ("/liquidations/recent", {"min_value_usd": "inf"}, "min_value_usd"),
])
def test_non_finite_numbers_are_422(client, path, params, field):
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_finite_level_size_still_accepted(client):
    d = client.get("/liquidations/heatmap", params={"symbol": "BTC", "timeframe": "all", "level_size": 10}).json()
    assert d["level_size"] == 10
    assert d["levels"] and all(lv["price"] is not None for lv in d["levels"])


@pytest.mark.timeout(30)
def test_ws_batch_client_too_slow_is_closed(tmp_path):
    evs = replay_liquidations([BINANCE])
    assert len(evs) == 42
    state = build_replay_state([BINANCE], str(tmp_path / "slow.duckdb"), speed=None)
    with TestClient(create_app(state)) as c:
        wait_finished(c)
        with c.websocket_connect("/ws/liquidations?batch=true&queue_size=3") as ws:
            assert ws.receive_json()["type"] == "hello"
            hub = state.hub
            sub = hub.subscribers[-1]

            def burst() -> None:
                # runs on the server loop with no await in between: the client's sender
                # cannot drain, so the queue fills and the hub marks it too slow
                for i in range(sub.max_drops + 10):
                    hub.publish(evs[i % len(evs)])

            c.portal.call(burst)
            assert sub.closed
            got = []
            with pytest.raises(WebSocketDisconnect) as exc:
                while True:
                    got.append(ws.receive_json())
            assert exc.value.code == 1013
