"""AlertDispatcher: events in, alerts out to every sink, without ever blocking the caller.

::

    submit(event)            (ingestion thread / event loop; synchronous, O(rules of that type))
        │  rules whose ``inputs`` include type(event): rule.match(event) -> Alert | None
        │  Throttle.check(rule, key, dedupe_id, cooldown)   duplicate / cooldown -> counted
        ▼
    SinkWorker.offer(alert)  for each sink the rule names (all when it names none)
        bounded queue per sink: a hung sink fills only its own queue; drops are counted

:meth:`AlertDispatcher.submit` is for code running in the dispatcher's event loop;
:meth:`AlertDispatcher.submit_threadsafe` hands an event over from another thread (e.g. the
storage thread that detects cascades). A rule that raises is logged and counted
(``rule_errors``); it never propagates into ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable, Sequence

import msgspec

from liqmap.alerts.alert import Alert
from liqmap.alerts.delivery import SinkWorker
from liqmap.alerts.rules import Rule
from liqmap.alerts.sinks.base import Outcome, Sink
from liqmap.alerts.throttle import Throttle
from liqmap.units import now_ms

log = logging.getLogger("liqmap.alerts")


class AlertDispatcher:
    """Route events through rules to sinks (module docstring).

    Args:
        rules: the rules (disabled ones are ignored).
        sinks: the sinks.
        cooldown_s: cooldown of rules that set none (seconds).
        throttle: a :class:`Throttle` (inject one with a fake clock in tests).
        worker_kwargs: passed to every :class:`SinkWorker` (backoff, transport).

    Raises:
        ValueError: duplicate rule/sink names, or a rule naming an unknown sink.
    """

    def __init__(self, rules: Sequence[Rule], sinks: Sequence[Sink], cooldown_s: float = 60.0,
                 throttle: Throttle | None = None, **worker_kwargs: Any) -> None:
        _unique("rule", [r.name for r in rules])
        _unique("sink", [s.name for s in sinks])
        self.workers: dict[str, SinkWorker] = {s.name: SinkWorker(s, **worker_kwargs) for s in sinks}
        self.rules = [r for r in rules if r.enabled]
        self.cooldown_s = cooldown_s
        self.throttle = throttle or Throttle()
        self._targets: dict[str, list[SinkWorker]] = {}
        self._by_type: dict[type, list[Rule]] = {}
        for r in self.rules:
            unknown = [n for n in (r.sinks or []) if n not in self.workers]
            if unknown:
                raise ValueError(f"rule {r.name!r} names unknown sink(s) {', '.join(unknown)}; "
                                 f"configured: {', '.join(self.workers) or 'none'}")
            self._targets[r.name] = [self.workers[n] for n in r.sinks] if r.sinks else list(self.workers.values())
            for t in r.inputs:
                self._by_type.setdefault(t, []).append(r)
        self.rule_stats: dict[str, dict[str, int]] = {
            r.name: {"matched": 0, "sent": 0, "duplicates": 0, "cooldown": 0} for r in self.rules}
        self.rule_errors = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- ingestion side ---------------------------------------------------------------------
    def submit(self, event: Any) -> int:
        """Evaluate ``event``; returns the number of alerts admitted (0 for most events)."""
        rules = self._by_type.get(type(event))
        if not rules:
            return 0
        admitted = 0
        t0 = time.monotonic()
        for rule in rules:
            try:
                alert = rule.match(event)
            except Exception:
                self.rule_errors += 1
                log.exception("alert rule %s failed on %s", rule.name, type(event).__name__)
                continue
            if alert is None:
                continue
            st = self.rule_stats[rule.name]
            st["matched"] += 1
            cooldown = self.cooldown_s if rule.cooldown_s is None else rule.cooldown_s
            verdict, held = self.throttle.check(rule.name, alert.key, alert.dedupe_id, cooldown)
            if verdict != "send":
                st["duplicates" if verdict == "duplicate" else "cooldown"] += 1
                continue
            if held:
                alert = msgspec.structs.replace(alert, suppressed=held)
            st["sent"] += 1
            admitted += 1
            for w in self._targets[rule.name]:
                w.offer(alert, t0)
        return admitted

    def submit_many(self, events: Iterable[Any]) -> int:
        """:meth:`submit` each event; total alerts admitted."""
        return sum(self.submit(e) for e in events)

    def submit_threadsafe(self, event: Any) -> None:
        """Hand ``event`` to the dispatcher's loop from another thread (no-op before :meth:`start`)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.submit, event)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start every sink's senders in the running loop."""
        self._loop = asyncio.get_running_loop()
        for w in self.workers.values():
            w.start()

    async def aclose(self, drain_s: float = 2.0) -> None:
        """Let queued alerts go out for up to ``drain_s`` seconds, then stop."""
        await asyncio.gather(*(w.stop(drain_s) for w in self.workers.values()))
        self._loop = None

    # -- reporting --------------------------------------------------------------------------
    def stats(self) -> dict:
        """``{"rules": {name: counters}, "sinks": {name: counters}, "rule_errors": n}``."""
        return {"rules": {k: dict(v) for k, v in self.rule_stats.items()},
                "sinks": {k: w.stats.as_dict() for k, w in self.workers.items()},
                "rule_errors": self.rule_errors}

    async def test(self, attempts: int = 2) -> dict[str, tuple[Outcome, float]]:
        """Send one test alert to every sink now (bypassing rules and queues).

        Returns ``{sink name: (Outcome, seconds taken)}``; never raises for a sink's failure."""
        alert = test_alert()

        async def one(w: SinkWorker) -> tuple[Outcome, float]:
            t0 = time.monotonic()
            out = Outcome(False, False, None, "nothing to send")
            try:
                for req in w.sink.requests([alert]):
                    out = await w.post(req.url, req.body, req.headers, max_attempts=attempts)
                    if not out.ok:
                        break
            finally:
                if w._client is not None:
                    await w._client.aclose()
                    w._client = None
            return out, time.monotonic() - t0

        results = await asyncio.gather(*(one(w) for w in self.workers.values()))
        return dict(zip(self.workers, results))


def test_alert() -> Alert:
    """The message ``liqmap alerts test`` sends."""
    ts = now_ms()
    return Alert(rule="test", kind="test", key="test", dedupe_id=f"test:{ts}", severity="info",
                 title="liqmap test alert", text="If you can read this, liqmap can deliver alerts here.",
                 fields={"test": True}, event_ts=ts, emitted_at=ts)


def _unique(what: str, names: list[str]) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate {what} name(s): {', '.join(dup)}")
