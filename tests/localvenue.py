"""Local venue servers on 127.0.0.1 (random ports) replaying REAL recorded frames.

Reusable by every end-to-end test: point an adapter at ``server.url`` with
``ws_url=`` / ``rest_url=`` and the real feed code runs against it. Nothing
here touches the internet.

Websocket (:class:`LocalWsVenue`): the n-th accepted connection runs
``scripts[min(n, len(scripts) - 1)]``, a list of actions:

* ``Send(frames)``      -- send text frames in order (optionally ``gap_s`` apart);
* ``WaitFor(n)``        -- wait until the client has sent ``n`` messages on this
  connection (e.g. its subscribe messages) -- times out after ``timeout_s``;
* ``Sleep(s)``          -- pause;
* ``Close(code)``       -- close the connection cleanly (close frame);
* ``Drop()``            -- abort the TCP connection without a close frame;
* ``Silence()``         -- stay connected and send nothing (stale-stream fault).

After the script ends, the connection stays open (silent) until the client
leaves. Every message the client sends is recorded in ``received[n]``, every
request path in ``paths`` and the handshake headers in ``headers``; ``responder(text) -> reply | None`` answers
client messages (pongs, acks); ``answer(n, text) -> [replies]`` does the same
knowing the connection (a venue that answers each subscribe arg on its own, or
behaves differently on a later connection: ``tests/venue_answers.py``).
``refuse=[(status, headers), ...]`` answers the first handshakes with that HTTP status
instead of upgrading (a 429 with ``Retry-After``); every handshake's monotonic time is in
``handshakes``.

REST (:class:`LocalHttpVenue`): aiohttp server answering each GET with the next
:class:`Reply` of its script (the last reply repeats); request times (monotonic)
and paths are recorded, e.g. to check that a 429 ``Retry-After`` was honoured.

Fixture loaders read ONLY from ``tests/fixtures``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from conftest import FIX as FIXTURES
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve



# ----------------------------------------------------------------------------- fixtures
def binance_forceorder_frames() -> list[str]:
    """The 42 real Binance ``!forceOrder@arr`` events (2025-10-02) as frame text.

    The capture stored each frame as a JSON object (field ``msg``); it is
    re-encoded compactly, key order preserved.
    """
    path = FIXTURES / "binance_forceorder_arbitra" / "binance_force_orders_ws.jsonl"
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.dumps(json.loads(line)["msg"], separators=(",", ":")))
    return out


def bitmex_liquidation_rows() -> list[dict]:
    """117 real BitMEX ``liquidation`` table rows (2019-11) without the capture's ``recorded_at``."""
    path = FIXTURES / "bitmex_liquidations_ticktrades" / "bitmex_liquidation_inserts_2019-11.jsonl"
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("recorded_at", None)
            rows.append(row)
    return rows


def bitmex_insert_frames() -> list[str]:
    """Each real BitMEX row as a ``{"table":"liquidation","action":"insert","data":[row]}`` frame."""
    return [
        json.dumps({"table": "liquidation", "action": "insert", "data": [r]}, separators=(",", ":"))
        for r in bitmex_liquidation_rows()
    ]


def protocol_frame(path: str) -> str:
    """A venue's real (or documented, ``DOC_``) protocol frame from ``tests/fixtures/<path>``,
    re-encoded compactly (key order kept)."""
    return json.dumps(json.loads((FIXTURES / path).read_text()), separators=(",", ":"))


def tardis_messages(exchange: str) -> list[str]:
    """Real messages from tardis-node's tests for ``exchange`` (e.g. ``"bybit"``, ``"okex-swap"``)."""
    path = FIXTURES / "tardis_node_fixtures" / "liquidation_messages.jsonl"
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("exchange") == exchange:
                out.append(json.dumps(rec["message"], separators=(",", ":")))
    return out


def hyperliquid_trade_frames(limit: int = 20) -> list[str]:
    """Hyperliquid ``trades`` channel frames rebuilt from real recorded fills.

    Values (coin, side, px, sz, time) are the first ``limit`` rows of
    Hyperliquid's published ``non_mm_trades.csv.gz`` (2023); the JSON wrapper is
    the documented websocket shape
    (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions),
    with ``tid`` = row number so ids are stable. Not a capture of the socket itself.
    """
    import csv
    from datetime import datetime

    path = FIXTURES / "hyperliquid_historical_data" / "non_mm_trades.csv.gz"
    out = []
    with gzip.open(path, "rt") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= limit:
                break
            t = int(datetime.fromisoformat(row["time"].replace("Z", "+00:00")).timestamp() * 1000)
            trade = {"coin": row["coin"], "side": "A" if row["side"] == "Ask" else "B", "px": row["px"], "sz": row["sz"], "time": t, "tid": i + 1}
            out.append(json.dumps({"channel": "trades", "data": [trade]}, separators=(",", ":")))
    return out


def cryptofeed_frames(name: str, limit: int | None = None) -> list[str]:
    """Websocket frames of a cryptofeed sample session (``"BYBIT.ws.25.0"``...).

    Lines look like ``<timestamp>: <frame>``; header/config lines are skipped.
    """
    path = FIXTURES / "cryptofeed_sample_data" / f"{name}.gz"
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            ts, sep, rest = line.partition(": ")
            if not sep or not ts.replace(".", "").isdigit():
                continue
            out.append(rest.rstrip("\n"))
            if limit and len(out) >= limit:
                break
    return out


