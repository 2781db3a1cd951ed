"""Redis tier against the real server on 127.0.0.1:6379 (skipped with the reason when absent)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from liqmap.analytics.buckets import bucket_start
from liqmap.analytics.levels import price_level
from conftest import FIX
from liqmap.analytics.market_series import MarketSeries
from liqmap.replay.runner import ReplayRunner
from liqmap.storage.redis_store import KEY_TYPES, RedisStore

from test_storage_loader import SQUEEZE, load_liquidations

pytestmark = pytest.mark.redis

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def store():
    import redis.asyncio as aioredis

    probe = aioredis.from_url(URL, socket_connect_timeout=1.0)
    try:
        await probe.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {exc}")
    finally:
        await probe.aclose()
    prefix = f"liqtest{uuid.uuid4().hex[:10]}"
    s = RedisStore(URL, prefix=prefix)
    yield s
    cleaner = aioredis.from_url(URL)
    keys = [k async for k in cleaner.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await cleaner.delete(*keys)
    await cleaner.aclose()
    await s.close()


async def _all_keys(store):
    return [k.decode() async for k in store.client.scan_iter(match=f"{store.prefix}:*", count=1000)]


async def test_level_and_bucket_aggregates_match_python(store):
    events = load_liquidations(SQUEEZE[0]) + load_liquidations(SQUEEZE[1])
    uniq = {e.id: e for e in reversed(events)}
    await store.write(events[:400])
    await store.write(events[400:])
    assert store.stats()["pipelines"] == 2
    assert store.stats()["stored"] == len(uniq)

    ref_lvl = defaultdict(lambda: [0, 0.0, 0])
    ref_bkt = defaultdict(lambda: [0, 0.0, 0, 0.0])  # count, usd, long count, long usd
    for e in uniq.values():
        r = ref_lvl[(e.base, price_level(e.base, e.price), e.side)]
        r[0] += 1
        r[1] += e.value_usd
        r[2] = max(r[2], e.timestamp)
        b = ref_bkt[(e.base, bucket_start(e.timestamp, 60_000))]
        b[0] += 1
        b[1] += e.value_usd
        if e.side == "long":
            b[2] += 1
            b[3] += e.value_usd
    (base, lvl, side), (n, usd, last) = max(ref_lvl.items(), key=lambda kv: kv[1][1])
    got = await store.level(base, lvl, side)
    assert got["count"] == n and got["last_ts"] == last
    assert got["value_usd"] == pytest.approx(usd, rel=1e-9)
    (base, b0), (n, usd, n_long, long_usd) = max(ref_bkt.items(), key=lambda kv: kv[1][1])
    got = await store.bucket(base, b0 + 59_999)
    assert got["count"] == n and got.get("long_count", 0) == n_long and got.get("short_count", 0) == n - n_long
    assert got["value_usd"] == pytest.approx(usd, rel=1e-9)
    assert got.get("long_usd", 0) == pytest.approx(long_usd, rel=1e-9)
    assert got.get("short_usd", 0) == pytest.approx(usd - long_usd, rel=1e-9)
    # number of keys = number of distinct levels + buckets + seen markers
    keys = await _all_keys(store)
    assert sum(k.startswith(f"{store.prefix}:levels:") for k in keys) == len(ref_lvl)
    assert sum(k.startswith(f"{store.prefix}:agg:") for k in keys) == len(ref_bkt)


async def test_replay_does_not_double_count(store):
    events = load_liquidations(SQUEEZE[0])
    await store.write(events)
    e = events[-1]
    before = await store.level(e.base, price_level(e.base, e.price), e.side)
    await store.write(events)
    after = await store.level(e.base, price_level(e.base, e.price), e.side)
    assert before == after
    assert store.stats()["duplicates_skipped"] == len(events) + (len(events) - len({x.id for x in events}))


async def test_one_key_type_per_family_and_ttl(store):
    """Would catch a WRONGTYPE clash: every key of a family has that family's single type,
    and updating a cascade status twice (start then update) uses the same command."""
    events = load_liquidations(SQUEEZE[1])
    await store.write(events)
    await store.set_cascade_status([{"symbol": "BTC", "id": "c1", "status": "active", "risk_score": 0.4}])
    await store.set_cascade_status([{"symbol": "BTC", "id": "c1", "status": "ended", "risk_score": 0.9}])
    await store.write(events[:5])  # writes after a status update must not hit WRONGTYPE either
    # latest open interest, mark and 1-minute bar (real BitMEX instrument rows, Binance aggTrades)
    market = MarketSeries()
    rows = market.add(ReplayRunner([str(FIX / "cryptofeed_sample_data" / n) for n in
                                    ("BITMEX.0.gz", "BINANCE_FUTURES.ws.1.0.gz")]).iter_events())
    rows.extend(market.flush())
    await store.set_latest(rows)
    await store.set_latest(rows)
    keys = await _all_keys(store)
    seen_families = set()
    for k in keys:
        family = k.split(":")[1]
        seen_families.add(family)
        assert (await store.client.type(k)).decode() == KEY_TYPES[family], k
        ttl = await store.client.ttl(k)
        assert 0 < ttl <= 3600, k
    assert seen_families == set(KEY_TYPES)
    assert (await store.cascade_status("btc"))["status"] == "ended"


async def test_db_number_from_url_and_unreachable_error():
    from liqmap.storage.base import StorageError

    s = RedisStore("redis://127.0.0.1:1/3", prefix="x")
    assert s.client.connection_pool.connection_kwargs["db"] == 3
    with pytest.raises(StorageError, match="not reachable at redis://127.0.0.1:1/3"):
        await s.ping()
    await s.close()


def test_stats_reports_every_counter_in_order():
    """``stats()`` keys and their order (the storage report / API show them as they come)."""
    from liqmap.storage.redis_store import COUNTERS

    class _NoServer:
        def register_script(self, script):
            return None

    s = RedisStore(URL, prefix="liq", client=_NoServer())
    assert list(s.stats()) == ["tier", "url", "pending", "prefix", "stored", "duplicates_skipped", "pipelines",
                               "cascade_updates", "latest_updates", "errors"]
    s.stored += 3
    assert s.stats()["stored"] == 3 and all(s.stats()[k] == 0 for k in COUNTERS if k != "stored")
