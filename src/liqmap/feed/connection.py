"""One resilient websocket connection per :class:`~liqmap.exchanges.base.ConnectionSpec`.

:class:`WsConnection` knows nothing about any venue beyond the spec. Its loop:

1. connect (``websockets`` asyncio client; protocol-level pings are answered
   by the library, and it sends its own pings every ``ping_interval_s``);
2. send every ``spec.subscribe`` message -- again after every reconnect (paced
   at 5/s when there are more than :data:`SUBSCRIBE_BURST`);
3. read frames; each goes through :class:`~liqmap.feed.dispatch.FrameHandler`
   (receipt time, recorder, ``safe_parse``, emit). ``venue.auto_reply`` answers
   in-band heartbeats (Deribit ``test_request``, text ``ping``); replies
   recognised by ``spec.heartbeat.is_pong`` are recorded but not parsed;
4. app-level heartbeat: ``spec.heartbeat.message`` every ``interval_s`` seconds;
5. watchdog: no frame for ``stale_after_s`` seconds => close and reconnect
   (reason ``"stale"``);
6. planned rotation ``rotate_margin_s`` before ``spec.max_lifetime_s``: open
   and subscribe the replacement first, keep draining the old socket for
   ``overlap_s`` and close it (duplicates in the overlap are removed by the
   aggregator's id dedupe). If the replacement cannot be opened, the old one
   is closed and the normal reconnect path runs (reason ``"rotation"``);
7. on any drop: wait ``Backoff.next_delay()`` (capped exponential, full
   jitter), reconnect; after ``max_retries`` consecutive failed connects
   (0 = forever) the connection gives up (health state ``"gave_up"``);
8. every disconnect -> resume emits one :class:`~liqmap.models.Gap`
   ``(start = receipt ms of the last frame before the drop, or the connect
   time when none arrived; end = resume ms; reason)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from liqmap.exchanges.base import ConnectionSpec, Venue
from liqmap.feed.backoff import Backoff
from liqmap.feed.dispatch import FrameHandler
from liqmap.feed.health import HealthTracker
from liqmap.units import now_ms
from liqmap.models import Gap

log = logging.getLogger("liqmap.feed")

#: More than this many subscribe messages are paced SUBSCRIBE_PACE_S apart, keeping
#: under the strictest per-connection inbound limit we know (Binance: 10 messages/s,
#: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams).
SUBSCRIBE_BURST = 5
SUBSCRIBE_PACE_S = 0.2


class WsConnection:
    """Run one websocket connection forever (until :meth:`stop` or give-up).

    Args:
        venue: venue spec/parser (for ``name`` and ``auto_reply``).
        spec: the connection to keep open.
        handler: frame pipeline (parse + emit).
        tracker: health counters of the owning adapter.
        emit_gap: called with each :class:`Gap` (synchronously, must not block).
        url: URL to use instead of ``spec.url`` (local venue in tests).
        stale_after_s: watchdog in seconds (default ``spec.stale_after_s``).
        backoff: reconnect delay policy.
        max_retries: consecutive failed connects before giving up, 0 = never.
        rotate_margin_s: rotate this many seconds before ``max_lifetime_s``.
        overlap_s: how long the old socket is drained after a rotation.
        open_timeout_s: websocket handshake timeout.
        ping_interval_s: protocol ping interval of the library (None = off).
    """

    def __init__(
        self,
        venue: Venue,
        spec: ConnectionSpec,
        handler: FrameHandler,
        tracker: HealthTracker,
        emit_gap: Callable[[Gap], None],
        *,
        url: str | None = None,
        stale_after_s: float | None = None,
        backoff: Backoff | None = None,
        max_retries: int = 0,
        rotate_margin_s: float = 60.0,
        overlap_s: float = 1.0,
        open_timeout_s: float = 10.0,
        ping_interval_s: float | None = 20.0,
    ) -> None:
        self.venue = venue
        self.spec = spec
        self.label = spec.label
        self.url = url or spec.url
        self.handler = handler
        self.tracker = tracker
        self.emit_gap = emit_gap
        self.stale_after_s = stale_after_s if stale_after_s is not None else spec.stale_after_s
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.rotate_margin_s = rotate_margin_s
        self.overlap_s = overlap_s
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.connects = 0  # successful opens (incl. rotations)
        self.rotations = 0
        self._last_frame_ms: int | None = None
        self._opened_ms: int | None = None
        self._down_since_ms: int | None = None
        self._gap_reason: str | None = None
        self._stopping = False
        self.gave_up = False
        self._ws: ClientConnection | None = None
        self._bg: set[asyncio.Task] = set()
        tracker.register(self.label)

    # -- public --------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve, reconnect until stopped or ``max_retries`` is exhausted."""
        failures = 0
        ws: ClientConnection | None = None
        try:
            while not self._stopping:
                if ws is None:
                    try:
                        ws = await self._open()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        failures += 1
                        self.tracker.on_error(f"{self.label}: connect failed: {exc!r}")
                        if self.max_retries and failures >= self.max_retries:
                            log.error("%s/%s: giving up after %d failed connects", self.venue.name, self.label, failures)
                            self.gave_up = True
                            return
                        await asyncio.sleep(self.backoff.next_delay())
                        continue
                    failures = 0
                    self._resumed()
                reason, ws = await self._serve(ws)
                if ws is None and not self._stopping:
                    self._dropped(reason)
                    await asyncio.sleep(self.backoff.next_delay())
        finally:
            self._stopping = True
            self.tracker.set_connected(self.label, False, "gave_up" if self.gave_up else "stopped")
            if self._ws is not None:
                await self._close(self._ws)
            for t in list(self._bg):
                t.cancel()

    async def stop(self) -> None:
        """Stop reconnecting and close the socket (no Gap is emitted for a stop)."""
        self._stopping = True
        if self._ws is not None:
            await self._close(self._ws)

    # -- internals -----------------------------------------------------------
    async def _open(self) -> ClientConnection:
        ws = await connect(
            self.url,
            open_timeout=self.open_timeout_s,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_interval_s,
            close_timeout=1.0,
            max_size=2**24,
        )
        try:
            pace = SUBSCRIBE_PACE_S if len(self.spec.subscribe) > SUBSCRIBE_BURST else 0.0
            for i, msg in enumerate(self.spec.subscribe):
                if i and pace:
                    await asyncio.sleep(pace)
                await ws.send(msg)
        except BaseException:
            await self._close(ws)
            raise
        self.connects += 1
        self._opened_ms = now_ms()
        return ws

    def _resumed(self) -> None:
        if self._gap_reason is not None:
            end = now_ms()
            gap = Gap(self.venue.name, self.label, self._down_since_ms or end, end, self._gap_reason)
            self.tracker.reconnects += 1
            self.tracker.gaps += 1
            self._gap_reason = None
            self._down_since_ms = None
            self.emit_gap(gap)

    def _dropped(self, reason: str) -> None:
        self.tracker.set_connected(self.label, False)
        self._down_since_ms = self._last_frame_ms or self._opened_ms or now_ms()
        self._gap_reason = reason
        if reason in ("closed", "error"):
            self.tracker.on_error(f"{self.label}: connection {reason}")
        log.info("%s/%s: connection %s; reconnecting", self.venue.name, self.label, reason)

    async def _serve(self, ws: ClientConnection) -> tuple[str, ClientConnection | None]:
        """Read frames until the socket ends; returns (reason, replacement socket or None)."""
        self._ws = ws
        self.tracker.set_connected(self.label, True)
        first_frame = True
        hb = self.spec.heartbeat
        hb_task = None
        if hb.message and hb.interval_s:
            hb_task = asyncio.create_task(self._heartbeat(ws, hb.message, hb.interval_s))
        lifetime = self.spec.max_lifetime_s
        rotate_at = None
        if lifetime:
            rotate_at = time.monotonic() + max(lifetime - self.rotate_margin_s, lifetime / 2)
        try:
            while True:
                timeout = self.stale_after_s
                if rotate_at is not None:
                    timeout = min(timeout, max(rotate_at - time.monotonic(), 0.0))
                try:
                    async with asyncio.timeout(timeout):
                        data = await ws.recv()
                except TimeoutError:
                    if rotate_at is not None and time.monotonic() >= rotate_at - 1e-3:
                        return await self._rotate(ws)
                    await self._close(ws)
                    return "stale", None
                except ConnectionClosed:
                    return "closed", None
                except (OSError, RuntimeError) as exc:
                    self.tracker.on_error(f"{self.label}: {exc!r}")
                    await self._close(ws)
                    return "error", None
                if first_frame:
                    first_frame = False
                    self.backoff.reset()
                await self._on_frame(ws, data)
        finally:
            if hb_task is not None:
                hb_task.cancel()

    async def _on_frame(self, ws: ClientConnection, data: str | bytes) -> None:
        self.handler.handle(self.label, data, parse=not self._is_pong(data))
        self._last_frame_ms = now_ms()
        if isinstance(data, str):
            try:
                reply = self.venue.auto_reply(data)
            except Exception as exc:  # venue bug: count, keep the feed
                reply = None
                self.tracker.on_error(f"{self.label}: auto_reply failed: {exc!r}")
            if reply is not None:
                try:
                    await ws.send(reply)
                except ConnectionClosed:
                    pass  # the recv loop sees the closure next

    def _is_pong(self, data: str | bytes) -> bool:
        is_pong = self.spec.heartbeat.is_pong
        if is_pong is None or not isinstance(data, str):
            return False
        try:
            return bool(is_pong(data))
        except Exception:
            return False

    async def _heartbeat(self, ws: ClientConnection, message: str, interval_s: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval_s)
                await ws.send(message)
        except (ConnectionClosed, OSError):
            return

    async def _rotate(self, old: ClientConnection) -> tuple[str, ClientConnection | None]:
        self.rotations += 1
        try:
            new = await self._open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.tracker.on_error(f"{self.label}: rotation connect failed: {exc!r}")
            await self._close(old)
            return "rotation", None
        log.info("%s/%s: rotated connection before max lifetime", self.venue.name, self.label)
        task = asyncio.create_task(self._drain(old))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        return "rotation", new

    async def _drain(self, ws: ClientConnection) -> None:
        """Keep reading the old socket for ``overlap_s`` after a rotation, then close it."""
        try:
            async with asyncio.timeout(self.overlap_s):
                async for data in ws:
                    await self._on_frame(ws, data)
        except (TimeoutError, ConnectionClosed, OSError):
            pass
        finally:
            await self._close(ws)

    @staticmethod
    async def _close(ws: ClientConnection) -> None:
        try:
            await ws.close()
        except Exception:
            pass
