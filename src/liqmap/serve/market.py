"""The cross-exchange market view and alerts inside ``liqmap serve`` (issue #15).

:class:`MarketService` sits beside the serve pipeline and sees every event it handles::

    ServePipeline.handle(ev) ──► MarketService.handle(ev)
        ├─► MarketView.handle (quotes, whale tape, recent liquidations; O(1))
        ├─► AlertDispatcher.submit (liquidation / whale rules; never blocks)
        └─► the tiered liquidation log (logger ``liqmap.events``)

    TieredStore (writer thread) ── cascade events ──► MarketService.on_cascade_events
        ├─► one WARNING line per cascade start and severity rise (``liqmap.events``)
        └─► AlertDispatcher.submit_threadsafe (cascade rules)

    MarketService.run() -- clocks, until cancelled:
        every ``refresh_s`` [0.25 s]  MarketView.refresh: snapshots of the groups whose quotes
                                      changed; arbitrage open/peak/close events -> storage
                                      (DuckDB ``arbitrage_opportunities``), alerts, log;
                                      changed snapshots pushed on ``hub`` (``/ws/market``),
                                      each group at most once per ``push_s`` [1 s]
        every ``evaluate_s`` [1 s]    venue health (live venues) -> failover per feature and
                                      venue status; switches logged (WARNING), counted in
                                      ``/metrics``, kept for ``/market/health``, alerted
        every ``stats_s`` [60 s]      one ``STATS`` line (``liqmap.events``, INFO)

**Tiered liquidation log** (``liqmap.events``): a liquidation of at least
``Settings.institutional_usd`` [100k USD] is logged at WARNING, one of at least
``Settings.large_usd`` [10k USD] at INFO, smaller ones at DEBUG. ``liqmap serve`` shows INFO of
this logger unless ``--log-level`` is error or higher (``serve --help``).

Times: the view's "now" is the wall clock live; in a replay (``replay=True``) it is the newest
receipt time the stream carried so far, so a replayed quote's age is measured against the
replayed time (the replay clock itself follows liquidations only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import msgspec

from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.failover import FailoverSwitch, VenueStatusChange
from liqmap.analytics.risk import severity_rank
from liqmap.analytics.whales import WhaleTape
from liqmap.fmt import price, usd
from liqmap.market.view import MarketView, parse_number_map, taker_fees
from liqmap.models import Liquidation, Ticker, Trade
from liqmap.serve.hub import BroadcastHub
from liqmap.settings import Settings
from liqmap.units import SECOND_MS

log = logging.getLogger("liqmap.serve.market")
events_log = logging.getLogger("liqmap.events")


def snapshot_message(data: Any) -> str:
    """``/ws/market`` wire message of one CrossExchangeData: ``{"type": "ticker", "data": {...}}``."""
    return '{"type":"ticker","data":' + msgspec.json.encode(data).decode() + "}"


class MarketService:
    """The market view, alert routing and the serve event log (module docstring).

    Args:
        settings: thresholds (``large_usd``, ``institutional_usd``, ``market_stale_s``,
            ``taker_fees``, ``whale_usd``, ``whale_usd_by_base``, ``stats_interval_s``).
        now_ms: the app clock (ms UTC).
        aggregator: the live :class:`~liqmap.feed.aggregator.ExchangeAggregator` whose
            adapters' health drives failover (None or no adapters: no failover, e.g. a replay).
        alerts: an :class:`~liqmap.alerts.AlertDispatcher`, or None (alerts off).
        refresh_s / evaluate_s / push_s: the clocks (module docstring), seconds.
        replay: measure ages against the stream's newest receipt (module docstring).

    Raises:
        ValueError: a malformed ``taker_fees`` / ``whale_usd_by_base`` setting.
    """

    def __init__(self, settings: Settings, now_ms: Callable[[], int], *, aggregator: Any | None = None,
                 alerts: Any | None = None, refresh_s: float = 0.25, evaluate_s: float = 1.0,
                 push_s: float = 1.0, replay: bool = False) -> None:
        self.settings = settings
        self.now_ms = now_ms
        self.replay = replay
        self.newest_ms = 0  # newest receipt time seen (the replay's "now")
        self.aggregator = aggregator
        self.alerts = alerts
        self.refresh_s, self.evaluate_s, self.push_s = refresh_s, evaluate_s, push_s
        self.stats_s = settings.stats_interval_s
        whales = WhaleTape(settings.whale_usd, parse_number_map(settings.whale_usd_by_base, "LIQMAP_WHALE_USD_BY_BASE",
                                                                "BTC=5000000"))
        self.view = MarketView(taker_fees(settings.taker_fees), stale_ms=int(settings.market_stale_s * SECOND_MS),
                               stale_after_s=settings.ws_timeout or 60.0, whales=whales, emit=self._derived)
        self.hub = BroadcastHub(queue_size=100)
        self.store_events: Callable[[list[Any]], None] | None = None  # the pipeline's storage buffer
        self.on_switch: Callable[[FailoverSwitch], None] | None = None  # metrics
        self.pipeline: Any | None = None  # the serve pipeline (event counts of the STATS line)
        self.counts = {"liquidations": 0, "liquidation_usd": 0.0, "trades": 0, "tickers": 0, "cascades": 0,
                       "arbitrage_opened": 0, "switches": 0}
        self._last_push: dict[tuple[str, str], float] = {}
        self._severity: dict[str, str] = {}
        self._stats_prev = (time.monotonic(), 0, 0)
        self.started = time.monotonic()

    # -- the stream (event loop) ------------------------------------------------------------
    def handle(self, ev: Any) -> None:
        """Fold one event of the serve pipeline (module docstring); never raises."""
        try:
            self.view.handle(ev)
            rx = getattr(ev, "received_at", 0)
            if rx > self.newest_ms:
                self.newest_ms = rx
            t = type(ev)
            if t is Liquidation:
                self.counts["liquidations"] += 1
                self.counts["liquidation_usd"] += ev.value_usd
                self._log_liquidation(ev)
            elif t is Trade:
                self.counts["trades"] += 1
            elif t is Ticker:
                self.counts["tickers"] += 1
            if self.alerts is not None and (t is Liquidation or t is Trade):
                self.alerts.submit(ev)
        except Exception:  # the view and the alerts are extras: ingestion goes on
            log.exception("market view failed on %s", type(ev).__name__)

    def _log_liquidation(self, ev: Liquidation) -> None:
        v = ev.value_usd
        level = (logging.WARNING if v >= self.settings.institutional_usd
                 else logging.INFO if v >= self.settings.large_usd else logging.DEBUG)
        if events_log.isEnabledFor(level):
            events_log.log(level, "LIQUIDATION %s %s %s %s @ %s (%s)", usd(v), ev.exchange, ev.symbol,
                           ev.side.upper(), price(ev.price),
                           "institutional" if level == logging.WARNING else "large" if level == logging.INFO else "small")

    # -- cascades (storage writer thread) -----------------------------------------------------
    def on_cascade_events(self, events: list[Any]) -> None:
        """TieredStore's cascade listener: WARNING per cascade start / severity rise, alerts."""
        for ev in events:
            c = ev.cascade
            prev = self._severity.get(c.id)
            if ev.kind == "end":
                self._severity.pop(c.id, None)
                events_log.info("CASCADE END %s %s %s in %d liquidations over %.0f s", c.id, c.severity.upper(),
                                usd(c.value_usd), c.events, (c.end_ts - c.start_ts) / 1000)
            elif prev is None or severity_rank(c.severity) > severity_rank(prev):
                self._severity[c.id] = c.severity
                self.counts["cascades"] += prev is None
                events_log.warning(
                    "CASCADE %s %s %s: %s in %d liquidations (long %s / short %s), price %s-%s, venues %s, risk %.2f",
                    "START" if prev is None else "ESCALATED", c.base, c.severity.upper(), usd(c.value_usd), c.events,
                    usd(c.long_usd), usd(c.short_usd), price(c.price_low), price(c.price_high),
                    ",".join(c.exchanges), c.risk_score)
            if self.alerts is not None:
                self.alerts.submit_threadsafe(ev)

    # -- derived events (arbitrage, failover, venue status) ------------------------------------
    def _derived(self, ev: Any) -> None:
        if isinstance(ev, ArbitrageOpportunity):
            if self.store_events is not None:
                self.store_events([ev])
            if ev.open and ev.duration_ms == 0:
                self.counts["arbitrage_opened"] += 1
                log.info("arbitrage open %s: buy %s %s sell %s %s, net %.1f bps", ev.id, ev.buy_exchange,
                         price(ev.buy_price), ev.sell_exchange, price(ev.sell_price), ev.net_bps)
        elif isinstance(ev, FailoverSwitch):
            self.counts["switches"] += 1
            if self.on_switch is not None:
                self.on_switch(ev)
        elif isinstance(ev, VenueStatusChange) and ev.previous is not None:
            (log.info if ev.status == "up" else log.warning)("venue %s %s (was %s): %s", ev.exchange, ev.status,
                                                             ev.previous, ev.reason)
        if self.alerts is not None:
            self.alerts.submit(ev)

    # -- clocks ---------------------------------------------------------------------------------
    def now(self) -> int:
        """The view's "now", ms UTC (module docstring)."""
        if self.replay:
            return self.newest_ms or self.now_ms()
        return self.now_ms()

    def tick(self, now_ms: int) -> None:
        """One refresh: rebuild changed snapshots (arbitrage events follow) and push them."""
        dirty = set(self.view.board.dirty)
        self.view.refresh(now_ms)
        if not self.hub.subscribers:
            return
        mono = time.monotonic()
        for g in dirty:
            if mono - self._last_push.get(g, 0.0) >= self.push_s and g in self.view.snapshots:
                self._last_push[g] = mono
                self.hub.publish_text((g, self.view.snapshots[g]), lambda item: snapshot_message(item[1]))

    def evaluate(self, now_ms: int) -> list[Any]:
        """Venue health -> failover and venue status (live venues only)."""
        adapters = getattr(self.aggregator, "adapters", None)
        if not adapters:
            return []
        from liqmap.market.health import aggregator_healths

        return self.view.evaluate(aggregator_healths(self.aggregator, ws_timeout=self.settings.ws_timeout), now_ms)

    async def run(self) -> None:
        """The clocks (module docstring), until cancelled; alerts' senders run meanwhile."""
        if self.alerts is not None:
            self.alerts.start()
        last_eval = last_stats = time.monotonic()
        try:
            while True:
                await asyncio.sleep(self.refresh_s)
                mono = time.monotonic()
                try:
                    self.tick(self.now())
                    if mono - last_eval >= self.evaluate_s:
                        last_eval = mono
                        self.evaluate(self.now())
                    if self.stats_s > 0 and mono - last_stats >= self.stats_s:
                        last_stats = mono
                        events_log.info("%s", self.stats_line())
                except Exception:
                    log.exception("market clock failed; retrying")
        finally:
            if self.alerts is not None:
                await self.alerts.aclose()

    # -- reporting ------------------------------------------------------------------------------
    def stats_line(self) -> str:
        """``STATS`` line: rates since the previous line, totals, venues up, cascades, arbitrage,
        alerts delivered/failed/dropped."""
        now = time.monotonic()
        t0, ev0, liq0 = self._stats_prev
        events = self.pipeline.stats.events if self.pipeline is not None else self.view.events
        liqs = self.counts["liquidations"]
        self._stats_prev = (now, events, liqs)
        dt = max(now - t0, 1e-9)
        up = [h.exchange for h in self.view.healths if h.connected]
        parts = [f"STATS uptime {now - self.started:.0f}s", f"events {events} ({(events - ev0) / dt:.1f}/s)",
                 f"liquidations {liqs} ({(liqs - liq0) / dt:.2f}/s, {usd(self.counts['liquidation_usd'])})",
                 f"trades {self.counts['trades']}", f"tickers {self.counts['tickers']}",
                 f"groups {len(self.view.board.groups())}", f"cascades {self.counts['cascades']} ({len(self._severity)} open)",
                 f"arbitrage {len(self.view.tracker.opportunities())} open / {self.counts['arbitrage_opened']} seen",
                 f"failovers {self.counts['switches']}"]
        if self.view.healths:
            parts.append(f"venues up {len(up)}/{len(self.view.healths)}")
        if self.alerts is not None:
            sinks = self.alerts.stats()["sinks"].values()
            parts.append("alerts sent {} failed {} dropped {}".format(
                sum(s["delivered"] for s in sinks), sum(s["gave_up"] for s in sinks), sum(s["dropped"] for s in sinks)))
        return ", ".join(parts)
