"""REST polling with per-venue token-bucket rate limiting and 429/418 handling.

:class:`RestPoller` requests one :class:`~liqmap.exchanges.base.RestPoll` URL
every ``interval_s`` seconds and hands the response body to the same
:class:`~liqmap.feed.dispatch.FrameHandler` as websocket frames (connection
label = ``poll.label``). Rules:

* Every request first takes ``poll.weight`` tokens from the venue's
  :class:`TokenBucket` (capacity ``limit_per_min``, refilled continuously at
  ``limit_per_min / 60`` tokens per second), so all pollers of one venue share
  one budget.
* HTTP 429 (rate limited) and 418 (Binance: IP auto-banned after ignoring
  429s) wait the ``Retry-After`` header (seconds or HTTP date, RFC 9110
  section 10.2.3) when present, else the backoff delay (a 418: two minutes), never
  less than the floor (:class:`~liqmap.feed.backoff.RateLimitPolicy`); then retry.
  Binance documents both codes: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
* Other HTTP errors (>= 400) and transport errors back off with capped
  exponential full jitter (:class:`~liqmap.feed.backoff.Backoff`); an
  unreachable URL switches to the poll's next ``fallback_urls`` entry.
* A poll that failed is a hole in its series (open interest): when it answers again
  after more than two intervals without an answer, a :class:`~liqmap.models.Gap`
  ``(venue, poll label, last answer, this answer, "rest")`` is emitted -- stored and
  reported like a websocket disconnect.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import logging
import time
from dataclasses import dataclass
from datetime import timezone

import httpx

from liqmap.exchanges.base import RestPoll
from liqmap.feed.backoff import RetryPolicy
from liqmap.feed.dispatch import FrameHandler
from liqmap.feed.health import HealthTracker
from liqmap.models import Gap
from liqmap.units import SECOND_MS, now_ms

log = logging.getLogger("liqmap.feed")


class TokenBucket:
    """Async token bucket.

    Args:
        capacity: max tokens (burst), e.g. a venue's weight limit per minute.
        refill_per_s: tokens added per second.

    Raises:
        ValueError: non-positive capacity or rate.
    """

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("token bucket capacity and refill rate must be > 0")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.tokens = float(capacity)
        self._t = time.monotonic()
        self._lock = asyncio.Lock()

    @classmethod
    def per_minute(cls, limit_per_min: float) -> "TokenBucket":
        """Bucket for a venue limit of ``limit_per_min`` weight units per minute."""
        return cls(limit_per_min, limit_per_min / 60.0)

    def _refill(self) -> None:
        t = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (t - self._t) * self.refill_per_s)
        self._t = t

    async def acquire(self, n: float = 1.0) -> float:
        """Wait until ``n`` tokens are available and take them; returns seconds waited."""
        n = min(float(n), self.capacity)
        waited = 0.0
        async with self._lock:
            self._refill()
            while self.tokens < n:
                delay = (n - self.tokens) / self.refill_per_s
                await asyncio.sleep(delay)
                waited += delay
                self._refill()
            self.tokens -= n
        return waited

    def drain(self) -> None:
        """Empty the bucket (after a 429 the venue's own budget is spent)."""
        self._refill()
        self.tokens = 0.0


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay-seconds or an HTTP date. ``None`` if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        pass
    else:  # "inf"/"nan" would park the poller forever / be meaningless: treat as invalid
        return max(0.0, secs) if math.isfinite(secs) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RestClient:
    """What the REST requests of one adapter share (its REST polls, or its gap backfill).

    Args:
        handler: frame pipeline (body -> parse -> emit).
        tracker: health counters.
        http: shared ``httpx.AsyncClient`` (inject a transport in tests).
        bucket: the rate budget the requests draw on, weight units (None = unlimited).
        retry: error backoff window and the waits after HTTP 429 / 418 (default
            :class:`~liqmap.feed.backoff.RetryPolicy`: ``Retry-After``, at least 5 s).
    """

    handler: FrameHandler
    tracker: HealthTracker
    http: httpx.AsyncClient
    bucket: TokenBucket | None = None
    retry: RetryPolicy = RetryPolicy()

    async def get(self, url: str, weight: float) -> httpx.Response:
        """GET ``url`` once ``weight`` tokens are taken from the bucket (raises ``httpx.HTTPError``)."""
        if self.bucket is not None:
            await self.bucket.acquire(weight)
        return await self.http.get(url)

    def rate_limited(self, resp: httpx.Response, backoff_s: float) -> tuple[float | None, float]:
        """Count an HTTP 429 / 418 answer in health; returns (its ``Retry-After`` in seconds,
        None when absent or invalid; the seconds to wait, ``backoff_s`` the caller's backoff)."""
        self.tracker.rate_limited += 1
        header = retry_after_s(resp.headers.get("Retry-After"))
        return header, self.retry.rate_limit.wait_s(resp.status_code, header, backoff_s)


class RestPoller:
    """Poll one REST endpoint forever.

    Args:
        poll: the venue's poll spec.
        rest: the adapter's REST client, budget and retry policy.
        url: URL override (default ``poll.url``).
        interval_s: seconds between successful polls (default ``poll.interval_s``).
    """

    def __init__(self, poll: RestPoll, rest: RestClient, *, url: str | None = None,
                 interval_s: float | None = None) -> None:
        self.poll = poll
        self.rest = rest
        self.url = url or poll.url
        self.urls = list(dict.fromkeys([self.url, *(poll.fallback_urls if url is None else ())]))
        self.interval_s = poll.interval_s if interval_s is None else interval_s
        self.backoff = rest.retry.backoff()
        self.requests = 0
        self.successes = 0
        self.rate_limited = 0
        self.last_retry_after_s: float | None = None
        self._last_ok_ms: int | None = None
        self._failed = False

    async def poll_once(self) -> float:
        """Do one request; returns the seconds to wait before the next one."""
        tracker = self.rest.tracker
        self.requests += 1
        try:
            resp = await self.rest.get(self.url, self.poll.weight)
        except httpx.HTTPError as exc:
            tracker.on_error(f"{self.poll.label}: {type(exc).__name__}: {exc}")
            if isinstance(exc, httpx.TransportError) and len(self.urls) > 1:  # unreachable: next URL
                self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
                log.warning("%s/%s: switching to %s", self.rest.handler.venue.name, self.poll.label, self.url)
            self._failed = True
            return self.backoff.next_delay()
        if resp.status_code in (429, 418):
            self._failed = True
            self.rate_limited += 1
            header, wait = self.rest.rate_limited(resp, self.backoff.next_delay())
            self.last_retry_after_s = header
            if self.rest.bucket is not None:
                self.rest.bucket.drain()
            tracker.on_error(f"{self.poll.label}: HTTP {resp.status_code} (Retry-After {header} s, waiting {wait:.1f} s)")
            log.warning("%s/%s: HTTP %d, waiting %.1f s", self.rest.handler.venue.name, self.poll.label,
                        resp.status_code, wait)
            return wait
        if resp.status_code >= 400:
            self._failed = True
            tracker.on_error(f"{self.poll.label}: HTTP {resp.status_code}")
            return self.backoff.next_delay()
        self.backoff.reset()
        self.successes += 1
        self._answered()
        self.rest.handler.handle(self.poll.label, resp.text)
        return self.interval_s

    def _answered(self) -> None:
        """Record the hole a run of failed polls left (module docstring)."""
        t = now_ms()
        last, self._last_ok_ms = self._last_ok_ms, t
        if self._failed and last is not None and t - last > 2 * self.interval_s * SECOND_MS:
            handler = self.rest.handler
            self.rest.tracker.gaps += 1
            handler.emit(Gap(handler.venue.name, self.poll.label, last, t, "rest"))
        self._failed = False

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(await self.poll_once())
