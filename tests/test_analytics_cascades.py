"""Cascade detector on real Binance/BitMEX liquidation captures.

Expectations are checked against plain-loop recomputations over the same rows
(never against numbers copied from the detector's output).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from conftest import ALEJANDRO, BANDS, NEOPARTH_1, NEOPARTH_2, PAULIUS, bitmex_xbtusd, load_liquidations
from liqmap.analytics.cascades import (
    CascadeConfig,
    CascadeDetector,
    cascade_row,
    detect_cascades,
)
from liqmap.analytics.risk import risk_score
from liqmap.models import Liquidation

UTC = dt.timezone.utc


def ms(y, mo, d, h, mi, s=0):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp() * 1000)


def qualifying_windows(liqs, window_ms=60_000, min_events=5, min_usd=100_000.0):
    """Independent brute force: (base, ts) of every event whose trailing window
    (ts - window_ms, ts] of the same base holds >= min_events and >= min_usd."""
    by = defaultdict(list)
    for liq in liqs:
        by[liq.base].append(liq)
    hits = []
    for base, ls in by.items():
        for i, liq in enumerate(ls):
            win = [x for x in ls[: i + 1] if x.timestamp > liq.timestamp - window_ms]
            if len(win) >= min_events and sum(x.value_usd for x in win) >= min_usd:
                hits.append((base, liq.timestamp))
    return hits


def interval_totals(liqs, base, start_ts, end_ts):
    sel = [x for x in liqs if x.base == base and start_ts <= x.timestamp <= end_ts]
    return (
        len(sel),
        sum(x.value_usd for x in sel),
        sum(x.value_usd for x in sel if x.side == "long"),
        sum(x.value_usd for x in sel if x.side == "short"),
    )


def ended(events):
    return [e.cascade for e in events if e.kind == "end"]


@pytest.fixture(scope="module")
def paulius():
    return load_liquidations(PAULIUS)


@pytest.fixture(scope="module")
def neoparth():
    return load_liquidations(NEOPARTH_1, NEOPARTH_2)


def test_selloff_2025_01_27_finds_btc_eth_doge_bursts(paulius):
    """2025-01-27 16:50-17:20 UTC (DeepSeek sell-off): BTC, ETH and DOGE cross
    5 events / 100k USD in 60 s; the detector must find cascades exactly for the
    bases where the brute-force window qualifies, covering every qualifying time,
    with totals equal to a plain sum over the cascade's interval."""
    day = [x for x in paulius if ms(2025, 1, 27, 16, 50) <= x.timestamp <= ms(2025, 1, 27, 17, 21)]
    assert len(day) > 300
    events = detect_cascades(day)
    cascades = ended(events)
    hits = qualifying_windows(day)
    assert {b for b, _ in hits} == {"BTC", "ETH", "DOGE"}
    assert {c.base for c in cascades} == {"BTC", "ETH", "DOGE"}
    for base, ts in hits:
        assert any(c.base == base and c.start_ts <= ts <= c.end_ts for c in cascades), (base, ts)
    for c in cascades:
        n, usd, long_usd, short_usd = interval_totals(day, c.base, c.start_ts, c.end_ts)
        assert c.events == n
        assert c.value_usd == pytest.approx(usd, rel=1e-9)
        assert c.long_usd == pytest.approx(long_usd, rel=1e-9, abs=1e-6)
        assert c.short_usd == pytest.approx(short_usd, rel=1e-9, abs=1e-6)
        assert c.value_usd >= 100_000 and c.events >= 5
        assert c.exchanges == ("binance",) and c.cross_exchange is False
        assert ms(2025, 1, 27, 16, 50) <= c.start_ts <= c.end_ts <= ms(2025, 1, 27, 17, 21)
    # a sell-off: long positions dominate what was liquidated in the cascades
    assert sum(c.long_usd for c in cascades) > 0.7 * sum(c.value_usd for c in cascades)
    # BTC burst twice (about 16:54 and 17:08), separated by a quiet spell
    btc = sorted((c for c in cascades if c.base == "BTC"), key=lambda c: c.start_ts)
    assert len(btc) == 2 and btc[1].start_ts - btc[0].end_ts > 60_000


def test_whole_paulius_file_has_cascades_only_on_the_selloff_day(paulius):
    cascades = ended(detect_cascades(paulius))
    assert cascades
    for c in cascades:
        assert ms(2025, 1, 27, 16, 50) <= c.start_ts <= ms(2025, 1, 27, 17, 21)


