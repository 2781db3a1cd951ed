"""The live heatmap in ``serve``: warm-up from venue REST history, then one model step per
completed step of data, state persisted so a restart resumes (issue #10 item 3).

:class:`HeatmapService` runs in the serve event loop beside the pipeline. For every tracked
underlying (``--heatmap-symbols``, default BTC, ETH):

1. **warm-up** (live mode, once at start): :func:`liqmap.history.backfill.backfill` of the last
   ``backfill_days`` (``LIQMAP_HEATMAP_BACKFILL_DAYS``, 3) of open interest and 5-minute klines
   from Binance, Bybit and OKX where enabled (the ``--rest-url`` overrides apply; a venue whose
   websocket points at a local host and has no ``--rest-url`` is never asked, as for the live
   REST polls). A new run starts its first step there, so a fresh serve draws a map of the last
   days as soon as the history is in; a stored run (``heatmap_state``) resumes where it stopped.
2. **steps**, every ``poll_s``: the next step ``(t - step, t]`` runs once its data is complete:
   the reference instrument's bars reach ``t`` and every open-interest instrument still
   answering (observed within ``late_ms`` before ``t``) has an observation at or after ``t`` --
   or the reference price is ``late_ms`` (two steps) past ``t``; instruments missing then
   make that step's aggregate partial. Event time only: a replay or a fast local venue steps
   as fast as its data.
3. each advance is stored in one transaction (levels, step rows, state:
   :func:`liqmap.storage.heatmap_store.save_steps`) and every new step is pushed to
   ``/ws/heatmap`` subscribers as a ``levels`` message (the last :data:`PUSH_MAX` of a batch).

Inputs (:mod:`liqmap.heatmap.live`): the reference instrument is the underlying's USDT
perpetual on the first enabled venue of :data:`REFERENCE_ORDER`; the open interest is the
chain-linked aggregate of the USDT perpetuals of the enabled venues among Binance, Bybit, OKX
(the venues whose history the warm-up fetches, so a live venue never "joins" the aggregate).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import duckdb

from liqmap.heatmap.live import LiveHeatmap, LiveStep
from liqmap.heatmap.live_view import levels_message, step_name
from liqmap.heatmap.params import ServedParams, load_params
from liqmap.storage import heatmap_store as hs
from liqmap.storage import market_reads as mr
from liqmap.symbols import strict_symbols
from liqmap.units import DAY_MS, INTERVAL_MS

log = logging.getLogger("liqmap.serve.heatmap")

#: Venues whose USDT perpetual prices the model, first enabled one wins.
REFERENCE_ORDER = ("binance", "bybit", "okx", "bitget", "bitmex", "hyperliquid", "deribit")
#: Venues whose open interest the model aggregates (and whose history the warm-up fetches).
OI_VENUES = ("binance", "bybit", "okx")
OI_QUOTES = ("USDT",)
#: At most this many steps per advance (a week of 5-minute steps); the rest follows next round.
MAX_BATCH = 2016
#: ``levels`` messages pushed per advance (the newest steps).
PUSH_MAX = 12
#: Levels of steps older than this are dropped from the table (a 30-day window stays live).
KEEP_MS = 31 * DAY_MS
#: Model steps ``serve`` can run (``--heatmap-step``).
STEPS = ("1m", "5m", "15m", "1h")


@dataclass
class Tracked:
    """One underlying: its model and inputs."""

    base: str
    reference: tuple[str, str]
    heat: LiveHeatmap | None = None
    steps: int = 0
    last_error: str | None = None


@dataclass(eq=False)
class HeatmapService:
    """Keeps the live heatmap of ``bases`` current (module docstring).

    Fields:
        cursor: returns a new DuckDB cursor on the serve database (one per call).
        bases: underlyings (``BTC``).
        exchanges: enabled venues.
        now_ms: the serve clock (live: wall; replay: newest event).
        live: live mode (warm-up backfill) or a replay (no network).
        rest_urls / local_ws: ``{venue: REST base}`` overrides; venues whose websocket points at a
            local host (no REST unless overridden).
        backfill_days: days of history fetched at start (0 = none).
        publish: called with each ``levels`` message (``/ws/heatmap``).
        poll_s / late_ms: check interval (s); lateness after which missing OI makes a step partial (ms).
        step: the model step, one of :data:`STEPS` (default the served parameters' own, 5m: the step
            they were fitted and scored at; another step runs the same model and parameters at
            that cadence -- half-life, background rate and OI ages are times, not step counts --
            and says so in every response's meta).
    """

    cursor: Callable[[], duckdb.DuckDBPyConnection]
    bases: Sequence[str]
    exchanges: Sequence[str]
    now_ms: Callable[[], int]
    live: bool = True
    rest_urls: dict[str, str] = field(default_factory=dict)
    local_ws: Sequence[str] = ()
    backfill_days: float = 3.0
    publish: Callable[[str, dict], None] | None = None
    poll_s: float = 1.0
    late_ms: int | None = None
    served: ServedParams = field(default_factory=load_params)
    step: str | None = None
    tracked: dict[str, Tracked] = field(init=False, default_factory=dict)
    warmed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if self.step is not None and self.step not in STEPS:
            raise ValueError(f"heatmap step must be one of {', '.join(STEPS)}, got {self.step!r}")
        self.step_ms = INTERVAL_MS[self.step] if self.step else self.served.step_ms
        self.late_ms = 2 * self.step_ms if self.late_ms is None else self.late_ms
        self.oi_venues = tuple(v for v in OI_VENUES if v in self.exchanges)
        for base in self.bases:
            ref = reference_instrument(base, self.exchanges)
            if ref is None:
                log.warning("heatmap %s: no enabled venue lists a %sUSDT perpetual; not tracked", base, base)
                continue
            self.tracked[base] = Tracked(base, ref)

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        """Warm up, then advance every ``poll_s`` until cancelled (errors logged, retried)."""
        if self.live and self.backfill_days > 0:
            await self.warm_up()
        self.warmed = True
        while True:
            for t in self.tracked.values():
                try:
                    steps = await asyncio.to_thread(self.tick, t)
                except Exception as exc:  # keep serving; the next round retries
                    t.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("heatmap %s: step failed", t.base)
                    continue
                t.last_error = None
                self._push(t, steps)
            await asyncio.sleep(self.poll_s)

    async def warm_up(self) -> list[Any]:
        """REST history of the last ``backfill_days`` for every tracked underlying and OI venue."""
        from liqmap.history.backfill import backfill_many

        venues = [v for v in self.oi_venues if v in self.rest_urls or v not in self.local_ws]
        if not venues or not self.tracked:
            return []
        end = self.now_ms()
        start = end - int(self.backfill_days * DAY_MS)
        cur = self.cursor()
        try:
            res = await backfill_many(venues, [f"{b}USDT" for b in self.tracked], start, end, cur,
                                      base_urls={v: self.rest_urls[v] for v in venues if v in self.rest_urls},
                                      now_ms=end)
        finally:
            cur.close()
        for r in res:
            if r.error:
                log.warning("heatmap warm-up: %s %s: %s", r.venue, r.symbol, r.error)
            else:
                log.info("heatmap warm-up: %s %s: %d OI rows, %d klines", r.venue, r.symbol, r.oi_rows, r.kline_rows)
        return res

    # ------------------------------------------------------------------ one round
    def tick(self, t: Tracked) -> list[LiveStep]:
        """Run the steps of ``t`` whose data is complete and store them (module docstring)."""
        cur = self.cursor()
        try:
            if t.heat is None:
                t.heat = self._open(cur, t)
                if t.heat is None:
                    return []
            last = self._ready_end(cur, t)
            if last is None or last < t.heat.next_end:
                return []
            heat = t.heat
            first = heat.next_end
            klines = mr.reference_bars(cur, *t.reference, first - self.step_ms, last, self.step_ms)
            oi = (mr.oi_per_step(cur, t.base, first, last, self.step_ms, OI_QUOTES, self.oi_venues)
                  if self.oi_venues else {})
            try:
                steps = heat.advance(klines, {k.key: v for k, v in oi.items()}, last)
                hs.save_steps(cur, t.base, self.served.version, self.step_ms, heat.first_end, steps, heat.dump(),
                              self.now_ms(), keep_from=last - KEEP_MS)
            except BaseException:
                t.heat = None  # the model ran ahead of what is stored: reload the stored state next round
                raise
            t.steps += len(steps)
            return steps
        finally:
            cur.close()

    def _open(self, cur: duckdb.DuckDBPyConnection, t: Tracked) -> LiveHeatmap | None:
        """The stored run of ``t`` (resume), else a new one starting at the data (None: no data yet)."""
        blob = hs.load_state(cur, t.base, self.served.version, self.step_ms)
        if blob is not None:
            try:
                return LiveHeatmap.load(blob, self.served, self.step_ms)
            except ValueError as exc:
                log.warning("heatmap %s: stored state unusable (%s); starting again", t.base, exc)
        first_price = mr.first_price_time(cur, *t.reference)
        if first_price is None:
            return None
        hs.reset(cur, t.base, self.served.version)
        start = max(first_price, self.now_ms() - int(max(self.backfill_days, 0) * DAY_MS)) if self.live else first_price
        return LiveHeatmap(t.base, self.served, (start // self.step_ms + 1) * self.step_ms, self.step_ms)

    def _ready_end(self, cur: duckdb.DuckDBPyConnection, t: Tracked) -> int | None:
        """End of the last step whose data is complete (module docstring), or None."""
        price = mr.price_complete_through(cur, *t.reference)
        if price is None:
            return None
        nxt = t.heat.next_end
        # wait for the instruments still answering; one silent for longer than late_ms is missing
        current = (mr.oi_complete_through(cur, t.base, nxt - self.late_ms, OI_QUOTES, self.oi_venues)
                   if self.oi_venues else {})
        ready = min([price, *current.values()])
        last = max(ready, price - self.late_ms)
        last = min(last, price) // self.step_ms * self.step_ms
        return min(last, nxt + (MAX_BATCH - 1) * self.step_ms)

    def _push(self, t: Tracked, steps: list[LiveStep]) -> None:
        if self.publish is None or not steps:
            return
        ref = f"{t.reference[0]}:{t.reference[1]}"
        for s in steps[-PUSH_MAX:]:
            try:
                self.publish(t.base, levels_message(self.served, t.base, ref, s, step_ms=self.step_ms))
            except Exception:  # a websocket client problem never stops the model
                log.exception("heatmap %s: push failed", t.base)

    # ------------------------------------------------------------------ read side
    def reference_name(self, base: str) -> str | None:
        """``exchange:symbol`` of the instrument pricing ``base``'s model, None when not tracked."""
        t = self.tracked.get(base)
        return None if t is None else f"{t.reference[0]}:{t.reference[1]}"

    def status(self) -> dict[str, Any]:
        """Per underlying: reference, steps run this session, next step end, last error."""
        return {b: {"reference": self.reference_name(b), "steps": t.steps, "last_error": t.last_error,
                    "model_step": step_name(self.step_ms),
                    "next_end": None if t.heat is None else t.heat.next_end}
                for b, t in self.tracked.items()} | {"warmed": self.warmed}


def reference_instrument(base: str, exchanges: Sequence[str]) -> tuple[str, str] | None:
    """``(exchange, symbol)`` of ``base``'s USDT perpetual on the first enabled venue of
    :data:`REFERENCE_ORDER` (then any other enabled venue listing one), or None."""
    order = [v for v in REFERENCE_ORDER if v in exchanges] + [v for v in exchanges if v not in REFERENCE_ORDER]
    for venue in order:
        names = sorted(s for _, s in strict_symbols(f"{base}USDT", [venue]))
        if names:
            return venue, names[0]
    return None
