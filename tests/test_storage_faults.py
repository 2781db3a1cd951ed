"""Optional tiers under faults (issue #12 item 3), against a DEDICATED redis-server (own port,
SIGSTOPped, then killed and restarted empty) and the local PostgreSQL behind a TCP proxy we
control (black-holed, then down): DuckDB commits never wait for them, and after recovery each
tier holds exactly what DuckDB committed -- none missing, none twice. Real liquidations
(five Binance captures). Skips loudly without redis-server or PostgreSQL. The long version
(30 s outages under a live serve) is ``benchmarks/bench_tiers.py``."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest

from conftest import BANDS, PAULIUS, RIFTFERN, free_port, load_liquidations
from tcpproxy import TcpProxy
from tierfaults import RedisServer, expected_ids, postgres_holdings, redis_holdings, scratch_pg_database, tier_report

from liqmap.storage.tiered import TieredStore


@pytest.fixture(scope="module")
def events():
    ev = load_liquidations(PAULIUS, RIFTFERN, BANDS)
    assert len(ev) > 4000
    return ev


async def test_hung_and_dead_tiers_never_stall_duckdb_and_come_back_complete(tmp_path, events):
    try:
        redis_srv = RedisServer(free_port()).start()
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.skip(f"no dedicated redis-server: {exc}")
    try:
        with scratch_pg_database() as pgname, TcpProxy(5432) as proxy:
            prefix = f"faults{uuid.uuid4().hex[:8]}"
            db = str(tmp_path / "f.duckdb")
            store = TieredStore(
                db, redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
                postgres_dsn=f"postgresql://postgres@127.0.0.1:{proxy.port}/{pgname}",
                institutional_usd=0.0, redis_prefix=prefix, flush_interval_s=3600, drain_s=40.0,
                mirror_options={"op_timeout_s": 1.0, "backoff_cap": 0.3, "max_backlog": 400})
            commits: list[float] = []
            chunk = 30
            n_chunks = (len(events) + chunk - 1) // chunk
            plan = {  # chunk index -> fault actions (each chunk ~25 ms apart)
                10: lambda: redis_srv.signal(signal.SIGSTOP),        # hung Redis
                25: lambda: proxy.set_mode("blackhole"),             # hung PostgreSQL network
                55: lambda: redis_srv.signal(signal.SIGCONT),
                70: lambda: proxy.set_mode("pass"),
                80: redis_srv.kill,                                  # hard stop: Redis loses everything
                85: lambda: proxy.set_mode("down"),                  # PostgreSQL unreachable
                100: redis_srv.start,
                110: lambda: proxy.set_mode("pass"),
            }
            assert n_chunks > 120
            states = set()
            for i in range(n_chunks):
                if i in plan:
                    await asyncio.to_thread(plan[i])
                await store.write(events[i * chunk:(i + 1) * chunk])
                t = time.perf_counter()
                await store.flush()  # one DuckDB commit per chunk
                commits.append(time.perf_counter() - t)
                states |= {(n, s["status"]) for n, s in store.tier_states().items()}
                await asyncio.sleep(0.025)
            summary = await store.close()
            tiers = summary["tiers"]
            assert max(commits) < 1.0, sorted(commits)[-5:]  # a hung tier never held a commit
            assert {("redis", "down"), ("postgres", "down")} <= states or {("redis", "degraded")} <= states, states
            for name in ("redis", "postgres"):
                assert tiers[name]["status"] == "ok" and tiers[name]["complete"], str({k: v for k, v in tiers[name].items() if k not in ("dsn", "url")})
                assert tiers[name]["dropped"] > 0 and tiers[name]["backfilled"] > 0, (name, tiers[name])
            want = expected_ids(db)
            assert len(want) == summary["stored"] > 4000
            pg = postgres_holdings(pgname)
            assert tier_report(want, pg["ids"], pg["rows"]) == {"expected": len(want), "missing": 0, "extra": 0,
                                                                 "duplicated": 0}
            rd = redis_holdings(redis_srv.port, prefix)
            assert tier_report(want, rd["seen"], len(rd["seen"]))["missing"] == 0
            assert rd["level_count"] == rd["bucket_count"] == len(want)  # every event counted once
    except OSError as exc:
        pytest.skip(str(exc))
    finally:
        redis_srv.kill()
