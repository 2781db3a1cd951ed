"""One resilient websocket connection per :class:`~liqmap.exchanges.base.ConnectionSpec`.

:class:`WsConnection` knows nothing about any venue beyond the spec and the
venue's declared protocol hooks. Its loop:

1. connect (``websockets`` asyncio client; protocol-level pings are answered
   by the library, and it sends its own pings every ``ping_interval_s``); when
   the URL refuses the connection, ``spec.fallback_urls`` are tried in order;
2. send ``spec.subscribe`` (untracked prelude), then the subscribe requests of
   ``spec.topics`` planned by a :class:`~liqmap.feed.subscriptions.SubscriptionTracker`
   (within ``venue.limits``, liquidation topics alone), paced at
   ``limits.subscribes_per_s`` (default 5/s beyond a burst of
   :data:`SUBSCRIBE_BURST`); again after every reconnect;
3. read frames. ``venue.control(text)`` classifies acks, rejections and restart
   notices: they update the tracker (a rejected request's other topics and an
   unanswered topic are sent again one per request; the venue's reason is logged
   at WARNING and shown in health) and are recorded but not parsed. Replies
   recognised by ``spec.heartbeat.is_pong`` are recorded but not parsed.
   Everything else is DATA: it goes through
   :class:`~liqmap.feed.dispatch.FrameHandler` (receipt time, recorder,
   ``safe_parse``, emit). ``venue.auto_reply`` answers in-band heartbeats;
4. app-level heartbeat: ``spec.heartbeat.message`` every ``interval_s`` seconds;
5. two watchdogs. Liveness: no frame at all (heartbeat replies count) for
   ``stale_after_s`` => the socket is dead: close, reconnect, Gap (reason
   ``"stale"``). Silence: no DATA frame for the smallest ``venue.silence_s`` over
   the kinds of the connection's topics (heartbeat replies do NOT count) => a
   make-before-break rotation (cause ``silent``): quiet markets record no gap,
   a silenced subscription is renewed;
6. make-before-break rotation -- before ``spec.max_lifetime_s`` (``lifetime``),
   on a restart notice (``restart``, OKX 64008), on silence, and after a
   rejection where ``venue.rejection_silences`` (``rejection``): the replacement
   is opened and subscribed; the old socket keeps being read (data only) until
   the replacement's liquidation topics are acknowledged (at most
   ``ack_timeout_s x MAX_ATTEMPTS``), then for ``overlap_s`` more, then closed.
   Duplicates in the overlap are removed by the aggregator's id dedupe. If the
   replacement cannot be opened, the old one is closed and the normal reconnect
   path runs (reason = the cause);
7. on any drop: wait ``Backoff.next_delay()`` (capped exponential, full
   jitter), reconnect. A handshake answered HTTP 429 or 418 (rate limited / IP banned)
   holds every connect of this connection for the venue's ``Retry-After``, never less
   than the floor (:class:`~liqmap.feed.backoff.RateLimitPolicy`: 5 s; a 418 without
   ``Retry-After`` two minutes); the fallback URLs are not tried meanwhile (same venue,
   same budget); counted in health ``rate_limited``; after ``max_retries`` consecutive failed connects
   (0 = forever) the connection gives up (health state ``"gave_up"``);
8. every disconnect -> resume emits one :class:`~liqmap.models.Gap`
   ``(start = receipt ms of the last frame before the drop, or the connect
   time when none arrived; end = resume ms; reason)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from liqmap.exchanges.base import ConnectionSpec, Control, Topic, Venue
from liqmap.feed.backoff import RetryPolicy
from liqmap.feed.dispatch import FrameHandler
from liqmap.feed.health import HealthTracker
from liqmap.feed.rest import retry_after_s
from liqmap.feed.subscriptions import MAX_ATTEMPTS, Request, SubscriptionTracker
from liqmap.models import Gap
from liqmap.tasks import cancel_and_wait
from liqmap.units import now_ms

log = logging.getLogger("liqmap.feed")

#: Without a declared ``limits.subscribes_per_s``, more than this many messages are paced
#: SUBSCRIBE_PACE_S apart, keeping under the strictest per-connection inbound limit we know
#: (Binance: 10 messages/s, https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams).
SUBSCRIBE_BURST = 5
SUBSCRIBE_PACE_S = 0.2


@dataclass(frozen=True)
class WsOptions:
    """Retry and timing options an adapter gives every one of its websocket connections.

    Args:
        max_retries: consecutive failed connects before a connection gives up (0 = never).
        rotate_margin_s: a planned rotation starts this many seconds before ``max_lifetime_s``.
        overlap_s: seconds the old socket is still read after its replacement is subscribed.
        open_timeout_s: websocket handshake timeout, seconds.
        ping_interval_s: protocol ping interval of the library, seconds (None = off).
    """

    max_retries: int = 0
    rotate_margin_s: float = 60.0
    overlap_s: float = 1.0
    open_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0


class RateLimited(ConnectionError):
    """The venue answered the websocket handshake with HTTP 429 / 418; ``wait_s`` is held."""

    def __init__(self, url: str, status: int, wait_s: float) -> None:
        super().__init__(f"{url}: HTTP {status}, waiting {wait_s:.1f} s")
        self.status = status
        self.wait_s = wait_s


class WsConnection:
    """Run one websocket connection forever (until :meth:`stop` or give-up).

    Args:
        venue: venue spec/parser (``name``, ``auto_reply``, ``control``, limits).
        spec: the connection to keep open.
        handler: frame pipeline (parse + emit).
        tracker: health counters of the owning adapter.
        emit_gap: called with each :class:`Gap` (synchronously, must not block).
        url: URL to use instead of ``spec.url`` (local venue in tests).
        fallback_urls: URLs to try when ``url`` refuses (default ``spec.fallback_urls``).
        stale_after_s: liveness watchdog in seconds (default ``spec.stale_after_s``).
        silence_after_s: data-silence threshold (default: from ``venue.silence_s``
            and the kinds of ``spec.topics``; None = no silence watchdog).
        options: retry and timing options (:class:`WsOptions`; default ``WsOptions()``).
        retry: reconnect backoff and the waits after a handshake answered HTTP 429 / 418
            (module doc, step 7; default ``RetryPolicy()``).
        start_delay_s: wait this long before the first connect, seconds (connection-rate limits).
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
        fallback_urls: Sequence[str] | None = None,
        stale_after_s: float | None = None,
        silence_after_s: float | None = None,
        options: WsOptions | None = None,
        retry: RetryPolicy | None = None,
        start_delay_s: float = 0.0,
    ) -> None:
        self.venue = venue
        self.options = options or WsOptions()
        retry = retry or RetryPolicy()
        self.rate_limit = retry.rate_limit
        self.backoff = retry.backoff()
        self._not_before = 0.0  # monotonic: no connect before (a 429/418's Retry-After)
        self.spec = spec
        self.label = spec.label
        self.url = url or spec.url
        self.urls = list(dict.fromkeys([self.url, *(spec.fallback_urls if fallback_urls is None else fallback_urls)]))
        self.handler = handler
        self.tracker = tracker
        self.emit_gap = emit_gap
        self.stale_after_s = stale_after_s if stale_after_s is not None else spec.stale_after_s
        self.subs = SubscriptionTracker(list(spec.topics), venue.limits, venue.ack_timeout_s,
                                        whole_request=venue.rejects_whole_request)  # fmt: skip
        self.silence_after_s = silence_after_s if silence_after_s is not None else self._silence_threshold()
        self.start_delay_s = start_delay_s
        lim = venue.limits.subscribes_per_s
        self.pace_s = 1.0 / lim if lim else SUBSCRIBE_PACE_S
        self.connects = 0  # successful opens (incl. rotations)
        self.rotations = 0
        self._last_frame_ms: int | None = None
        self._last_frame_mono = 0.0
        self._last_data_mono = 0.0
        self._opened_ms: int | None = None
        self._down_since_ms: int | None = None
        self._gap_reason: str | None = None
        self._stopping = False
        self.gave_up = False
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[tuple[str, Request | None]] | None = None
        self._rotate_cause: str | None = None
        self._rejected_here = False
        self._url_acked = False
        self._liq_acked = asyncio.Event()
        self._bg: set[asyncio.Task] = set()
        tracker.register(self.label)
        self._report()

    def _silence_threshold(self) -> float | None:
        kinds = self.subs.kinds()
        if not kinds:
            return None
        return min(self.venue.silence_s.get(k, max(self.venue.silence_s.values())) for k in kinds)

    # -- public --------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve, reconnect until stopped or ``max_retries`` is exhausted."""
        failures = 0
        ws: ClientConnection | None = None
        if self.start_delay_s:
            await asyncio.sleep(self.start_delay_s)
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
                        if self.options.max_retries and failures >= self.options.max_retries:
                            log.error("%s/%s: giving up after %d failed connects", self.venue.name, self.label, failures)
                            self.gave_up = True
                            return
                        delay = self._retry_delay()
                        if failures & (failures - 1) == 0 or isinstance(exc, RateLimited):  # attempts 1, 2, 4, 8, ...: visible, never a flood
                            log.warning("%s/%s: cannot connect to %s: %r (attempt %d); retrying in %.1f s",
                                        self.venue.name, self.label, self.url, exc, failures, delay)
                        await asyncio.sleep(delay)
                        continue
                    failures = 0
                    self._resumed()
                reason, ws = await self._serve(ws)
                if ws is None and not self._stopping:
                    self._dropped(reason)
                    await asyncio.sleep(self._retry_delay())
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

    def add_topics(self, topics: Sequence[Topic]) -> list[Topic]:
        """Subscribe further topics (a listing refresh): tracked at once, requested now
        when the socket is open, and on every reconnect. Returns the new ones."""
        new = self.subs.add(topics)
        if new and self._outbox is not None:
            for req in self.subs.plan(time.monotonic()):
                self._outbox.put_nowait((self._request_text(req), req))
        if new and self.silence_after_s is None:
            self.silence_after_s = self._silence_threshold()
        self._report()
        return new

    def remove_topics(self, keys: Sequence[str]) -> None:
        """Stop tracking topics (delisted): they no longer count as requested."""
        self.subs.remove(keys)
        self._report()

    # -- internals -----------------------------------------------------------
    def _retry_delay(self) -> float:
        """Seconds before the next connect: the backoff delay, or longer while a 429/418 holds."""
        return max(self.backoff.next_delay(), self._not_before - time.monotonic())

    def _rate_limited(self, url: str, exc: InvalidStatus) -> RateLimited:
        """Hold connects for the answer's ``Retry-After`` (at least the floor); count it."""
        status = exc.response.status_code
        header = retry_after_s(exc.response.headers.get("Retry-After"))
        wait = self.rate_limit.wait_s(status, header, self.backoff.window())
        self._not_before = time.monotonic() + wait
        self.tracker.rate_limited += 1
        return RateLimited(url, status, wait)

    async def _connect_any(self) -> ClientConnection:
        """Connect to the first URL that accepts, ``self.url`` first (it is kept).

        Raises :class:`RateLimited` at once for an HTTP 429 / 418 answer (no other URL is tried)."""
        last: Exception | None = None
        hold = self._not_before - time.monotonic()
        if hold > 0:  # a rotation (or anything else) must not connect inside a 429's wait
            await asyncio.sleep(hold)
        for url in [self.url, *(u for u in self.urls if u != self.url)]:
            try:
                ws = await connect(
                    url,
                    open_timeout=self.options.open_timeout_s,
                    ping_interval=self.options.ping_interval_s,
                    ping_timeout=self.options.ping_interval_s,
                    close_timeout=1.0,
                    max_size=2**24,
                    additional_headers=dict(self.spec.headers) or None,
                )
            except InvalidStatus as exc:
                if exc.response.status_code in (429, 418):
                    raise self._rate_limited(url, exc) from exc
                last = exc
                continue
            except (OSError, TimeoutError, asyncio.TimeoutError, ConnectionClosed, ValueError) as exc:
                last = exc
                if len(self.urls) > 1:
                    log.warning("%s/%s: %s refused (%r); trying the next URL", self.venue.name, self.label, url, exc)
                continue
            except Exception as exc:  # invalid handshake etc.
                last = exc
                continue
            if url != self.url:
                log.warning("%s/%s: connected to fallback URL %s", self.venue.name, self.label, url)
                self.url = url
            return ws
        raise last or OSError("no URL to connect to")

    async def _open(self) -> ClientConnection:
        ws = await self._connect_any()
        try:
            for i, msg in enumerate(self.spec.subscribe):
                if i and len(self.spec.subscribe) > SUBSCRIBE_BURST:
                    await asyncio.sleep(self.pace_s)
                await ws.send(msg)
        except BaseException:
            await self._close(ws)
            raise
        self.subs.reset()
        self._liq_acked.clear()
        self._rejected_here = False
        self._url_acked = False
        self.connects += 1
        self._opened_ms = now_ms()
        self._last_data_mono = self._last_frame_mono = time.monotonic()
        return ws

    def _request_text(self, req: Request) -> str:
        return self.venue.subscribe_request(list(req.topics), req.id)

    def _first_messages(self) -> list[tuple[str, Request | None]]:
        """The subscribe requests of a freshly opened socket (and the ack probe)."""
        out: list[tuple[str, Request | None]] = []
        if self.spec.topics_in_url:
            for req in self.subs.plan(time.monotonic()):  # nothing to send: the URL names them
                for t in req.topics:
                    self.subs.states[t.key].sent_at = time.monotonic()
        else:
            out = [(self._request_text(r), r) for r in self.subs.plan(time.monotonic())]
        if self.spec.ack_probe:
            out.append((self.spec.ack_probe, None))
        return out

    async def _sender(self, ws: ClientConnection, first: list[tuple[str, Request | None]]) -> None:
        """Send the socket's subscribe requests, then later retries and additions, paced
        (``subscribes_per_s``, ``subscribes_per_hour``); stamps each request's send time."""
        assert self._outbox is not None
        for item in first:
            self._outbox.put_nowait(item)
        hourly = self.venue.limits.subscribes_per_hour
        sent_times: list[float] = []
        try:
            while True:
                text, req = await self._outbox.get()
                if len(sent_times) >= SUBSCRIBE_BURST or self.venue.limits.subscribes_per_s:
                    await asyncio.sleep(self.pace_s)
                if hourly and req is not None:
                    sent_times = [t for t in sent_times if time.monotonic() - t < 3600.0]
                    if len(sent_times) >= hourly - 1:  # keep one for the next reconnect's first request
                        log.warning("%s/%s: %d subscribe requests this hour: holding the rest", self.venue.name,
                                    self.label, len(sent_times))  # fmt: skip
                        await asyncio.sleep(3600.0 - (time.monotonic() - sent_times[0]))
                await ws.send(text)
                now = time.monotonic()
                sent_times.append(now)
                if req is not None:
                    for t in req.topics:
                        st = self.subs.states.get(t.key)
                        if st is not None:
                            st.sent_at = now
        except (ConnectionClosed, OSError):
            return

    def _report(self) -> None:
        s = self.subs
        self.tracker.set_subscriptions(self.label, s.requested, s.subscribed, s.failed())

    def _state(self) -> str:
        if self.subs.liquidations_ok:
            return "connected"
        return "subscribing" if self.subs.liquidations_waiting else "unsubscribed"

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
        log.log(logging.WARNING if reason in ("closed", "error", "stale") else logging.INFO,
                "%s/%s: connection %s; reconnecting", self.venue.name, self.label, reason)

    def _deadline(self, rotate_at: float | None) -> tuple[float, str]:
        """(monotonic time of the next timer, what it is)."""
        timers = [(self._last_frame_mono + self.stale_after_s, "stale")]
        if self.silence_after_s is not None:
            timers.append((self._last_data_mono + self.silence_after_s, "silent"))
        if rotate_at is not None:
            timers.append((rotate_at, "lifetime"))
        ack = self.subs.next_deadline()
        if ack is not None:
            timers.append((ack, "ack"))
        return min(timers)

    async def _serve(self, ws: ClientConnection) -> tuple[str, ClientConnection | None]:
        """Read frames until the socket ends; returns (reason, replacement socket or None)."""
        self._ws = ws
        self._outbox = asyncio.Queue()
        self._after_answer()
        tasks = [asyncio.create_task(self._sender(ws, self._first_messages()))]
        hb = self.spec.heartbeat
        if hb.message and hb.interval_s:
            tasks.append(asyncio.create_task(self._heartbeat(ws, hb.message, hb.interval_s)))
        lifetime = self.spec.max_lifetime_s
        rotate_at = time.monotonic() + max(lifetime - self.options.rotate_margin_s, lifetime / 2) if lifetime else None
        first_frame = True
        try:
            while True:
                if self._rotate_cause is not None:
                    cause, self._rotate_cause = self._rotate_cause, None
                    return await self._rotate(ws, cause)
                at, what = self._deadline(rotate_at)
                try:
                    async with asyncio.timeout(max(at - time.monotonic(), 0.0)):
                        data = await ws.recv()
                except TimeoutError:
                    if what == "ack":
                        self._resend(self.subs.due(time.monotonic()))
                        continue
                    if what in ("lifetime", "silent"):
                        return await self._rotate(ws, what)
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
            for t in tasks:
                t.cancel()

    def _resend(self, reqs: list[Request]) -> None:
        for req in reqs:
            if self._outbox is not None:
                self._outbox.put_nowait((self._request_text(req), req))
        self._after_answer()

    async def _on_frame(self, ws: ClientConnection, data: str | bytes, draining: bool = False) -> None:
        self._last_frame_ms = now_ms()
        self._last_frame_mono = time.monotonic()
        if not isinstance(data, str):
            try:
                data = self.venue.frame_text(bytes(data))
            except (ValueError, OSError, EOFError) as exc:  # gzip/zlib errors are OSError/EOFError
                self.handler.handle(self.label, bytes(data))  # counted and logged as a parse error
                log.debug("%s/%s: binary frame not decodable: %r", self.venue.name, self.label, exc)
                return
        ctrl = None if draining else self._control(data)
        if ctrl is not None:
            self.handler.handle(self.label, data, parse=ctrl.carries_data)
            self._on_control(ctrl)
        elif self._is_pong(data):
            self.handler.handle(self.label, data, parse=False)
        else:
            self.handler.handle(self.label, data)
            self.tracker.on_data()
            if not draining:
                self._last_data_mono = self._last_frame_mono
                if self.spec.topics_in_url and not self._url_acked:
                    self._url_acked = True
                    self.subs.ack_all()  # data proves the URL's streams
                    self._after_answer()
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

    def _control(self, data: str | bytes) -> Control | None:
        if not isinstance(data, str):
            return None
        try:
            return self.venue.control(data)
        except Exception as exc:  # venue bug: treat the frame as data
            self.tracker.on_error(f"{self.label}: control failed: {exc!r}")
            return None

    def _on_control(self, ctrl: Control) -> None:
        if ctrl.kind == "restart":
            log.warning("%s/%s: venue announces a restart (%s); rotating", self.venue.name, self.label, ctrl.reason)
            self._rotate_cause = "restart"
            return
        if ctrl.kind == "reject":
            self.tracker.rejections += 1
            self._rejected_here = True
            log.warning("%s/%s: subscription rejected: %s (topics %s, request %s)", self.venue.name, self.label,
                        ctrl.reason, list(ctrl.keys), ctrl.request)  # fmt: skip
        self._resend(self.subs.on_control(ctrl, time.monotonic()))

    def _after_answer(self) -> None:
        """Health, the liquidation-ack event and the rotation after a silencing rejection."""
        self._report()
        if self._ws is not None:
            self.tracker.set_connected(self.label, True, self._state())
        if self.subs.liquidations_ok:
            self._liq_acked.set()
        for st in self.subs.states.values():
            if st.status == "unacked" and not st.logged:
                log.warning("%s/%s: %s not acknowledged: %s", self.venue.name, self.label, st.topic.key, st.reason)
                st.logged = True
        waiting = any(s.status == "pending" for s in self.subs.states.values())
        if self.venue.rejection_silences and self._rejected_here and not waiting:
            self._rejected_here = False
            self._rotate_cause = "rejection"

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

    async def _rotate(self, old: ClientConnection, cause: str) -> tuple[str, ClientConnection | None]:
        """Make-before-break: open + subscribe a replacement, then drain and close ``old``."""
        self.rotations += 1
        try:
            new = await self._open()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.tracker.on_error(f"{self.label}: rotation connect failed: {exc!r}")
            await self._close(old)
            return cause, None
        self.tracker.on_rotation(cause)
        log.info("%s/%s: rotated connection (%s), make-before-break", self.venue.name, self.label, cause)
        task = asyncio.create_task(self._drain(old))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        return cause, new

    async def _drain(self, ws: ClientConnection) -> None:
        """Keep reading the old socket (data only) until the replacement's liquidation
        topics are acknowledged (bounded), then ``overlap_s`` more; then close it."""
        reader = asyncio.create_task(self._read_old(ws))
        try:
            try:
                async with asyncio.timeout(self.venue.ack_timeout_s * MAX_ATTEMPTS):
                    await self._liq_acked.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(self.options.overlap_s)
        finally:
            await cancel_and_wait([reader])
            await self._close(ws)

    async def _read_old(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                await self._on_frame(ws, data, draining=True)
        except (ConnectionClosed, OSError):
            pass

    @staticmethod
    async def _close(ws: ClientConnection) -> None:
        try:
            await ws.close()
        except Exception:
            pass
