"""Parser throughput on REAL fixture frames, single core.

Every registered venue (``liqmap.exchanges.registry``) is measured on the real
liquidation frames its test module gives (``liquidation_frames()`` in
``tests/test_parse_<module>.py``), then on each of its cryptofeed sample sessions
(all channels); frames are parsed in a loop for ~1 s through ``Venue.parse``;
prints frames/s and events/s (CPU time, median of 5 rounds) and the fastest batch's
frames/s (wall clock: a core's speed when no other process shares it). Target: >= 300k
liquidation frames/s per core.

Optional comparison: if ``/tmp/cfvenv`` holds a cryptofeed install (a throwaway
venv, not a project dependency), the same Binance and Bybit frames go through
cryptofeed's own message handlers in that interpreter, and the ratio is printed.

Run: ``uv run python benchmarks/bench_parsers.py [--seconds 1.0]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from liqmap.exchanges.base import safe_parse  # noqa: E402
from liqmap.exchanges.registry import VENUE_NAMES, get_venue  # noqa: E402
from test_parse_fixtures import cryptofeed_frames, tardis_messages, venue_liquidation_frames, venue_sessions  # noqa: E402


def liquidation_frames() -> dict[str, list[str]]:
    """Real liquidation frames per venue (and variants, ``"bybit (all shapes)"``), as
    the text a websocket delivers, from each venue's test module."""
    out: dict[str, list[str]] = {}
    for name in VENUE_NAMES:
        out.update(venue_liquidation_frames(name))
    return out


def session_frames(venue_name: str, session: str) -> list[str]:
    """Frames of a recorded session that the venue parses without error (a frame it
    rejects, e.g. a venue error reply, would stop the timed loop)."""
    venue = get_venue(venue_name)
    out = []
    for _, text in cryptofeed_frames(session):
        if safe_parse(venue, text, 1)[1] is None:
            out.append(text)
    return out


ROUNDS = 5


