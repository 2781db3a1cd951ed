"""Acknowledged subscriptions: every requested topic is tracked until the venue answers.

:class:`SubscriptionTracker` is the pure bookkeeping of ONE websocket connection
(no I/O, injected clock): it plans the subscribe requests of the connection's
:class:`~liqmap.exchanges.base.Topic` s within the venue's
:class:`~liqmap.exchanges.base.Limits`, reads the venue's answers
(:class:`~liqmap.exchanges.base.Control`, from ``Venue.control``) and says what
to send again. Rules:

* requests hold at most ``limits.args_per_subscribe`` topics; liquidation topics
  travel in requests of their own (a rejected trades topic never takes the
  liquidation topic down with it);
* an ack naming keys acknowledges those topics; an ack naming only a request id
  acknowledges every topic of that request;
* a rejection of a request rejects the topics it names (the venue's reason is
  kept; a request is found by the id the venue echoes, else by its echoed
  topics, else it is the oldest one still waiting); where the venue refuses whole requests (``whole_request``) the other
  topics of that request were collateral damage and are sent again ONE PER
  REQUEST (also after later reconnects). A rejected request of one topic rejects that topic;
* a topic without an answer after ``ack_timeout_s`` is sent again on its own, at
  most ``max_attempts`` times in all; then it counts as ``unacknowledged``;
* after a reconnect every topic not rejected is pending again (:meth:`reset`).

States: ``pending`` (sent or to be sent), ``acked``, ``rejected`` (the venue
refused it; not sent again on this connection), ``unacked`` (no answer after
every attempt). ``liquidations_ok`` is True when every liquidation topic is
acknowledged or explicitly refused, and one at least acknowledged: a connection
that is not is not "ok" in health.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from liqmap.exchanges.base import Control, Limits, Topic

#: Attempts (first request included) before an unanswered topic counts as unacknowledged.
MAX_ATTEMPTS = 3
#: Rejection reasons kept per connection for health (the rest are only counted).
MAX_REASONS = 50


@dataclass
class TopicState:
    """Bookkeeping of one topic: ``status`` (module doc), ``attempts``, the request it
    was last sent in, when (monotonic s), and the venue's reason for a rejection."""

    topic: Topic
    status: str = "pending"
    attempts: int = 0
    request: str | None = None
    sent_at: float | None = None
    reason: str = ""
    logged: bool = False
    solo: bool = False  # was in a refused request: planned alone from then on


@dataclass(frozen=True)
class Request:
    """One subscribe request to send: its id (unique per tracker) and topics."""

    id: int
    topics: tuple[Topic, ...]