# ----------------------------------------------------------------------------- websocket
@dataclass
class Send:
    frames: Sequence[str]
    gap_s: float = 0.0


@dataclass
class WaitFor:
    n: int = 1
    timeout_s: float = 5.0


@dataclass
class Sleep:
    seconds: float


@dataclass
class Close:
    code: int = 1001
    reason: str = "local venue closes"


@dataclass
class Drop:
    pass


@dataclass
class Silence:
    pass


class LocalWsVenue:
    """Websocket server replaying scripted frames; use ``async with LocalWsVenue(...) as v``."""

    def __init__(
        self,
        scripts: Sequence[Sequence[object]],
        responder: Callable[[str], str | None] | None = None,
        answer: Callable[[int, str], Sequence[str]] | None = None,
        refuse: Sequence[tuple[int, dict[str, str]]] = (),
    ) -> None:
        if not scripts:
            raise ValueError("need at least one script")
        self.refuse = list(refuse)
        self.handshakes: list[float] = []
        self.scripts = [list(s) for s in scripts]
        self.responder = responder
        self.answer = answer
        self.received: list[list[str]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []  # handshake headers per connection
        self.sent: list[int] = []  # frames sent per connection
        self.connection_count = 0
        self._msg_events: list[asyncio.Event] = []
        self._server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "LocalWsVenue":
        self._server = await serve(self._handler, "127.0.0.1", 0, ping_interval=None, process_request=self._refuse)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _refuse(self, connection: ServerConnection, request):
        self.handshakes.append(time.monotonic())
        if len(self.handshakes) > len(self.refuse):
            return None
        status, headers = self.refuse[len(self.handshakes) - 1]
        response = connection.respond(status, '{"code":-1003,"msg":"Too many requests"}\n')
        for k, v in headers.items():
            response.headers[k] = v
        return response

    async def _reader(self, ws: ServerConnection, idx: int) -> None:
        try:
            async for msg in ws:
                text = msg if isinstance(msg, str) else msg.decode()
                self.received[idx].append(text)
                self._msg_events[idx].set()
                if self.responder is not None:
                    reply = self.responder(text)
                    if reply is not None:
                        await ws.send(reply)
                if self.answer is not None:
                    for reply in self.answer(idx, text):
                        await ws.send(reply)
        except Exception:
            pass

    async def _handler(self, ws: ServerConnection) -> None:
        idx = self.connection_count
        self.connection_count += 1
        self.received.append([])
        self.sent.append(0)
        self._msg_events.append(asyncio.Event())
        self.paths.append(ws.request.path if ws.request else "")
        self.headers.append({k.lower(): v for k, v in ws.request.headers.raw_items()} if ws.request else {})
        reader = asyncio.create_task(self._reader(ws, idx))
        script = self.scripts[min(idx, len(self.scripts) - 1)]
        try:
            for action in script:
                if isinstance(action, Send):
                    for f in action.frames:
                        await ws.send(f)
                        self.sent[idx] += 1
                        if action.gap_s:
                            await asyncio.sleep(action.gap_s)
                elif isinstance(action, WaitFor):
                    deadline = time.monotonic() + action.timeout_s
                    while len(self.received[idx]) < action.n and time.monotonic() < deadline:
                        self._msg_events[idx].clear()
                        try:
                            await asyncio.wait_for(self._msg_events[idx].wait(), deadline - time.monotonic())
                        except asyncio.TimeoutError:
                            break
                elif isinstance(action, Sleep):
                    await asyncio.sleep(action.seconds)
                elif isinstance(action, Close):
                    await ws.close(action.code, action.reason)
                    return
                elif isinstance(action, Drop):
                    ws.transport.abort()
                    return
                elif isinstance(action, Silence):
                    break
            await reader  # stay open until the client leaves
        except Exception:
            pass
        finally:
            reader.cancel()

    def messages(self, idx: int = 0) -> list[str]:
        """Messages the client sent on connection ``idx`` (``[]`` before it exists)."""
        return self.received[idx] if idx < len(self.received) else []

    async def wait_connections(self, n: int, timeout_s: float = 5.0) -> None:
        """Wait until ``n`` connections were accepted (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.connection_count < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} connections, got {self.connection_count}")
            await asyncio.sleep(0.01)


# ----------------------------------------------------------------------------- REST
@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class LocalHttpServer:
    """aiohttp server on 127.0.0.1 (random port) routing every request (GET, POST) to ``self._handle(request)``."""

    port = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()


class LocalHttpVenue(LocalHttpServer):
    """aiohttp server: each GET gets the next scripted :class:`Reply` (last repeats)."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        if not replies:
            raise ValueError("need at least one reply")
        self.replies = list(replies)
        self.requests: list[tuple[float, str]] = []  # (monotonic time, path_qs)

    async def _handle(self, request: web.Request) -> web.Response:
        n = len(self.requests)
        self.requests.append((time.monotonic(), request.path_qs))
        r = self.replies[min(n, len(self.replies) - 1)]
        return web.Response(status=r.status, text=r.body, headers=r.headers, content_type="application/json")


async def wait_until(pred: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` every 10 ms; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def connected(adapter):
    """``adapter`` connected for the block, disconnected after it (also when the block fails)."""
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()
