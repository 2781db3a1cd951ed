"""Feed health: counters kept by connections/pollers, summarized per adapter.

:class:`HealthTracker` is the mutable bookkeeping object one adapter shares
with all its websocket connections and REST pollers (single event loop, no
locks needed). :meth:`HealthTracker.status` freezes it into a
:class:`HealthStatus` (msgspec Struct, JSON-ready) for the API / CLI.
"""

from __future__ import annotations

import statistics
import time
from collections import deque

import msgspec

from liqmap.models import Liquidation


class HealthStatus(msgspec.Struct, frozen=True):
    """Health snapshot of one exchange adapter.

    Fields:
        exchange: venue id.
        is_connected: True when every websocket connection of the adapter is
            open (False before ``connect()``, after ``disconnect()`` or while
            any connection is reconnecting).
        message_count: frames received (websocket + REST bodies), all kinds.
        event_count: normalized events parsed from those frames.
        error_count: connection/transport errors (failed connects, drops,
            HTTP errors incl. 429/418).
        parse_errors: frames the venue parser rejected (counted, never fatal).
        reconnects: successful re-connects after a drop/stale/rotation.
        gaps: Gap events emitted (one per disconnect->resume).
        last_message_age_s: seconds since the last frame, ``None`` if none yet.
        uptime_pct: 0-100, connected time / time since ``connect()``,
            averaged over the adapter's websocket connections.
        latency_ms: median of (receipt - exchange timestamp) over the last
            256 events that carry an exchange timestamp, ``None`` if none.
        connections: per-connection state, label -> ``"connected"`` (open, its
            liquidation topics acknowledged) / ``"subscribing"`` (open, waiting for
            the venue's answer) / ``"unsubscribed"`` (open, a liquidation topic
            rejected or never acknowledged: NOT ok) / ``"reconnecting"`` /
            ``"stopped"`` / ``"gave_up"``.
        rest_liquidations: False where the venue has no public REST
            liquidation history (REST fallback cannot backfill liquidations).
        note: human-readable remark (e.g. why REST cannot backfill, last error).
        requested: topics requested over all connections.
        subscribed: topics the venue acknowledged (``subscribed / requested``).
        rejected: ``{topic: the venue's reason}`` of topics rejected or never
            acknowledged (at most 50 per connection).
        rejections: rejection answers received (counter).
        not_listed: requested symbols the venue's listing does not hold (not subscribed).
        listed: symbols in the venue's last listing (0 = not loaded).
        last_data_age_s: seconds since the last DATA frame (heartbeat replies and
            acks do not count), ``None`` if none yet.
        rotations: make-before-break rotations by cause (``lifetime``, ``restart``
            notice, ``silent`` stream, ``rejection``) -- none records a gap.
        gaps_filled: gaps whose window was fetched from the venue's public
            liquidation history (:mod:`liqmap.feed.backfill`).
        backfilled: liquidations (and trades) received that way.
        implausible: events the plausibility gate dropped, by reason
            (:mod:`liqmap.exchanges.plausibility`; never stored).
        quarantined: liquidations stored apart (quarantine table), by reason.
        warnings: things an operator should check although the feed runs, e.g. no
            liquidation for longer than the venue's ``liquidation_silence_s`` (Hyperliquid:
            24 h -- its liquidator addresses may be stale).
        rate_limited: HTTP 429 / 418 answers (websocket handshakes and REST polls); each
            one's ``Retry-After`` was waited, never less than the floor.
    """

    exchange: str
    is_connected: bool
    message_count: int
    event_count: int
    error_count: int
    parse_errors: int
    reconnects: int
    gaps: int
    last_message_age_s: float | None
    uptime_pct: float
    latency_ms: float | None
    connections: dict[str, str] = {}
    rest_liquidations: bool = False
    note: str = ""
    requested: int = 0
    subscribed: int = 0
    rejected: dict[str, str] = {}
    rejections: int = 0
    not_listed: list[str] = []
    listed: int = 0
    last_data_age_s: float | None = None
    rotations: dict[str, int] = {}
    gaps_filled: int = 0
    backfilled: int = 0
    implausible: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    rate_limited: int = 0
    warnings: list[str] = []


#: The :class:`HealthStatus` fields that are plain event counters (ints from 0, only ever
#: incremented): :class:`HealthTracker` keeps each as an attribute of the same name
#: (``tracker.gaps += 1``) and copies them all into every status.
COUNTERS: tuple[str, ...] = (
    "message_count", "event_count", "error_count", "parse_errors", "reconnects", "gaps",
    "gaps_filled", "backfilled", "rejections", "rate_limited",
)


