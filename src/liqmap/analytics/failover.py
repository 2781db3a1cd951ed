"""Best venue per feature, venue status and failover (pure: health snapshots + a clock in).

Two derived events travel from the market view to its consumers (alerts, ``/exchanges``
health, ``/metrics``):

* :class:`VenueStatusChange` -- one venue went ``down`` / ``stale`` / came back ``up``.
* :class:`FailoverSwitch` -- the venue serving a feature changed (primary down -> backup,
  and back when the primary recovers).

Definitions:

* A venue's **state** (:func:`venue_state`) from a :class:`VenueHealth`: ``down`` when not
  connected; ``stale`` when connected but no frame for more than ``stale_after_s`` (or none
  yet); ``up`` otherwise.
* **Ranking** (:func:`rank_venues`) of the enabled venues having a feature, best first, by
  (state: up < stale < down, priority: lower first, latency: lower first, unknown last,
  staleness: fresher first, name).
* **Failover** (:class:`FailoverMachine`), per feature: the serving venue stays while it is
  ``up``; when it is not, the best-ranked ``up`` venue takes over (one switch event). A venue of
  better (lower) priority than the serving one takes the feature back once it has been ``up``
  without a break for ``recover_after_s`` [5 s] or its stale timeout, whichever is longer
  (hysteresis: a venue that reconnects looks ``up`` until its last frame is older than the
  stale timeout, so only a full stale window of ``up`` proves that data flows again). Latency
  and staleness only order the candidates; they never cause a switch between two healthy venues.
"""

from __future__ import annotations

from typing import Iterable, Literal, Sequence

import msgspec

VenueState = Literal["up", "stale", "down"]


class VenueStatusChange(msgspec.Struct, frozen=True):
    """A venue changed state.

    Fields: ``exchange`` (venue id); ``status`` / ``previous`` (``up`` | ``stale`` | ``down``;
    ``previous`` is None for the first observation); ``reason`` (short text, e.g.
    ``"no frame for 61.0 s"``); ``at_ms`` (ms UTC of the observation).
    """

    exchange: str
    status: VenueState
    previous: VenueState | None
    reason: str
    at_ms: int


class FailoverSwitch(msgspec.Struct, frozen=True):
    """The venue serving ``feature`` changed.

    Fields: ``feature`` (e.g. ``"liquidations"``, ``"ticker"``); ``from_exchange`` /
    ``to_exchange`` (venue ids; None when no venue served / can serve the feature);
    ``reason`` (why, e.g. ``"binance stale"`` or ``"binance recovered"``); ``at_ms`` (ms UTC).
    """

    feature: str
    from_exchange: str | None
    to_exchange: str | None
    reason: str
    at_ms: int


class VenueHealth(msgspec.Struct, frozen=True):
    """What the ranking needs of one venue.

    Fields: ``exchange``; ``enabled``; ``features`` (e.g. ``("liquidations", "ticker")``);
    ``connected`` (its sockets are open); ``last_message_age_s`` (seconds since its last frame,
    None = none yet); ``latency_ms`` (median receipt - exchange time, None = unknown);
    ``priority`` (1 = primary; lower wins); ``stale_after_s`` (this venue's own stale timeout,
    None = the caller's default).
    """

    exchange: str
    enabled: bool
    features: tuple[str, ...]
    connected: bool
    last_message_age_s: float | None
    latency_ms: float | None
    priority: int = 1
    stale_after_s: float | None = None


_STATE_RANK = {"up": 0, "stale": 1, "down": 2}


def venue_state(h: VenueHealth, stale_after_s: float) -> VenueState:
    """``up`` / ``stale`` / ``down`` (module docstring); ``h.stale_after_s`` wins over ``stale_after_s``."""
    if not h.connected:
        return "down"
    limit = h.stale_after_s if h.stale_after_s is not None else stale_after_s
    if h.last_message_age_s is None or h.last_message_age_s > limit:
        return "stale"
    return "up"