@dataclass
class SubscriptionTracker:
    """Topic states of one connection (see module docstring).

    Args:
        topics: the connection's topics (order kept).
        limits: the venue's limits (``args_per_subscribe``).
        ack_timeout_s: seconds before an unanswered topic is sent again alone.
        max_attempts: attempts before a topic counts as unacknowledged.
        whole_request: a rejection refuses its whole request (``Venue.rejects_whole_request``);
            when False only the topics it names are refused (per-topic answers).
    """

    topics: Sequence[Topic]
    limits: Limits = field(default_factory=Limits)
    ack_timeout_s: float = 10.0
    max_attempts: int = MAX_ATTEMPTS
    whole_request: bool = True
    states: dict[str, TopicState] = field(init=False)
    rejections: int = field(init=False, default=0)
    _ids: "itertools.count[int]" = field(init=False, repr=False)
    _requests: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.states = {t.key: TopicState(t) for t in self.topics}
        self._ids = itertools.count(1)
        self._requests = {}

    # -- planning -----------------------------------------------------------
    def plan(self, now: float) -> list[Request]:
        """Requests for every pending topic (initial subscribe, or after :meth:`reset`),
        liquidation topics first and in requests of their own."""
        waiting = [s for s in self.states.values() if s.status == "pending"]
        pending = [s.topic for s in waiting if not s.solo]
        liq = [t for t in pending if t.kind == "liquidations"]
        rest = [t for t in pending if t.kind != "liquidations"]
        per = self.limits.args_per_subscribe or max(len(pending), 1)
        out: list[Request] = []
        for group in (liq, rest):
            for i in range(0, len(group), per):
                out.append(self._request(group[i : i + per], now))
        return out + [self._request([s.topic], now) for s in waiting if s.solo]

    def _request(self, topics: Sequence[Topic], now: float) -> Request:
        req = Request(next(self._ids), tuple(topics))
        rid = str(req.id)
        self._requests[rid] = [t.key for t in topics]
        for t in topics:
            st = self.states[t.key]
            st.attempts += 1
            st.request = rid
            st.sent_at = now  # the sender stamps the real send time when it goes out
        return req

    def add(self, topics: Iterable[Topic]) -> list[Topic]:
        """Track new topics (a listing refresh); returns the ones not tracked before."""
        new = [t for t in topics if t.key not in self.states]
        for t in new:
            self.states[t.key] = TopicState(t)
        self.topics = [*self.topics, *new]
        return new

    def remove(self, keys: Iterable[str]) -> None:
        """Stop tracking topics (delisted)."""
        gone = set(keys)
        for k in gone:
            self.states.pop(k, None)
        self.topics = [t for t in self.topics if t.key not in gone]

    def reset(self) -> None:
        """A new socket: every topic not rejected is pending again, attempts restart."""
        self._requests.clear()
        for st in self.states.values():
            if st.status != "rejected":
                st.status, st.attempts, st.request, st.sent_at = "pending", 0, None, None

    # -- answers -------------------------------------------------------------
    def on_control(self, ctrl: Control, now: float) -> list[Request]:
        """Apply one ack or rejection; returns the requests to send again (one topic each)."""
        if ctrl.kind == "ack":
            keys = [k for k in ctrl.keys if k in self.states]
            in_request = [k for k in self._requests.get(ctrl.request or "", ()) if k in self.states]
            if not keys and ctrl.request is not None:
                keys = in_request
            for k in keys:
                st = self.states[k]
                if st.status != "rejected":
                    st.status, st.reason = "acked", ""
            if ctrl.exhaustive:  # the venue listed what it subscribed: the rest was refused
                for k in in_request:
                    if self.states[k].status == "pending":
                        self.states[k].status, self.states[k].reason = "rejected", "not in the venue's subscribe result"
            return []
        if ctrl.kind != "reject":
            return []
        return self._reject(ctrl, now)

    def _reject(self, ctrl: Control, now: float) -> list[Request]:
        self.rejections += 1
        rid = ctrl.request
        named_known = [k for k in ctrl.keys if k in self.states]
        if not self.whole_request and named_known:
            for k in named_known:
                self.states[k].status, self.states[k].reason = "rejected", ctrl.reason or "rejected"
            return []
        if (rid is None or rid not in self._requests) and ctrl.request_keys:
            rid = self._request_of(ctrl.request_keys)
        if rid is None or rid not in self._requests:
            rid = self.states[named_known[0]].request if named_known else self._oldest_waiting()
        in_request = [k for k in self._requests.get(rid or "", ()) if k in self.states] if rid else []
        named = {k for k in ctrl.keys if k in self.states}
        if len(in_request) == 1:
            named.add(in_request[0])
        for k in named:
            st = self.states[k]
            st.status, st.reason = "rejected", ctrl.reason or "rejected"
        if rid:
            self._requests.pop(rid, None)
        retry = [self.states[k].topic for k in in_request if k not in named and self.states[k].status == "pending"]
        for t in retry:
            self.states[t.key].solo = True
        return self._resend(retry, now)

    def _request_of(self, keys: Sequence[str]) -> str | None:
        """The request whose topics are exactly ``keys`` (an echoed request), newest first."""
        want = sorted(keys)
        for rid in reversed(list(self._requests)):
            if sorted(self._requests[rid]) == want:
                return rid
        return None

    def _oldest_waiting(self) -> str | None:
        for rid, keys in self._requests.items():
            if any(self.states[k].status == "pending" for k in keys if k in self.states):
                return rid
        return None

    def _resend(self, topics: Sequence[Topic], now: float) -> list[Request]:
        out = []
        for t in topics:
            st = self.states[t.key]
            if st.attempts >= self.max_attempts:
                st.status, st.reason = "unacked", f"no answer after {st.attempts} attempts"
            else:
                out.append(self._request([t], now))
        return out

    def due(self, now: float) -> list[Request]:
        """Requests for topics whose answer is overdue (each sent again alone)."""
        late = [
            s.topic for s in self.states.values()
            if s.status == "pending" and s.sent_at is not None and now - s.sent_at >= self.ack_timeout_s
        ]  # fmt: skip
        return self._resend(late, now)

    def next_deadline(self) -> float | None:
        """Monotonic time of the next ack timeout, None when nothing is waiting."""
        times = [s.sent_at + self.ack_timeout_s for s in self.states.values() if s.status == "pending" and s.sent_at is not None]
        return min(times) if times else None

    def ack_all(self) -> None:
        """Mark every pending topic acknowledged (venues without per-topic answers,
        on their first data frame)."""
        for st in self.states.values():
            if st.status == "pending":
                st.status = "acked"

    # -- summary -------------------------------------------------------------
    @property
    def requested(self) -> int:
        return len(self.states)

    @property
    def subscribed(self) -> int:
        return sum(1 for s in self.states.values() if s.status == "acked")

    @property
    def liquidations_ok(self) -> bool:
        """The connection's liquidation topics are all answered -- acknowledged, or refused
        by the venue (shown in health, the venue is then ``degraded``) -- and at least one
        is acknowledged. True when the connection carries none. A topic still waiting or
        never answered makes it False: no silent "ok"."""
        liq = [s.status for s in self.states.values() if s.topic.kind == "liquidations"]
        return not liq or ("acked" in liq and all(st in ("acked", "rejected") for st in liq))

    @property
    def liquidations_waiting(self) -> bool:
        """Some liquidation topic is still waiting for its first answer."""
        return any(s.status == "pending" for s in self.states.values() if s.topic.kind == "liquidations")

    def failed(self) -> dict[str, str]:
        """``{topic key: reason}`` of rejected and unacknowledged topics (at most MAX_REASONS)."""
        out: dict[str, str] = {}
        for k, s in self.states.items():
            if s.status in ("rejected", "unacked"):
                out[k] = s.reason
                if len(out) >= MAX_REASONS:
                    break
        return out

    def kinds(self) -> set[str]:
        """Stream kinds of the connection's topics."""
        return {t.kind for t in self.topics}