class HealthTracker:
    """Mutable counters for one adapter (see :class:`HealthStatus` for meanings).

    The event counters are the attributes named in :data:`COUNTERS`. Times are monotonic
    seconds internally; ``last_frame_ms`` is wall ms UTC.
    """

    LATENCY_WINDOW = 256

    def __init__(self, exchange: str, rest_liquidations: bool = False, note: str = "") -> None:
        self.exchange = exchange
        self.rest_liquidations = rest_liquidations
        self.base_note = note
        self.last_error = ""
        for name in COUNTERS:
            setattr(self, name, 0)
        self.last_frame_mono: float | None = None
        self.last_data_mono: float | None = None
        #: the venue's ``liquidation_silence_s`` and hint (set by the adapter); None = no check
        self.liquidation_silence_s: float | None = None
        self.silence_hint = ""
        self.last_liquidation_mono: float | None = None
        self.not_listed: list[str] = []
        self.listed = 0
        self.rotations: dict[str, int] = {}
        #: the venue's plausibility gate (its rejection counters), set by the adapter
        self.gate = None
        # per websocket connection: (requested, subscribed, {topic: reason})
        self._subs: dict[str, tuple[int, int, dict[str, str]]] = {}
        self.started_mono: float | None = None
        self._latencies: deque[int] = deque(maxlen=self.LATENCY_WINDOW)
        # per websocket connection: state, connected-since (mono) and accumulated seconds
        self._state: dict[str, str] = {}
        self._since: dict[str, float | None] = {}
        self._accum: dict[str, float] = {}

    # -- recording -----------------------------------------------------------
    def start(self) -> None:
        """Mark the adapter start (uptime denominator begins here)."""
        self.started_mono = time.monotonic()

    def register(self, label: str) -> None:
        """Declare a websocket connection (counts in uptime / is_connected)."""
        self._state.setdefault(label, "reconnecting")
        self._since.setdefault(label, None)
        self._accum.setdefault(label, 0.0)

    def set_connected(self, label: str, connected: bool, state: str | None = None) -> None:
        """Record a connection opening or closing (``state`` overrides the label)."""
        self.register(label)
        t = time.monotonic()
        since = self._since[label]
        if connected and since is None:
            self._since[label] = t
        elif not connected and since is not None:
            self._accum[label] += t - since
            self._since[label] = None
        self._state[label] = state or ("connected" if connected else "reconnecting")

    def on_frame(self) -> None:
        """Count one received frame (any kind, parsed or not) and stamp its monotonic time."""
        self.message_count += 1
        self.last_frame_mono = time.monotonic()

    def on_data(self) -> None:
        """Stamp a DATA frame (not a heartbeat reply, ack or notice)."""
        self.last_data_mono = time.monotonic()

    def set_subscriptions(self, label: str, requested: int, subscribed: int, failed: dict[str, str]) -> None:
        """Record one connection's ``subscribed / requested`` and its failed topics."""
        self._subs[label] = (requested, subscribed, dict(failed))

    def on_rotation(self, cause: str) -> None:
        """Count one make-before-break rotation (``lifetime``, ``restart``, ``silent``, ``rejection``)."""
        self.rotations[cause] = self.rotations.get(cause, 0) + 1

    def on_events(self, events, latency: bool = True) -> None:
        """Count events and sample latency (only events with a real exchange time,
        and only when ``latency``: not for backfilled history)."""
        for ev in events:
            self.event_count += 1
            if type(ev) is Liquidation:
                self.last_liquidation_mono = time.monotonic()
            if not latency:
                continue
            ts = getattr(ev, "timestamp", None)
            rx = getattr(ev, "received_at", None)
            if ts is not None and rx is not None and ts != rx:
                self._latencies.append(rx - ts)

    def on_error(self, message: str) -> None:
        """Count one connection/REST error; ``message`` becomes ``last_error``."""
        self.error_count += 1
        self.last_error = message

    # -- snapshot ------------------------------------------------------------
    def warnings(self) -> list[str]:
        """Operator warnings (:attr:`HealthStatus.warnings`): no liquidation for longer than
        ``liquidation_silence_s`` since the later of the start and the last liquidation."""
        limit = self.liquidation_silence_s
        if not limit or self.started_mono is None:
            return []
        since = max(self.started_mono, self.last_liquidation_mono or 0.0)
        quiet = time.monotonic() - since
        if quiet <= limit:
            return []
        seen = "no liquidation" if self.last_liquidation_mono is None else "no liquidation since the last one"
        return [f"{seen} for {quiet / 3600:.1f} h (more than {limit / 3600:g} h){': ' + self.silence_hint if self.silence_hint else ''}"]

    def uptime_pct(self) -> float:
        """Connected time since :meth:`start`, percent (0..100), averaged over connections."""
        if self.started_mono is None or not self._state:
            return 0.0
        t = time.monotonic()
        elapsed = max(t - self.started_mono, 1e-9)
        fractions = []
        for label in self._state:
            up = self._accum[label] + (t - self._since[label] if self._since[label] is not None else 0.0)
            fractions.append(min(up / elapsed, 1.0))
        return round(100.0 * sum(fractions) / len(fractions), 2)

    def counters(self) -> dict[str, int]:
        """The event counters (:data:`COUNTERS`) by name, a copy."""
        return {name: getattr(self, name) for name in COUNTERS}

    def status(self) -> HealthStatus:
        """Frozen snapshot of the counters."""
        now = time.monotonic()
        age = round(now - self.last_frame_mono, 3) if self.last_frame_mono is not None else None
        data_age = round(now - self.last_data_mono, 3) if self.last_data_mono is not None else None
        rejected: dict[str, str] = {}
        for _req, _sub, failed in self._subs.values():
            rejected.update(failed)
        latency = float(statistics.median(self._latencies)) if self._latencies else None
        connected = bool(self._state) and all(s == "connected" for s in self._state.values())
        note = self.base_note
        if self.last_error:
            note = f"{note}; last error: {self.last_error}" if note else f"last error: {self.last_error}"
        return HealthStatus(
            exchange=self.exchange,
            is_connected=connected,
            **self.counters(),
            last_message_age_s=age,
            uptime_pct=self.uptime_pct(),
            latency_ms=latency,
            connections=dict(self._state),
            rest_liquidations=self.rest_liquidations,
            note=note,
            requested=sum(r for r, _s, _f in self._subs.values()),
            subscribed=sum(s for _r, s, _f in self._subs.values()),
            rejected=rejected,
            not_listed=list(self.not_listed),
            listed=self.listed,
            last_data_age_s=data_age,
            rotations=dict(self.rotations),
            implausible=dict(self.gate.rejected) if self.gate is not None else {},
            quarantined=dict(self.gate.quarantined) if self.gate is not None else {},
            warnings=self.warnings(),
        )
