"""Alert delivery benchmark (plain script; prints figures). Run: ``uv run python benchmarks/bench_alerts.py``.

Load: a SYNTHETIC event generator (load test only, not market data): ``Liquidation`` structs
with unique ids, 1,000 events/s, submitted in 10 ms ticks from the event loop that also runs
the alert senders (as in ``liqmap serve``). The four sinks are the local mimic server of
tests/sinkservers.py (Telegram, Discord, Slack, JSON webhook shapes per their docs), run in its
own process because real sinks are remote.

Phases and targets (issue #15):

A. 1k events/s, every event a distinct alert (cooldown 0) to all four sinks: delivery latency
   (event submitted -> sink answered 2xx) p99 < 1 s per sink.
B. 1k events/s over 200 keys with a 1 s cooldown, 10 % of events re-submitted (replays):
   0 duplicate alerts and no two alerts of one key closer than the cooldown, checked on what
   the webhook sink RECEIVED.
C. 1k events/s with one sink failing (HTTP 500) and one hung (never answers) beside two healthy
   ones: ingestion is not slowed (submit() cost p99 vs. phase A with healthy sinks) and the
   healthy sinks still meet p99 < 1 s; the failing/hung sinks' drops and failures are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sinkservers import serve_in_process  # noqa: E402

from liqmap.alerts.dispatcher import AlertDispatcher  # noqa: E402
from liqmap.alerts.rules import LiquidationRule  # noqa: E402
from liqmap.alerts.sinks import DiscordSink, SlackSink, TelegramSink, WebhookSink  # noqa: E402
from liqmap.models import Liquidation  # noqa: E402
from liqmap.units import now_ms  # noqa: E402

RATE = 1_000
TICK_S = 0.010
SYMBOLS = [f"SYN{i}USDT" for i in range(100)]  # synthetic names: 100 symbols x 2 sides = 200 keys


def synthetic_liquidation(i: int) -> Liquidation:
    """The i-th SYNTHETIC liquidation (load generator; fields plausible, values not market data)."""
    sym = SYMBOLS[i % len(SYMBOLS)]
    side = "long" if (i // len(SYMBOLS)) % 2 == 0 else "short"
    t = now_ms()
    return Liquidation(exchange="synthetic", symbol=sym, base=sym[:-4], quote="USDT", side=side, price=100.0,
                       quantity=20.0, value_usd=2_000.0, timestamp=t, received_at=t, id=f"syn-{i}")


def sinks(url: str, **kw) -> list:
    return [TelegramSink(name="telegram", token="1:bench", chat_id="1", api_url=url, **kw),
            DiscordSink(name="discord", url=f"{url}/api/webhooks/1/bench", **kw),
            SlackSink(name="slack", url=f"{url}/services/T/B/X", **kw),
            WebhookSink(name="webhook", url=f"{url}/hook/bench", **kw)]


async def drive(d: AlertDispatcher, seconds: float, replay_share: float = 0.0) -> list[float]:
    """Submit RATE events/s for ``seconds`` (a share of them earlier events again, like a replay
    or a venue resend); returns the wall cost of each submit() in µs."""
    rng = random.Random(7)
    costs: list[float] = []
    per_tick = int(RATE * TICK_S)
    n_new = 0
    t_next = time.monotonic()
    end = t_next + seconds
    recent: list[Liquidation] = []
    while time.monotonic() < end:
        for _ in range(per_tick):
            if recent and rng.random() < replay_share:
                ev = recent[rng.randrange(len(recent))]
            else:
                ev = synthetic_liquidation(n_new)
                n_new += 1
                recent.append(ev)
                if len(recent) > 5000:
                    recent = recent[-2500:]
            t0 = time.perf_counter()
            d.submit(ev)
            costs.append((time.perf_counter() - t0) * 1e6)
        t_next += TICK_S
        await asyncio.sleep(max(0.0, t_next - time.monotonic()))
    return costs


async def wait_idle(d: AlertDispatcher, names, timeout: float = 30.0) -> None:
    t0 = time.monotonic()
    while not all(d.workers[n].idle() for n in names) and time.monotonic() - t0 < timeout:
        await asyncio.sleep(0.02)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report_sinks(d: AlertDispatcher, names) -> None:
    for n in names:
        s = d.workers[n].stats
        print(f"    {n:9s} delivered {s.delivered:6d}  messages {s.messages:5d}  dropped {s.dropped:6d}  "
              f"gave_up {s.gave_up:5d}  failures {s.failures:4d}  p50 {1000 * (s.quantile(0.5) or 0):6.1f} ms  "
              f"p99 {1000 * (s.quantile(0.99) or 0):6.1f} ms")


async def phase_a(url: str, seconds: float) -> tuple[bool, list[float]]:
    print(f"A. {RATE} events/s for {seconds:.0f} s, each a distinct alert, four healthy sinks")
    d = AlertDispatcher([LiquidationRule(name="all", min_usd=0, cooldown_s=0)], sinks(url))
    d.start()
    costs = await drive(d, seconds)
    await wait_idle(d, d.workers)
    report_sinks(d, d.workers)
    ok = all(d.workers[n].stats.delivered == len(costs) and (d.workers[n].stats.quantile(0.99) or 9) < 1.0
             for n in d.workers)
    await d.aclose()
    print(f"    submit() cost p50 {pct(costs, .5):.1f} µs  p99 {pct(costs, .99):.1f} µs  -> {'PASS' if ok else 'FAIL'}")
    return ok, costs


async def phase_b(url: str, seconds: float) -> bool:
    cooldown = 1.0
    print(f"B. {RATE} events/s for {seconds:.0f} s over {2 * len(SYMBOLS)} keys, cooldown {cooldown:g} s, 10 % replays")
    async with httpx.AsyncClient() as c:
        before = len((await c.get(f"{url}/_received/webhook")).json())
        d = AlertDispatcher([LiquidationRule(name="cool", min_usd=0, cooldown_s=cooldown)],
                            [s for s in sinks(url) if s.name == "webhook"])
        d.start()
        await drive(d, seconds, replay_share=0.10)
        await wait_idle(d, d.workers)
        await d.aclose()
        got = [a for _, body in (await c.get(f"{url}/_received/webhook")).json()[before:] for a in body["alerts"]]
    ids = [a["dedupe_id"] for a in got]
    dups = len(ids) - len(set(ids))
    by_key: dict[str, list[int]] = {}
    for a in got:
        by_key.setdefault(a["key"], []).append(a["emitted_at"])
    # emitted_at is ms wall time, the cooldown runs on the monotonic clock: allow 5 ms of skew
    close = sum(1 for ts in by_key.values() for x, y in zip(sorted(ts), sorted(ts)[1:]) if y - x < cooldown * 1000 - 5)
    st = d.rule_stats["cool"]
    print(f"    received {len(got)} alerts for {len(by_key)} keys; duplicates {dups}; pairs closer than cooldown "
          f"{close}; held back by cooldown {st['cooldown']}, by dedupe {st['duplicates']}")
    ok = dups == 0 and close == 0 and len(by_key) == 2 * len(SYMBOLS)
    print(f"    -> {'PASS' if ok else 'FAIL'}")
    return ok


async def phase_c(url: str, seconds: float, baseline: list[float]) -> bool:
    print(f"C. {RATE} events/s for {seconds:.0f} s; slack answers 500, discord hangs; telegram + webhook healthy")
    async with httpx.AsyncClient() as c:
        await c.post(f"{url}/_mode/slack/fail")
        await c.post(f"{url}/_mode/discord/hang")
    d = AlertDispatcher([LiquidationRule(name="all", min_usd=0, cooldown_s=0)],
                        sinks(url, timeout_s=5.0, queue_size=2000), backoff_base_s=0.2, backoff_cap_s=2.0)
    d.start()
    costs = await drive(d, seconds)
    await wait_idle(d, ["telegram", "webhook"])
    report_sinks(d, d.workers)
    healthy = all(d.workers[n].stats.delivered == len(costs) and (d.workers[n].stats.quantile(0.99) or 9) < 1.0
                  for n in ("telegram", "webhook"))
    bad_counted = all(d.workers[n].stats.dropped + d.workers[n].stats.gave_up > 0 for n in ("slack", "discord"))
    p99, base99 = pct(costs, .99), pct(baseline, .99)
    not_slowed = p99 < max(2 * base99, base99 + 20)
    print(f"    submit() cost p50 {pct(costs, .5):.1f} µs  p99 {p99:.1f} µs (phase A p99 {base99:.1f} µs)")
    await d.aclose(drain_s=0.1)
    ok = healthy and bad_counted and not_slowed
    print(f"    healthy sinks p99 < 1 s: {healthy}; failures counted: {bad_counted}; ingestion not slowed: "
          f"{not_slowed} -> {'PASS' if ok else 'FAIL'}")
    return ok


async def main(seconds: float) -> int:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=serve_in_process, args=(child,), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        ok_a, costs = await phase_a(url, seconds)
        ok_b = await phase_b(url, seconds)
        ok_c = await phase_c(url, seconds, costs)
    finally:
        proc.kill()
    ok = ok_a and ok_b and ok_c
    print("ALL PASS" if ok else "SOME TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    raise SystemExit(asyncio.run(main(ap.parse_args().seconds)))