def test_squeeze_2025_06_23_btc_shorts(neoparth):
    """2025-06-23 ~21:15 UTC: BTC short squeeze. The BTC cascade's totals equal
    the plain sum of BTC rows in its interval and shorts dominate."""
    events = detect_cascades(neoparth)
    cascades = ended(events)
    hits = qualifying_windows(neoparth)
    assert {b for b, _ in hits} == {c.base for c in cascades}
    assert "BTC" in {c.base for c in cascades} and "ETH" in {c.base for c in cascades}
    for base, ts in hits:
        assert any(c.base == base and c.start_ts <= ts <= c.end_ts for c in cascades)
    btc = max((c for c in cascades if c.base == "BTC"), key=lambda c: c.value_usd)
    n, usd, long_usd, short_usd = interval_totals(neoparth, "BTC", btc.start_ts, btc.end_ts)
    assert (btc.events, btc.value_usd) == (n, pytest.approx(usd, rel=1e-9))
    assert short_usd > 0.8 * usd  # squeeze: shorts liquidated
    assert btc.short_usd == pytest.approx(short_usd, rel=1e-9)
    assert ms(2025, 6, 23, 21, 14) <= btc.start_ts <= ms(2025, 6, 23, 21, 17)
    assert btc.price_low == min(x.price for x in neoparth if x.base == "BTC" and btc.start_ts <= x.timestamp <= btc.end_ts)


def test_start_update_end_ordering_and_not_one_alert_per_event(paulius, neoparth):
    for data in (paulius, neoparth):
        events = detect_cascades(data)
        by_id = defaultdict(list)
        last_at = None
        for e in events:
            by_id[e.cascade.id].append(e)
            if last_at is not None:
                assert e.at_ts >= last_at
            last_at = e.at_ts
        assert by_id
        for cid, evs in by_id.items():
            kinds = [e.kind for e in evs]
            assert kinds[0] == "start" and kinds[-1] == "end"
            assert all(k == "update" for k in kinds[1:-1])
            counts = [e.cascade.events for e in evs]
            assert counts == sorted(counts)
            assert [e.cascade.open for e in evs] == [True] * (len(evs) - 1) + [False]
            # far fewer alerts than liquidations
            assert len(evs) <= 2 + evs[-1].cascade.events // 3
            peaks = [e.cascade.risk_score for e in evs]
            assert peaks == sorted(peaks)  # peak risk never decreases


@pytest.mark.parametrize("path", [BANDS, ALEJANDRO], ids=["bandsthobaby-2024-08-17", "alejandro-2024-06-20"])
def test_quiet_files_have_no_cascade(path):
    liqs = load_liquidations(path)
    assert len(liqs) > 50
    assert qualifying_windows(liqs) == []  # independent: nothing crosses the thresholds
    det = CascadeDetector()
    out = [e for liq in liqs for e in det.update(liq)] + det.flush()
    assert out == []


def test_lower_thresholds_do_find_bursts_in_quiet_file():
    """Guard against a detector that never fires: the same quiet file with a
    10k USD threshold yields cascades wherever the brute force qualifies."""
    liqs = load_liquidations(BANDS)
    cfg = CascadeConfig(min_value_usd=10_000)
    hits = qualifying_windows(liqs, min_usd=10_000)
    cascades = ended(detect_cascades(liqs, cfg))
    assert hits and {b for b, _ in hits} == {c.base for c in cascades}


def test_out_of_order_input_gives_same_cascades(neoparth):
    """Deliver real events up to 2 s out of order (deterministic jitter by id):
    same cascades (base, start within 2 s), totals within one event."""
    jitter = lambda liq: liq.timestamp + (sum(liq.id.encode()) * 7919) % 2000  # noqa: E731
    shuffled = sorted(neoparth, key=jitter)
    assert any(b.timestamp < a.timestamp for a, b in zip(shuffled, shuffled[1:]))
    base = ended(detect_cascades(neoparth))
    det = CascadeDetector()
    ev = [e for liq in shuffled for e in det.update(liq)] + det.flush()
    other = ended(ev)
    assert sorted(c.base for c in base) == sorted(c.base for c in other)
    for c in base:
        m = min((o for o in other if o.base == c.base), key=lambda o: abs(o.start_ts - c.start_ts))
        assert abs(m.start_ts - c.start_ts) <= 2_000
        assert abs(m.events - c.events) <= 2


def test_flush_closes_open_cascade_mid_burst(neoparth):
    cut = ms(2025, 6, 23, 21, 16)
    det = CascadeDetector()
    starts = [e for liq in neoparth if liq.timestamp <= cut for e in det.update(liq) if e.kind == "start"]
    assert any(e.cascade.base == "BTC" for e in starts)
    open_ = det.open_cascades()
    assert "BTC" in {c.base for c in open_}
    tail = det.flush()
    assert {e.cascade.base for e in tail} == {c.base for c in open_}
    assert all(e.kind == "end" and not e.cascade.open for e in tail)
    assert det.open_cascades() == [] and det.flush() == []


def test_expire_ends_quiet_cascade_on_wall_clock(neoparth):
    cut = ms(2025, 6, 23, 21, 16)
    det = CascadeDetector()
    for liq in neoparth:
        if liq.timestamp > cut:
            break
        det.update(liq)
    assert det.expire(cut + 1_000) == []  # still inside the quiet period
    ends = det.expire(cut + 10 * 60_000)
    assert ends and all(e.kind == "end" for e in ends)
    assert det.open_cascades() == []


