"""Gap backfill: after a reconnect, fetch the gap's window from the venue's public
liquidation history and mark the gap filled.

Where a venue keeps a public liquidation history (``Venue.rest_liquidations``;
OKX, Gate, Deribit, dYdX, Kraken Futures ...), :class:`GapFiller` turns every
:class:`~liqmap.models.Gap` a connection reports into:

1. wait ``Venue.history_delay_s`` (venues publish their history with a delay);
2. request ``Venue.history(start, end, symbols, connection)`` and the pages
   ``Venue.history_next`` asks for (at most ``max_pages`` per request), each body
   handed to the adapter's :class:`~liqmap.feed.dispatch.FrameHandler` under the
   connection label :func:`~liqmap.exchanges.base.history_label` -- so it is
   recorded like any frame, parsed by the venue's own parser, and
   :func:`~liqmap.exchanges.base.safe_parse` keeps only the liquidations (and
   trades) inside the window ``(start, end]``;
3. emit the same Gap again with ``filled=True`` once every request succeeded
   (storage marks the stored gap ``filled``).

Gaps of REST polls (reason ``rest``: a poll's own series) are not backfilled; the
websocket liquidation stream was up.

Idempotency: events arrive with the venue's ids (or ids built from the fields the
live feed builds them from), so anything the live stream also delivered -- a
snapshot after resubscribing, a retried backfill -- is dropped by the
aggregator's id dedupe and the storage's primary key; only the window is kept, so
venues whose history rows cannot be matched to live rows by id cannot double
count either. A failed request (after ``attempts`` tries, HTTP 429/418 waiting
``Retry-After`` and never less than the floor, :class:`~liqmap.feed.backoff.RateLimitPolicy`),
or a body the venue's parser does not take whole (an error answered with HTTP 200, a bad
row), leaves the gap unfilled and is counted as an error in health.

Requests share the adapter's httpx client and a token bucket at
``Venue.history_limit_per_min``; a request that fails on the venue's REST host is sent
to its fallback hosts (``HistoryPage.fallback_urls``, OKX: ``www.okx.com``) in turn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Sequence

import httpx
import msgspec

from liqmap.exchanges.base import HistoryPage, Venue, history_label
from liqmap.feed.rest import RestClient
from liqmap.models import Event, Gap
from liqmap.tasks import cancel_and_wait

log = logging.getLogger("liqmap.feed")


class BackfillError(RuntimeError):
    """A history request failed for good (message: URL and cause)."""


class GapFiller:
    """Fill one venue's gaps from its public liquidation history (module docstring).

    Args:
        venue: the venue (``history`` / ``history_next``).
        rest: the adapter's frame pipeline (record -> parse -> emit), health counters
            (``gaps_filled``, ``backfilled``, errors), HTTP client, the venue's history rate
            budget (weight units, None = unlimited) and retry policy (delays between tries,
            waits after HTTP 429 / 418: ``Retry-After``, at least the floor).
        emit: the adapter's emit (the filled Gap goes out through it).
        url: ``page url -> url`` override (local venues in tests).
        symbols: the adapter's subscribed symbols (None = all-market).
        delay_s: seconds before fetching (default ``venue.history_delay_s``).
        max_pages: pages followed per first request.
        attempts: tries per request before giving up.
    """

    def __init__(
        self,
        venue: Venue,
        rest: RestClient,
        emit: Callable[[Event], None],
        *,
        url: Callable[[str], str] = lambda u: u,
        symbols: Sequence[str] | None = None,
        delay_s: float | None = None,
        max_pages: int = 50,
        attempts: int = 4,
    ) -> None:
        self.venue = venue
        self.rest = rest
        self.emit = emit
        self.url = url
        self.symbols = list(symbols) if symbols else None
        self.delay_s = venue.history_delay_s if delay_s is None else delay_s
        self.max_pages = max_pages
        self.attempts = attempts
        self.backoff = rest.retry.backoff()
        self.requests = 0
        self._tasks: set[asyncio.Task] = set()

    def on_gap(self, gap: Gap) -> None:
        """Schedule the backfill of a reported (unfilled) gap; returns at once."""
        if gap.filled or gap.end <= gap.start or gap.reason == "rest":
            return
        task = asyncio.create_task(self._run(gap), name=f"liqmap-backfill-{gap.exchange}-{gap.connection}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel backfills in progress (their gaps stay unfilled)."""
        await cancel_and_wait(self._tasks)

    async def _run(self, gap: Gap) -> None:
        try:
            await self.fill(gap)
        except BackfillError as exc:
            self.rest.tracker.on_error(f"backfill {gap.connection} {gap.start}-{gap.end}: {exc}")
            log.warning("%s/%s: gap %d-%d not backfilled: %s", gap.exchange, gap.connection, gap.start, gap.end, exc)

    async def fill(self, gap: Gap) -> int:
        """Fetch ``gap``'s window, emit what it holds, then the gap with ``filled=True``.

        Returns the number of events emitted (0 also when the venue keeps no history
        for that connection: the gap then stays unfilled).

        Raises:
            BackfillError: a request failed after every attempt, or its body did not parse
                cleanly (the gap stays unfilled; events already emitted stay, ids de-duplicate).
        """
        pages = self.venue.history(gap.start, gap.end, self.symbols, gap.connection)
        if not pages:
            return 0
        await asyncio.sleep(self.delay_s)
        tracker = self.rest.tracker
        count = 0
        for first in pages:
            page: HistoryPage | None = first
            n = 0
            while page is not None and n < self.max_pages:
                body = await self._get(page)
                errors = tracker.parse_errors
                count += len(self.rest.handler.handle(history_label(gap.start, gap.end, page.tag), body))
                if tracker.parse_errors != errors:  # an error body (HTTP 200) or a bad row
                    raise BackfillError(f"{page.url}: the history body did not parse (counted as a parse error)")
                page = self.venue.history_next(page, body, gap.start)
                n += 1
        tracker.gaps_filled += 1
        tracker.backfilled += count
        log.info("%s/%s: gap %d-%d filled from the history (%d events)", gap.exchange, gap.connection,
                 gap.start, gap.end, count)  # fmt: skip
        self.emit(msgspec.structs.replace(gap, filled=True))
        return count

    async def _get(self, page: HistoryPage) -> str:
        """Body of one history request: ``page.url``, then each of ``page.fallback_urls``
        (the venue's other REST hosts) when every attempt at the one before failed.

        Raises:
            BackfillError: every URL failed (the last URL's cause).
        """
        error: BackfillError | None = None
        for url in (page.url, *page.fallback_urls):
            try:
                return await self._get_url(self.url(url), page.weight)
            except BackfillError as exc:
                error = exc
                if page.fallback_urls:
                    log.info("%s: history request failed (%s), next host", self.venue.name, exc)
        assert error is not None
        raise error

    async def _get_url(self, url: str, weight: int) -> str:
        """Body of one history request, with retries (429/418 wait ``Retry-After``)."""
        cause = ""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff.next_delay())
            self.requests += 1
            try:
                resp = await self.rest.get(url, weight)
            except httpx.HTTPError as exc:
                cause = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code in (429, 418):
                cause = f"HTTP {resp.status_code}"
                _header, wait = self.rest.rate_limited(resp, self.backoff.window())
                await asyncio.sleep(min(wait, 600.0))
                continue
            if resp.status_code >= 500:
                cause = f"HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                raise BackfillError(f"{url}: HTTP {resp.status_code}: {resp.text[:200]}")
            self.backoff.reset()
            return resp.text
        raise BackfillError(f"{url}: {cause} after {self.attempts} attempts")
