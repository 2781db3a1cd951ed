"""Fault-injection helpers for the optional tiers (loopback only): a dedicated redis-server
that can be SIGSTOPped, killed and restarted, a scratch PostgreSQL database, and the check
that each tier holds exactly what DuckDB committed. Used by ``tests/test_storage_faults.py``
and ``benchmarks/bench_tiers.py``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import duckdb

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class RedisServer:
    """``redis-server`` on ``port`` without persistence (a restart loses everything)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server not installed")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not answer")

    def signal(self, sig: int) -> None:
        """Send ``sig`` (SIGSTOP: the server hangs with its sockets open; SIGCONT resumes)."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """Hard stop (SIGKILL): connections reset, data gone."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


@contextmanager
def scratch_pg_database() -> Iterator[str]:
    """A new database on the local PostgreSQL (dropped afterwards); yields its name.
    Raises ``OSError`` when PostgreSQL is not reachable."""
    import psycopg
    from psycopg import sql

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as exc:
        raise OSError(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}") from exc
    name = f"liqmap_faults_{uuid.uuid4().hex[:10]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def expected_ids(db_path: str, min_value_usd: float = 0.0, since_received_ms: int = 0) -> set[str]:
    """Ids of the liquidations committed in the DuckDB file (optionally: significant, received since)."""
    con = duckdb.connect(db_path, read_only=True)
    try:
        rows = con.execute("SELECT id FROM liquidations WHERE value_usd >= ? AND received_at >= ?",
                           [min_value_usd, since_received_ms]).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def redis_holdings(port: int, prefix: str) -> dict[str, int | set[str]]:
    """What a Redis tier holds: ``seen`` ids and the event counts summed over the level and
    60 s bucket hashes (each equals the number of events applied, once each)."""
    import redis

    r = redis.Redis(port=port)
    try:
        seen = {k.decode()[len(prefix) + 6:] for k in r.scan_iter(match=f"{prefix}:seen:*", count=5000)}
        levels = sum(int(r.hget(k, "count") or 0) for k in r.scan_iter(match=f"{prefix}:levels:*", count=5000))
        buckets = sum(int(r.hget(k, "count") or 0) for k in r.scan_iter(match=f"{prefix}:agg:*", count=5000))
    finally:
        r.close()
    return {"seen": seen, "level_count": levels, "bucket_count": buckets}


def postgres_holdings(dbname: str) -> dict[str, int | set[str]]:
    """Ids in ``liquidations_significant`` and the row count (a duplicate would show as rows > ids)."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{dbname}", connect_timeout=3) as c:
        ids = [r[0] for r in c.execute("SELECT id FROM liquidations_significant").fetchall()]
    return {"ids": set(ids), "rows": len(ids)}


def tier_report(expected: set[str], held: set[str], rows: int) -> dict[str, int]:
    """``{"expected", "missing", "extra", "duplicated"}`` of one tier against DuckDB."""
    return {"expected": len(expected), "missing": len(expected - held), "extra": len(held - expected),
            "duplicated": rows - len(held)}
