"""Prometheus metrics of one running app (own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from liqmap.models import Event, Gap, Liquidation


class Metrics:
    """Counters exposed at ``GET /metrics``.

    * ``liqmap_events_ingested_total{exchange,type}`` -- normalized events ingested.
    * ``liqmap_parse_errors_total{exchange}`` -- frames a parser rejected (from the source).
    * ``liqmap_gaps_total{exchange}`` -- coverage gaps reported by feeds.
    * ``liqmap_rate_limited_total{exchange}`` -- HTTP 429 / 418 answers of a venue (websocket
      handshakes, REST polls, gap backfill); each is waited out (``Retry-After``, floor 5 s).
    * ``liqmap_ws_clients`` -- connected websocket API clients.
    * ``liqmap_ws_dropped_messages_total`` -- messages dropped for slow websocket clients.
    * ``liqmap_ingest_latency_seconds`` -- local receipt (``received_at``) to fan-out, live mode.
    * ``liqmap_http_requests_total{route,status}``.
    * ``liqmap_subscriptions_requested{exchange}`` / ``liqmap_subscriptions_subscribed{exchange}``
      -- topics requested from the live venues / acknowledged by them;
      ``liqmap_subscriptions_failed{exchange}`` -- rejected or never acknowledged now.
    * ``liqmap_events_rejected_total{exchange,reason}`` -- events the plausibility gate dropped
      (:mod:`liqmap.exchanges.plausibility`: ``non_finite``, ``value_mismatch``, ``symbol``,
      ``timestamp`` ...); ``liqmap_events_quarantined_total{exchange,reason}`` -- liquidations
      stored apart (``price_far``, ``unvalued``).
    * ``liqmap_store_committed`` / ``liqmap_store_buffered`` -- liquidations committed to
      DuckDB this run / events not committed yet; ``liqmap_commit_lag_seconds{quantile}``
      (p50, p99, max of the last commits: receipt -> commit).
    * ``liqmap_tier_state{tier,state}`` (1 for the current one of ok/degraded/down/off),
      ``liqmap_tier_backlog_events{tier}``, ``liqmap_tier_lag_seconds{tier}``,
      ``liqmap_tier_retries_total{tier}``, ``liqmap_tier_dropped_total{tier}``,
      ``liqmap_tier_backfilled_total{tier}`` -- the optional tiers (:mod:`liqmap.storage.mirror`).
    * ``liqmap_oi_rejected_total{exchange,reason}`` -- open-interest values the guard rejected
      (:mod:`liqmap.analytics.oi_guard`: ``non_finite``, ``negative``, ``jump``); never stored.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("liqmap_events_ingested_total", "Normalized events ingested",
                              ["exchange", "type"], registry=r)
        self.parse_errors = Counter("liqmap_parse_errors_total", "Frames rejected by a parser",
                                    ["exchange"], registry=r)
        self.gaps = Counter("liqmap_gaps_total", "Coverage gaps", ["exchange"], registry=r)
        self.rate_limited = Counter("liqmap_rate_limited_total", "HTTP 429/418 answers from a venue",
                                    ["exchange"], registry=r)
        self.ws_clients = Gauge("liqmap_ws_clients", "Connected websocket clients", registry=r)
        self.ws_dropped = Counter("liqmap_ws_dropped_messages_total",
                                  "Messages dropped for slow websocket clients", registry=r)
        self.latency = Histogram(
            "liqmap_ingest_latency_seconds", "received_at -> broadcast latency (live mode)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=r)
        self.http = Counter("liqmap_http_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.sub_requested = Gauge("liqmap_subscriptions_requested", "Topics requested from the venue",
                                   ["exchange"], registry=r)
        self.sub_subscribed = Gauge("liqmap_subscriptions_subscribed", "Topics the venue acknowledged",
                                    ["exchange"], registry=r)
        self.sub_failed = Gauge("liqmap_subscriptions_failed", "Topics rejected or never acknowledged",
                                ["exchange"], registry=r)
        self.oi_rejected = Counter("liqmap_oi_rejected_total", "Open-interest values rejected by the guard",
                                   ["exchange", "reason"], registry=r)
        self.gate_rejected = Counter("liqmap_events_rejected_total", "Events the plausibility gate dropped",
                                     ["exchange", "reason"], registry=r)
        self.gate_quarantined = Counter("liqmap_events_quarantined_total", "Liquidations stored apart",
                                        ["exchange", "reason"], registry=r)
        self.committed = Gauge("liqmap_store_committed", "Liquidations committed to DuckDB this run", registry=r)
        self.buffered = Gauge("liqmap_store_buffered", "Events received, not committed yet", registry=r)
        self.commit_lag = Gauge("liqmap_commit_lag_seconds", "Receipt -> DuckDB commit, recent commits",
                                ["quantile"], registry=r)
        self.tier_state = Gauge("liqmap_tier_state", "Optional tier state (1 = current)", ["tier", "state"], registry=r)
        self.tier_backlog = Gauge("liqmap_tier_backlog_events", "Events queued for a tier", ["tier"], registry=r)
        self.tier_lag = Gauge("liqmap_tier_lag_seconds", "Age of a tier's oldest undelivered batch", ["tier"], registry=r)
        self.tier_counters = {
            k: Counter(f"liqmap_tier_{k}_total", h, ["tier"], registry=r) for k, h in (
                ("retries", "Retries after a tier failure"), ("dropped", "Events dropped from a tier queue "
                 "(back-filled from DuckDB later)"), ("backfilled", "Events back-filled from DuckDB"))}
        self.failover_switches = Counter("liqmap_failover_switches_total", "Venue serving a feature changed",
                                         ["feature", "from_exchange", "to_exchange"], registry=r)
        self.feature_venue = Gauge("liqmap_feature_venue", "1 for the venue serving a feature now",
                                   ["feature", "exchange"], registry=r)
        self.arbitrage_open = Gauge("liqmap_arbitrage_open", "Open cross-venue arbitrage opportunities", registry=r)
        self.alerts = Counter("liqmap_alerts_total", "Alerts per sink by outcome (delivered, gave_up, dropped)",
                              ["sink", "outcome"], registry=r)
        self.alert_latency = Gauge("liqmap_alert_delivery_seconds", "Alert delivery latency (event -> 2xx), "
                                   "recent alerts", ["sink", "quantile"], registry=r)
        self._alert_seen: dict[tuple[str, str], int] = {}
        self._tier_seen: dict[tuple[str, str], int] = {}
        #: (metric, labels) -> the source total last synced, for the monotonic counters
        self._seen: dict[tuple, float] = {}
        self._ev_children: dict[tuple[str, str], object] = {}

    def observe_event(self, ev: Event, live: bool, now_ms: int | None = None) -> None:
        """Count one ingested event (and its latency when ``live``)."""
        ex = getattr(ev, "exchange", "?")
        if isinstance(ev, Liquidation):
            child = self._ev_children.get((ex, "liquidation"))
            if child is None:
                child = self._ev_children[(ex, "liquidation")] = self.events.labels(ex, "liquidation")
            child.inc()
            if live and now_ms is not None:
                self.latency.observe(max(0, now_ms - ev.received_at) / 1000)
        elif isinstance(ev, Gap):
            if not ev.filled:  # the same gap reported again once backfilled
                self.gaps.labels(ex).inc()
        else:
            self.events.labels(ex, type(ev).__name__.lower()).inc()

    def set_parse_errors(self, per_exchange: dict[str, int]) -> None:
        """Sync parse-error totals reported by a source (monotonic per exchange)."""
        _sync_totals(self.parse_errors, self._seen, {(ex,): n for ex, n in per_exchange.items()})

    def set_rate_limited(self, per_exchange: dict[str, int]) -> None:
        """Sync the feeds' HTTP 429/418 answer totals (websocket handshakes, REST polls, gap
        backfill; monotonic per exchange)."""
        _sync_totals(self.rate_limited, self._seen, {(ex,): n for ex, n in per_exchange.items()})

    def set_oi_rejected(self, per_exchange: dict[str, dict[str, int]]) -> None:
        """Sync the guard's rejection totals ``{exchange: {reason: n}}`` (monotonic)."""
        _sync_totals(self.oi_rejected, self._seen,
                     {(ex, reason): n for ex, reasons in per_exchange.items() for reason, n in reasons.items()})

    def set_gate_counts(self, per_exchange: dict[str, dict[str, dict[str, int]]]) -> None:
        """Sync the gates' totals ``{exchange: {"rejected"|"quarantined": {reason: n}}}`` (monotonic)."""
        for kind, metric in (("rejected", self.gate_rejected), ("quarantined", self.gate_quarantined)):
            _sync_totals(metric, self._seen, {(ex, reason): n for ex, kinds in per_exchange.items()
                                              for reason, n in kinds.get(kind, {}).items()})

    def set_storage(self, storage: dict) -> None:
        """Sync the store's counters and tier states (:meth:`liqmap.api.state.AppState.storage_health`)."""
        self.committed.set(storage["committed"])
        self.buffered.set(storage["buffered"])
        for q in ("p50", "p99", "max"):
            v = storage["commit_lag_ms"].get(q)
            if v is not None:
                self.commit_lag.labels(q).set(v / 1000)
        for tier, st in storage["tiers"].items():
            if tier == "duckdb":
                continue
            for state in ("ok", "degraded", "down", "off"):
                self.tier_state.labels(tier, state).set(1 if st.get("status") == state else 0)
            self.tier_backlog.labels(tier).set(st.get("backlog", 0))
            self.tier_lag.labels(tier).set(st.get("lag_s", 0.0))
            for k, counter in self.tier_counters.items():
                n, prev = int(st.get(k, 0)), self._tier_seen.get((tier, k), 0)
                if n > prev:
                    counter.labels(tier).inc(n - prev)
                    self._tier_seen[(tier, k)] = n

    def set_subscriptions(self, per_exchange: dict[str, tuple[int, int, int]]) -> None:
        """Set ``(requested, subscribed, failed)`` topic counts per live venue."""
        for ex, (req, sub, failed) in per_exchange.items():
            self.sub_requested.labels(ex).set(req)
            self.sub_subscribed.labels(ex).set(sub)
            self.sub_failed.labels(ex).set(failed)

    def observe_switch(self, sw) -> None:
        """Count one :class:`~liqmap.analytics.failover.FailoverSwitch` and mark the new venue."""
        frm, to = sw.from_exchange or "none", sw.to_exchange or "none"
        self.failover_switches.labels(sw.feature, frm, to).inc()
        if sw.from_exchange:
            self.feature_venue.labels(sw.feature, sw.from_exchange).set(0)
        if sw.to_exchange:
            self.feature_venue.labels(sw.feature, sw.to_exchange).set(1)

    def set_alerts(self, stats: dict) -> None:
        """Sync an :meth:`~liqmap.alerts.AlertDispatcher.stats` (monotonic per sink)."""
        for sink, st in stats["sinks"].items():
            for k in ("delivered", "gave_up", "dropped"):
                n, prev = int(st.get(k, 0)), self._alert_seen.get((sink, k), 0)
                if n > prev:
                    self.alerts.labels(sink, k).inc(n - prev)
                    self._alert_seen[(sink, k)] = n
            for q in ("p50", "p99"):
                v = st.get(f"latency_{q}_ms")
                if v is not None:
                    self.alert_latency.labels(sink, q).set(v / 1000)

    def render(self) -> bytes:
        """Prometheus text exposition."""
        return generate_latest(self.registry)


def _sync_totals(metric, seen: dict[tuple, float], totals: dict[tuple, float]) -> None:
    """Increase the Prometheus counter ``metric`` (children by label tuple) by how much each
    source total in ``totals`` grew since the last sync; ``seen`` remembers the synced totals.
    A total that fell (a restarted source) is not subtracted: counters only grow."""
    for labels, n in totals.items():
        key = (id(metric), *labels)
        prev = seen.get(key, 0)
        if n > prev:
            metric.labels(*labels).inc(n - prev)
            seen[key] = n