def rank_venues(healths: Iterable[VenueHealth], feature: str, stale_after_s: float) -> list[tuple[str, VenueState]]:
    """``[(exchange, state)]`` of the enabled venues having ``feature``, best first (module docstring)."""
    rows = []
    for h in healths:
        if not h.enabled or feature not in h.features:
            continue
        st = venue_state(h, stale_after_s)
        lat = h.latency_ms if h.latency_ms is not None else float("inf")
        age = h.last_message_age_s if h.last_message_age_s is not None else float("inf")
        rows.append(((_STATE_RANK[st], h.priority, lat, age, h.exchange), h.exchange, st))
    rows.sort()
    return [(ex, st) for _, ex, st in rows]


def best_venue(healths: Iterable[VenueHealth], feature: str, stale_after_s: float) -> str | None:
    """The best-ranked ``up`` venue having ``feature``, or None when none is up."""
    for ex, st in rank_venues(healths, feature, stale_after_s):
        if st == "up":
            return ex
    return None


class FailoverMachine:
    """Which venue serves one feature, with switch events (module docstring).

    Args:
        feature: the feature name.
        stale_after_s: seconds without a frame that make a venue ``stale``.
        recover_after_s: seconds a better-priority venue must stay ``up`` before it takes the
            feature back.
    """

    def __init__(self, feature: str, stale_after_s: float, recover_after_s: float = 5.0) -> None:
        self.feature = feature
        self.stale_after_s = stale_after_s
        self.recover_after_s = recover_after_s
        self.current: str | None = None
        self.switches = 0
        self._up_since: dict[str, int] = {}

    def evaluate(self, healths: Sequence[VenueHealth], now_ms: int) -> list[FailoverSwitch]:
        """Re-decide at ``now_ms``; returns the switch made (at most one), else ``[]``."""
        by_name = {h.exchange: h for h in healths}
        ranked = rank_venues(healths, self.feature, self.stale_after_s)
        for ex, st in ranked:
            if st == "up":
                self._up_since.setdefault(ex, now_ms)
            else:
                self._up_since.pop(ex, None)
        ups = [ex for ex, st in ranked if st == "up"]
        cur = self.current
        cur_state = dict(ranked).get(cur) if cur is not None else None
        if cur_state != "up":
            target = ups[0] if ups else None
            if target == cur:
                return []
            reason = (f"{cur} {cur_state or 'disabled'}" if cur is not None else "start") + \
                (f"; {target} is up" if target else "; no venue is up")
            return [self._switch(target, reason, now_ms)]
        prio = by_name[cur].priority
        for ex in ups:
            h = by_name[ex]
            hold_s = max(self.recover_after_s, h.stale_after_s if h.stale_after_s is not None else self.stale_after_s)
            if h.priority < prio and now_ms - self._up_since[ex] >= hold_s * 1000:
                return [self._switch(ex, f"{ex} recovered (priority {by_name[ex].priority} < {prio})", now_ms)]
        return []

    def _switch(self, to: str | None, reason: str, now_ms: int) -> FailoverSwitch:
        ev = FailoverSwitch(self.feature, self.current, to, reason, now_ms)
        self.current = to
        self.switches += 1
        return ev


class VenueStatusTracker:
    """:class:`VenueStatusChange` events from successive health snapshots (first sight included)."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self.state: dict[str, VenueState] = {}

    def evaluate(self, healths: Iterable[VenueHealth], now_ms: int) -> list[VenueStatusChange]:
        """The state changes of the enabled venues since the previous call."""
        out = []
        for h in healths:
            if not h.enabled:
                continue
            st = venue_state(h, self.stale_after_s)
            prev = self.state.get(h.exchange)
            if st != prev:
                if st == "down":
                    why = "not connected"
                elif st == "stale":
                    age = h.last_message_age_s
                    why = "no frame yet" if age is None else f"no frame for {age:.1f} s"
                else:
                    why = "receiving"
                out.append(VenueStatusChange(h.exchange, st, prev, why, now_ms))
                self.state[h.exchange] = st
        return out
