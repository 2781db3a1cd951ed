"""Replay core: ordering/merging, pacing, error counting (real fixture frames)."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from conftest import FIX
from liqmap.models import Liquidation, Trade
from liqmap.replay.pacing import Pacer
from liqmap.replay.runner import ReplayRunner

ARBITRA = FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl"
CSV = FIX / "binance_forceorder_datastreams/AlejandroME01_binance_liquidations_2024-06-20.csv"
AGG = FIX / "binance_forceorder_datastreams/AlejandroME01_binance_large_aggtrades_2024-06-19_2024-06-20.csv"


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_pacer_follows_recorded_time_over_speed():
    clock = FakeClock()
    p = Pacer(speed=10, clock=clock)
    assert p.delay(1_000) == 0.0  # anchor
    assert p.delay(3_000) == pytest.approx(0.2)  # 2 s recorded / 10
    clock.t += 0.15
    assert p.delay(3_000) == pytest.approx(0.05)
    assert p.delay(500) == 0.0  # out of order: released at once
    assert Pacer(None).delay(10**12) == 0.0


def test_pacer_caps_idle_gaps():
    clock = FakeClock()
    p = Pacer(speed=1, max_gap_s=2.0, clock=clock)
    p.delay(0)
    assert p.delay(86_400_000) == pytest.approx(2.0)  # a day-long hole becomes 2 s
    clock.t += 2.0
    assert p.delay(86_401_000) == pytest.approx(1.0)  # shorter gaps keep their spacing


def test_pacer_rejects_negative_speed():
    with pytest.raises(ValueError):
        Pacer(speed=-1)


def test_files_are_merged_by_received_at():
    r = ReplayRunner([AGG, CSV])
    times = [f.received_at for f in r.frames()]
    assert len(times) == 273 + 101
    assert times == sorted(times)
    # unordered: file after file
    u = [f.data[:12] for f in ReplayRunner([AGG, CSV], ordered=False).frames()]
    assert u[0].startswith('{"e":"aggTra') and u[-1].startswith('{"e":"forceO')


def test_iter_events_counts_per_exchange():
    r = ReplayRunner([ARBITRA, AGG])
    evs = list(r.iter_events())
    assert sum(type(e) is Liquidation for e in evs) == 42
    assert sum(type(e) is Trade for e in evs) == 273
    assert r.stats.count("binance", "liquidation") == 42
    assert r.stats.count("binance", "trade") == 273
    assert r.stats.frames == 315 and not r.stats.parse_errors


def test_bad_frames_are_counted_and_replay_continues(tmp_path):
    good = [json.loads(x) for x in ARBITRA.read_text().splitlines()[:2]]
    rec = tmp_path / "rec.jsonl.gz"
    with gzip.open(rec, "wt") as fh:
        fh.write('{"liqmap_recording": 1, "created_at": 0, "exchanges": ["binance"]}\n')
        frames = [
            {"exchange": "binance", "connection": "usdm", "received_at": 1, "data": json.dumps(good[0]["msg"])},
            {"exchange": "binance", "connection": "usdm", "received_at": 2, "data": '{"e":"forceOrder","E":1,"o":{"s":'},
            {"exchange": "nosuchvenue", "connection": "x", "received_at": 3, "data": "{}"},
            {"exchange": "binance", "connection": "usdm", "received_at": 4, "data": json.dumps(good[1]["msg"])},
        ]
        for f in frames:
            fh.write(json.dumps(f) + "\n")
    r = ReplayRunner([rec])
    evs = list(r.iter_events())
    assert [e.symbol for e in evs] == ["SOLUSDT", "EIGENUSDT"]
    assert r.stats.parse_errors == {"binance": 1}
    assert r.stats.error_samples["binance"]
    assert r.stats.no_parser == {"nosuchvenue": 1}


async def test_paced_replay_takes_recorded_time_over_speed():
    # arbitra: two sessions of ~10 s and ~56 s, 8 h apart; speed 1000, gaps capped at 20 ms
    r = ReplayRunner([ARBITRA], speed=1000, max_gap_s=0.02)
    t0 = time.monotonic()
    evs = [e async for e in r.events()]
    elapsed = time.monotonic() - t0
    assert len(evs) == 42
    assert 0.05 <= elapsed < 3.0
    rec = [e.received_at for e in evs]
    assert rec == sorted(rec)


async def test_unpaced_events_equal_the_sync_iteration_and_count():
    r = ReplayRunner([CSV])
    evs = [e async for e in r.events()]
    assert len(evs) == 101 and r.stats.count("binance", "liquidation") == 101
    assert [e.id for e in evs] == [e.id for e in ReplayRunner([CSV]).iter_events()]


def test_reorder_window_sorts_nearly_sorted_input_and_counts_the_rest():
    from liqmap.frames import RawFrame

    r = ReplayRunner([CSV])
    times = [5, 1, 2, 9, 3, 4, 10, 0]
    frames = [RawFrame("binance", "usdm", t, "{}") for t in times]
    out = [f.received_at for f in r._reordered(iter(frames), window=3)]
    assert out == [1, 2, 3, 4, 0, 5, 9, 10]  # nothing lost; "0" released as soon as seen
    assert r.stats.out_of_order == 1  # "0" arrived 7 frames late, beyond the window
    r2 = ReplayRunner([CSV])
    assert [f.received_at for f in r2._reordered(iter(frames), window=100)] == sorted(times)
    assert r2.stats.out_of_order == 0
