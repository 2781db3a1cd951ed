"""Delivery to one sink: a bounded queue, a few sender tasks, retries with capped backoff.

::

    AlertDispatcher.submit()  ──offer()──►  SinkWorker.queue (bounded, put_nowait)
                                                 │  full -> alert dropped, ``dropped`` += 1
                                                 ▼
                                  ``concurrency`` sender tasks: take what is waiting (up to
                                  the sink's ``max_batch``), POST it, retry, count

* :meth:`SinkWorker.offer` never waits and never raises: ingestion cannot be slowed by a
  slow, failing or hung sink -- its queue fills and the newest alerts are dropped and counted.
* Each message is tried up to ``sink.max_attempts`` times. Between tries: the server's
  requested wait (``Retry-After`` / ``retry_after``) capped at ``max_retry_after_s`` [60 s],
  else full-jitter exponential backoff (:class:`liqmap.feed.backoff.Backoff`, base
  ``backoff_base_s`` [0.5 s], cap ``backoff_cap_s`` [30 s]). Permanent errors (bad token,
  unknown chat) are not retried.
* Counters (:class:`SinkStats`): alerts delivered / given up / dropped, messages sent,
  attempts, failed attempts, retries, and the delivery latency (submit -> 2xx reply) of the
  last 10,000 alerts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import httpx

from liqmap.alerts.alert import Alert
from liqmap.alerts.sinks.base import Outcome, Sink
from liqmap.feed.backoff import Backoff
from liqmap.tasks import cancel_and_wait

log = logging.getLogger("liqmap.alerts")


@dataclass
class SinkStats:
    """Monotonic counters of one sink (see module docstring); ``latencies_s`` is a window."""

    queued: int = 0
    delivered: int = 0
    dropped: int = 0
    gave_up: int = 0
    messages: int = 0
    attempts: int = 0
    failures: int = 0
    retries: int = 0
    last_error: str = ""
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=10_000))

    def quantile(self, q: float) -> float | None:
        """Delivery latency quantile ``q`` (0..1) in seconds over the window, None if empty."""
        if not self.latencies_s:
            return None
        xs = sorted(self.latencies_s)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def as_dict(self) -> dict:
        """JSON-ready counters with p50/p99 latency in ms."""
        p50, p99 = self.quantile(0.5), self.quantile(0.99)
        return {"queued": self.queued, "delivered": self.delivered, "dropped": self.dropped,
                "gave_up": self.gave_up, "messages": self.messages, "attempts": self.attempts,
                "failures": self.failures, "retries": self.retries, "last_error": self.last_error,
                "latency_p50_ms": None if p50 is None else round(p50 * 1000, 1),
                "latency_p99_ms": None if p99 is None else round(p99 * 1000, 1)}


class SinkWorker:
    """Queue + senders for one :class:`~liqmap.alerts.sinks.base.Sink` (module docstring).

    Args:
        sink: the sink config/renderer.
        backoff_base_s / backoff_cap_s: retry backoff window (seconds).
        max_retry_after_s: longest server-requested wait honoured (seconds).
        transport: optional ``httpx.AsyncBaseTransport`` (tests).
    """

    def __init__(self, sink: Sink, backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0,
                 max_retry_after_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.sink = sink
        self.stats = SinkStats()
        self.queue: asyncio.Queue[tuple[Alert, float]] = asyncio.Queue(maxsize=sink.queue_size)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task] = []
        self._busy = 0
        self._unlogged = 0  # alerts given up since the last warning (warnings at most every 30 s)
        self._last_warn = -1e9

    # -- ingestion side ---------------------------------------------------------------------
    def offer(self, alert: Alert, t0: float) -> bool:
        """Enqueue ``alert`` submitted at monotonic ``t0``; False (and counted) when full."""
        try:
            self.queue.put_nowait((alert, t0))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        self.stats.queued += 1
        return True

    # -- lifecycle --------------------------------------------------------------------------
    def client(self) -> httpx.AsyncClient:
        """The sink's HTTP client (created on first use, in the running loop)."""
        if self._client is None:
            limits = httpx.Limits(max_connections=self.sink.concurrency + 1,
                                  max_keepalive_connections=self.sink.concurrency + 1)
            self._client = httpx.AsyncClient(timeout=self.sink.timeout_s, limits=limits,
                                             transport=self._transport, headers={"User-Agent": "liqmap-alerts"})
        return self._client

    def start(self) -> None:
        """Start the sender tasks in the running loop (idempotent)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._sender(), name=f"liqmap-alert-{self.sink.name}-{i}")
                           for i in range(self.sink.concurrency)]

    def idle(self) -> bool:
        """True when nothing is queued or in flight."""
        return self.queue.empty() and self._busy == 0

    async def stop(self, drain_s: float = 2.0) -> None:
        """Give queued alerts up to ``drain_s`` seconds, then cancel the senders and close."""
        deadline = time.monotonic() + drain_s
        while self._tasks and not self.idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- sending ----------------------------------------------------------------------------
    async def _sender(self) -> None:
        q = self.queue
        while True:
            first = await q.get()
            self._busy += 1
            try:
                batch = [first]
                while len(batch) < self.sink.max_batch and not q.empty():
                    batch.append(q.get_nowait())
                await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the sender: count and go on
                log.exception("alert sink %s: delivery crashed", self.sink.name)
                self.stats.gave_up += 1
            finally:
                self._busy -= 1

    async def _deliver(self, batch: Sequence[tuple[Alert, float]]) -> None:
        alerts = [a for a, _ in batch]
        done = 0
        for req in self.sink.requests(alerts):
            part = batch[done: done + req.alerts]
            done += req.alerts
            out = await self.post(req.url, req.body, req.headers)
            if out.ok:
                now = time.monotonic()
                self.stats.delivered += len(part)
                self.stats.latencies_s.extend(now - t0 for _, t0 in part)
            else:
                self.stats.gave_up += len(part)
                self._warn(len(part), out.detail)

    def _warn(self, n: int, detail: str, every_s: float = 30.0) -> None:
        """Log undelivered alerts at most once per ``every_s`` per sink (a dead sink must not
        flood the log); the counters carry every one."""
        self._unlogged += n
        now = time.monotonic()
        if now - self._last_warn >= every_s:
            log.warning("alert sink %s: %d alert(s) not delivered (last error: %s); total given up %d",
                        self.sink.name, self._unlogged, detail, self.stats.gave_up)
            self._unlogged = 0
            self._last_warn = now

    async def post(self, url: str, body: object, headers, max_attempts: int | None = None,
                   sleep: Callable[[float], object] = asyncio.sleep) -> Outcome:
        """POST ``body`` as JSON with retries (module docstring); the final :class:`Outcome`."""
        st = self.stats
        backoff = Backoff(self.backoff_base_s, max(self.backoff_cap_s, self.backoff_base_s))
        attempts = max_attempts or self.sink.max_attempts
        out = Outcome(False, False, None, "not sent")
        for n in range(attempts):
            if n:
                st.retries += 1
                wait = (min(out.retry_after, self.max_retry_after_s) if out.retry_after is not None
                        else backoff.next_delay())
                await sleep(wait)
            st.attempts += 1
            try:
                r = await self.client().post(url, json=body, headers=headers)
                out = self.sink.outcome(r.status_code, r.headers, r.content)
            except httpx.HTTPError as exc:
                out = Outcome(False, True, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
            if out.ok:
                st.messages += 1
                return out
            st.failures += 1
            st.last_error = out.detail
            if not out.retry:
                break
        return out