def bench(venue_name: str, frames: list[str], seconds: float) -> tuple[float, float, float, float]:
    """(frames/s, events/s, wall frames/s) of the median round, and the best batch's frames/s."""
    venue = get_venue(venue_name)
    # warm-up (also the XBT price for BitMEX quanto rows)
    for f in frames:
        safe_parse(venue, f, 1)
    # ROUNDS rounds of seconds/ROUNDS each; the median round is reported.
    # Rates use this process's CPU time (time.process_time), i.e. the cost per
    # frame on one core, so time slices taken by other processes on the shared
    # machine do not count; the wall-clock rate is returned too. On the shared
    # VM the CPU time still grows with the machine's load (cores and caches are
    # shared), so the fastest batch (>= 64 frames, ~0.2 ms, wall clock) is kept
    # as well: the parser's speed on an uncontended core, the figure that moves
    # least with other sessions' work.
    parse = venue.parse
    batch = frames * max(1, 64 // len(frames))
    rounds = []
    best = 0.0
    clock = time.perf_counter
    for _ in range(ROUNDS):
        n_frames = 0
        n_events = 0
        cpu0, wall0 = time.process_time(), clock()
        deadline = wall0 + seconds / ROUNDS
        while True:
            t0 = clock()
            for f in batch:
                n_events += len(parse(f, 1_700_000_000_000, "bench"))
            t1 = clock()
            best = max(best, len(batch) / (t1 - t0))
            n_frames += len(batch)
            if t1 >= deadline:
                break
        cpu = time.process_time() - cpu0
        wall = clock() - wall0
        rounds.append((n_frames / cpu, n_events / cpu, n_frames / wall))
    rounds.sort()
    med = rounds[len(rounds) // 2]
    return med[0], med[1], med[2], best


CF_SCRIPT = r"""
import json, sys, time, asyncio
from cryptofeed.exchanges import BinanceFutures, Bybit
from cryptofeed.defines import LIQUIDATIONS
frames = json.load(open(sys.argv[1]))
seconds = float(sys.argv[2])
async def cb(obj, ts):
    pass
def make(cls):
    # Built without Feed.__init__ (which fetches the symbol list over the network);
    # symbol mapping is the identity, which slightly FAVOURS cryptofeed.
    f = object.__new__(cls)
    f.callbacks = {LIQUIDATIONS: [cb]}
    f.requires_authentication = False
    f.exchange_symbol_to_std_symbol = lambda s: s
    return f
class Conn:
    address = "wss://stream.bybit.com/v5/public/linear"
async def run(feed, msgs):
    rates = []
    for _ in range(5):
        n = 0
        c0, w0 = time.process_time(), time.perf_counter()
        while time.perf_counter() - w0 < seconds / 5:
            for m in msgs:
                await feed.message_handler(m, Conn, 1.0)
            n += len(msgs)
        rates.append(n / (time.process_time() - c0))
    return sorted(rates)[2]
loop = asyncio.new_event_loop()
out = {k: loop.run_until_complete(run(make(cls), frames[k])) for k, cls in (("binance", BinanceFutures), ("bybit", Bybit))}
print(json.dumps(out))
"""


def cryptofeed_compare(frames: dict[str, list[str]], seconds: float) -> dict | str:
    """cryptofeed frames/s (CPU time) on the same frames, run in /tmp/cfvenv."""
    py = Path("/tmp/cfvenv/bin/python")
    if not py.exists():
        return "cryptofeed venv /tmp/cfvenv not present (python3 -m venv /tmp/cfvenv; /tmp/cfvenv/bin/pip install cryptofeed)"
    tmp = Path("/tmp/liqmap_bench_cf_frames.json")
    tmp.write_text(json.dumps(frames))
    script = Path("/tmp/liqmap_bench_cf.py")
    script.write_text(CF_SCRIPT)
    try:
        res = subprocess.run([str(py), str(script), str(tmp), str(seconds)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "cryptofeed run timed out"
    if res.returncode != 0:
        return "cryptofeed run failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--no-cryptofeed", action="store_true")
    args = ap.parse_args()
    frames = liquidation_frames()
    print(f"liqmap parser throughput, single core, {args.seconds:.1f} s per row (real fixture frames);")
    print("frames/s and events/s per CPU-second of this process (median of 5 rounds); wall fr/s includes")
    print(f"time lost to other processes (load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    print("best fr/s: the fastest batch of >= 64 frames (wall clock), an uncontended core's speed")
    print(f"{'venue / frames':40} {'n':>5} {'frames/s':>11} {'events/s':>11} {'wall fr/s':>11} {'best fr/s':>11}")
    results = {}
    for label, fr in frames.items():
        venue = label.split(" ")[0]
        fps, eps, med, best = bench(venue, fr, args.seconds)
        results[label] = fps
        print(f"{label + ' liquidations':40} {len(fr):>5} {fps:>11,.0f} {eps:>11,.0f} {med:>11,.0f} {best:>11,.0f}")
    for venue in VENUE_NAMES:
        for session in venue_sessions(venue):
            fr = session_frames(venue, session)
            fps, eps, med, best = bench(venue, fr, args.seconds)
            label = f"{venue} session {session.removesuffix('.gz')}"
            print(f"{label:40} {len(fr):>5} {fps:>11,.0f} {eps:>11,.0f} {med:>11,.0f} {best:>11,.0f}")
    if not args.no_cryptofeed:
        # cryptofeed 2.4 handles Bybit's deprecated ``liquidation.`` topic only (not
        # allLiquidation), so the Bybit comparison uses the real v5 GALAUSDT frame of that topic.
        gala = [json.dumps(r["message"], separators=(",", ":")) for r in tardis_messages("bybit")
                if r["message"]["topic"] == "liquidation.GALAUSDT"]
        same = {"binance": frames["binance"], "bybit": gala}
        ours = {"binance": bench("binance", same["binance"], args.seconds)[0], "bybit": bench("bybit", gala, args.seconds)[0]}
        cf = cryptofeed_compare(same, args.seconds)
        print("\nsame frames through cryptofeed's message_handler (CPU-time frames/s):")
        if isinstance(cf, dict):
            for k, v in cf.items():
                print(f"  {k:8} liqmap {ours[k]:>10,.0f}   cryptofeed {v:>10,.0f}   ratio {ours[k] / v:.2f}x")
        else:
            print("  " + cf)


if __name__ == "__main__":
    main()
