"""The API's connection guard (issue #12 item 5) on a real ``liqmap serve`` process replaying
the real Binance forceOrder capture: oversized request lines answered at once (414 / 400, the
websocket upgrade used to hang >= 120 s), websocket Origin same-origin by default plus an
allow-list, an optional Host allow-list (DNS rebinding), caps on websocket clients and on
connections."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import BINANCE_FRAMES, serve_process
from liqmap.api.guard import origin_allowed

ENV = {"LIQMAP_WS_ORIGINS": "https://dash.example", "LIQMAP_ALLOWED_HOSTS": "127.0.0.1,localhost",
       "LIQMAP_MAX_WS_CLIENTS": "2", "LIQMAP_MAX_CONNECTIONS": "12"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("guard") / "g.duckdb"
    with serve_process(db, "--replay", str(BINANCE_FRAMES), env=ENV) as base:
        yield base


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "127.0.0.1:8000", (), True),  # not a browser (CLI, scripts)
    ("http://127.0.0.1:8000", "127.0.0.1:8000", (), True),  # the dashboard itself
    ("http://LOCALHOST", "localhost:80", (), True),  # default port, case
    ("http://evil.example", "127.0.0.1:8000", (), False),  # another site's page
    ("http://evil.example", "evil.example", (), True),  # its Host is the rebinding case: Host allow-list
    ("null", "127.0.0.1:8000", (), False),  # sandboxed page / file://
    ("https://dash.example", "127.0.0.1:8000", ("https://dash.example",), True),
    ("https://dash.example:443", "127.0.0.1:8000", ("https://dash.example",), True),
    ("http://dash.example", "127.0.0.1:8000", ("https://dash.example",), False),  # scheme counts
    ("http://anything", "127.0.0.1:8000", ("*",), True),
])
def test_origin_rule(origin, host, allowed, ok):
    assert origin_allowed(origin, host, allowed) is ok


def raw_request(port: int, target: str, upgrade: bool, timeout_s: float = 5.0) -> tuple[bytes, float]:
    """Send one GET (optionally a websocket upgrade) on a raw socket; (first bytes, seconds)."""
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if upgrade:
        head += ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        t0 = time.monotonic()
        s.sendall((head + "\r\n").encode())
        try:
            data = s.recv(200)
        except socket.timeout:
            data = b"(no answer)"
        return data, time.monotonic() - t0


@pytest.mark.parametrize("n, upgrade, status", [
    (8_300, False, b"414"),  # plain GET over the cap
    (8_300, True, b"400"),  # upgrade: the websockets parser refuses the line first
    (60_000, True, b"400"),
])
def test_oversized_request_lines_are_answered_at_once(served, n, upgrade, status):
    data, took = raw_request(port_of(served), "/ws/liquidations?x=" + "a" * n if upgrade else "/health?x=" + "a" * n,
                             upgrade)
    assert data.startswith(b"HTTP/1.1 " + status), data
    assert took < 2.0


def test_a_target_under_the_cap_is_served(served):
    data, _ = raw_request(port_of(served), "/health?x=" + "a" * 4000, upgrade=False)
    assert data.startswith(b"HTTP/1.1 200")


def test_host_allow_list(served):
    assert httpx.get(served + "/health").status_code == 200
    r = httpx.get(served + "/health", headers={"Host": f"evil.example:{port_of(served)}"})
    assert r.status_code == 400 and "Invalid host" in r.text


async def handshake(base: str, origin: str | None):
    url = base.replace("http://", "ws://") + "/ws/liquidations"
    return await connect(url, origin=origin, open_timeout=5)


async def test_websocket_origin(served):
    for origin in (None, served, "https://dash.example"):
        ws = await handshake(served, origin)
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith('{"type": "hello"')
        await ws.close()
    for origin in ("http://evil.example", "null", "http://dash.example"):
        with pytest.raises(InvalidStatus) as exc:
            await handshake(served, origin)
        assert exc.value.response.status_code == 403


async def test_websocket_client_cap(served):
    first, second = await handshake(served, None), await handshake(served, None)
    try:
        for ws in (first, second):
            await asyncio.wait_for(ws.recv(), 5)  # hello: both are clients
        third = await handshake(served, None)
        with pytest.raises(ConnectionClosed) as exc:
            await asyncio.wait_for(third.recv(), 5)
        assert exc.value.rcvd.code == 1013 and "LIQMAP_MAX_WS_CLIENTS" in exc.value.rcvd.reason
    finally:
        await first.close()
        await second.close()
    await asyncio.sleep(0.3)
    ws = await handshake(served, None)  # room again
    assert (await asyncio.wait_for(ws.recv(), 5)).startswith('{"type": "hello"')
    await ws.close()


def test_connection_cap_answers_503(served):
    port = port_of(served)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(int(ENV["LIQMAP_MAX_CONNECTIONS"]))]
    try:
        time.sleep(0.2)
        data, _ = raw_request(port, "/health", upgrade=False)
        assert data.startswith(b"HTTP/1.1 503"), data
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    assert httpx.get(served + "/health").status_code == 200
