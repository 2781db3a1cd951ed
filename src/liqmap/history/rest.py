"""JSON GET for the REST backfill: per-venue rate budget, 429/418 ``Retry-After``, one-line errors.

:class:`RestClient` wraps one venue's ``httpx.AsyncClient``:

* every request first takes its weight from a :class:`~liqmap.feed.rest.TokenBucket` (one per
  named budget, e.g. Binance's 2,400 weight/min, OKX's 10 requests/2 s per endpoint), so a
  backfill paces itself below the venue's documented limit instead of discovering it;
* HTTP 429 and 418 (Binance: "418 = IP auto-banned for continuing to send requests after
  receiving 429", https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info)
  wait ``Retry-After`` (seconds or an HTTP date), never less than ``min_retry_s`` (a floor: a
  missing or zero header must not turn into a tight retry loop); without the header the wait
  doubles from the floor. The budget is drained so parallel pages wait too. A requested wait
  longer than ``max_wait_s`` (a ban of minutes or days) stops with :class:`VenueError` instead
  of sleeping through it;
* a body the venue marks as rate-limited with HTTP 200 (Bybit ``retCode`` 10006, OKX ``code``
  50011) is handled like a 429 -- the venue module supplies ``body_check``;
* transport errors and 5xx are retried with the same backoff; after ``retries`` a
  :class:`VenueError` names the host ("cannot reach api.bybit.com: ...").
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from liqmap.feed.rest import TokenBucket, retry_after_s

#: body_check(body) -> None (fine) | RATE_LIMITED | an error message
RATE_LIMITED = "rate limited"


def utc(ms: int) -> str:
    """``2025-12-31 23:55 UTC`` for a ms timestamp (for messages)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class VenueError(Exception):
    """A venue request failed for good; the message is one line naming venue, path and cause."""


class RestClient:
    """Rate-limited JSON GETs against one venue (module docstring).

    Args:
        venue: name used in messages (``binance``).
        client: ``httpx.AsyncClient`` with ``base_url`` set (inject a local server in tests).
        budgets: name -> TokenBucket; requests name the budget they spend.
        body_check: venue hook for errors carried in a 200 body.
        min_retry_s: floor of every rate-limit / error wait, seconds.
        max_wait_s: give up instead of waiting longer than this, seconds.
        retries: retries per request after the first attempt.
        sleep: awaitable sleep (tests record the waits).
    """

    def __init__(self, venue: str, client: httpx.AsyncClient, budgets: dict[str, TokenBucket], *,
                 body_check: Callable[[Any], str | None] = lambda body: None, min_retry_s: float = 1.0,
                 max_wait_s: float = 120.0, retries: int = 5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.venue = venue
        self.client = client
        self.budgets = budgets
        self.body_check = body_check
        self.min_retry_s = min_retry_s
        self.max_wait_s = max_wait_s
        self.retries = retries
        self.sleep = sleep
        self.requests = 0
        self.rate_limited = 0
        self.waits: list[float] = []

    def _host(self) -> str:
        return urlsplit(str(self.client.base_url)).netloc or str(self.client.base_url)

    async def _wait(self, seconds: float | None, attempt: int, why: str) -> None:
        wait = max(self.min_retry_s, seconds if seconds is not None else self.min_retry_s * 2.0 ** attempt)
        if wait > self.max_wait_s:
            raise VenueError(f"{self.venue}: {why}; the venue asks to wait {wait:.0f} s "
                             f"(more than {self.max_wait_s:.0f} s): stopped, try again later")
        self.waits.append(wait)
        await self.sleep(wait)

    async def get_json(self, path: str, params: dict[str, Any], *, budget: str = "default",
                       weight: float = 1.0) -> Any:
        """GET ``path`` with ``params``; the decoded JSON body. Raises VenueError (one line)."""
        bucket = self.budgets.get(budget)
        why = ""
        for attempt in range(self.retries + 1):
            if bucket is not None:
                await bucket.acquire(weight)
            self.requests += 1
            try:
                r = await self.client.get(path, params=params)
            except httpx.TransportError as exc:
                why = f"cannot reach {self._host()}: {exc or type(exc).__name__}"
                if attempt == self.retries:
                    raise VenueError(f"{self.venue}: {why}") from None
                await self._wait(None, attempt, why)
                continue
            if r.status_code in (429, 418):
                self.rate_limited += 1
                if bucket is not None:
                    bucket.drain()
                why = f"GET {path}: HTTP {r.status_code} (rate limited)"
                if attempt == self.retries:
                    break
                await self._wait(retry_after_s(r.headers.get("Retry-After")), attempt, why)
                continue
            if r.status_code >= 500:
                why = f"GET {path}: HTTP {r.status_code}"
                if attempt == self.retries:
                    break
                await self._wait(None, attempt, why)
                continue
            body = self._decode(r, path)
            check = self.body_check(body) if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:200]}"
            if check is None:
                return body
            if check != RATE_LIMITED:
                raise VenueError(f"{self.venue}: GET {path}: {check}")
            self.rate_limited += 1
            why = f"GET {path}: rate limited (in the response body)"
            if attempt == self.retries:
                break
            await self._wait(retry_after_s(r.headers.get("Retry-After")), attempt, why)
        raise VenueError(f"{self.venue}: {why}; gave up after {self.retries + 1} attempts")

    def _decode(self, r: httpx.Response, path: str) -> Any:
        try:
            return r.json()
        except ValueError:
            if r.status_code != 200:
                return None
            raise VenueError(f"{self.venue}: GET {path}: body is not JSON: {r.text[:120]!r}") from None