def test_start_factors_equal_batch_risk_over_the_window(neoparth):
    """The incrementally maintained window gives the same risk factors as
    risk_score() over the independently selected window events."""
    det = CascadeDetector()
    checked = 0
    for liq in neoparth:
        for e in det.update(liq):
            if e.kind != "start":
                continue
            win = [x for x in neoparth if x.base == e.cascade.base and e.at_ts - 60_000 < x.timestamp <= e.at_ts]
            rs = risk_score(win)
            assert e.cascade.risk_score == pytest.approx(rs.score, abs=1e-9)
            for k, v in rs.factors.items():
                assert e.cascade.factors[k] == pytest.approx(v, abs=1e-9)
            checked += 1
    assert checked >= 3


def test_bitmex_real_cascade_single_venue_not_cross_exchange():
    """BitMEX XBTUSD 2019-11-15 ~14:30 UTC: a real burst on one venue."""
    liqs = bitmex_xbtusd()
    cascades = ended(detect_cascades(liqs))
    hits = qualifying_windows(liqs)
    assert hits and {c.base for c in cascades} == {"BTC"}
    for c in cascades:
        assert c.exchanges == ("bitmex",) and c.cross_exchange is False
        n, usd, _, _ = interval_totals(liqs, "BTC", c.start_ts, c.end_ts)
        assert (c.events, c.value_usd) == (n, pytest.approx(usd))


# ---- hand-made unit cases (NOT market data): the cross-exchange flag ---------

def _handmade(exchange: str, i: int, ts: int, usd: float = 30_000.0, side: str = "long") -> Liquidation:
    return Liquidation(
        exchange=exchange, symbol="BTCUSDT", base="BTC", quote="USDT", side=side,
        price=50_000.0 + i, quantity=usd / 50_000.0, value_usd=usd, timestamp=ts,
        received_at=ts, id=f"handmade-{exchange}-{i}",
    )


def test_cross_exchange_flag_handmade_unit_case():
    t0 = 1_000_000
    two_venues = [_handmade("binance" if i % 2 else "bybit", i, t0 + i * 5_000) for i in range(5)]
    det = CascadeDetector()
    out = [e for x in two_venues for e in det.update(x)]
    assert [e.kind for e in out] == ["start"]
    assert out[0].cascade.cross_exchange is True and out[0].cascade.exchanges == ("binance", "bybit")
    # same with 3 venues required -> not cross-exchange
    det3 = CascadeDetector(CascadeConfig(cross_exchange_min_venues=3))
    out3 = [e for x in two_venues for e in det3.update(x)]
    assert out3[0].cascade.cross_exchange is False
    # one venue first, then a second venue joins -> an update flips the flag
    det1 = CascadeDetector()
    one = [_handmade("binance", i, t0 + i * 5_000) for i in range(5)]
    out1 = [e for x in one for e in det1.update(x)]
    assert out1[0].cascade.cross_exchange is False
    upd = det1.update(_handmade("okx", 99, t0 + 30_000, usd=1_000.0))
    assert [e.kind for e in upd] == ["update"] and upd[0].cascade.cross_exchange is True


def test_config_validation_and_cascade_row():
    with pytest.raises(ValueError):
        CascadeConfig(min_events=0)
    with pytest.raises(ValueError):
        CascadeConfig(window_ms=0)
    with pytest.raises(ValueError):
        CascadeConfig(end_after_ms=-1)
    assert CascadeConfig().quiet_ms == 60_000 and CascadeConfig(end_after_ms=5).quiet_ms == 5
    t0 = 1_000_000
    ev = detect_cascades([_handmade("binance", i, t0 + i * 1_000) for i in range(5)])
    rows = [cascade_row(e) for e in ev]
    assert set(rows[0]) == {
        "id", "symbol", "start_ts", "end_ts", "n_events", "value_usd", "long_usd", "short_usd",
        "exchanges", "risk_score", "severity", "cross_exchange", "status", "updated_at",
    }
    assert rows[0]["status"] == "active" and rows[-1]["status"] == "ended"
    assert rows[-1]["n_events"] == 5 and rows[-1]["value_usd"] == pytest.approx(150_000)
    try:
        from liqmap.storage.duckdb_store import CASCADE_COLUMNS
    except ImportError:  # storage tier not present in this checkout
        return
    assert set(rows[0]) == set(CASCADE_COLUMNS)


def test_cascade_id_stable_when_late_event_predates_start(neoparth):
    """A real BTC event re-delivered late (after the cascade started) with an
    earlier timestamp must not change the cascade id used for upserts."""
    det = CascadeDetector()
    start = None
    for liq in neoparth:
        for e in det.update(liq):
            if e.kind == "start" and e.cascade.base == "BTC":
                start = e.cascade
        if start is not None:
            break
    assert start is not None
    earlier = next(x for x in reversed(neoparth) if x.base == "BTC" and x.timestamp < start.start_ts - 60_000)
    late = Liquidation(**{**{f: getattr(earlier, f) for f in earlier.__struct_fields__}, "id": "late-redelivery"})
    det.update(late)
    assert det.late_events == 1
    (open_btc,) = [c for c in det.open_cascades() if c.base == "BTC"]
    assert open_btc.id == start.id and open_btc.start_ts == earlier.timestamp
    assert open_btc.events == start.events + 1
    (end,) = [e for e in det.flush() if e.cascade.base == "BTC"]
    assert end.cascade.id == start.id
