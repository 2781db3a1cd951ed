"""The PostgreSQL migration files per flavour (no server needed): one shared file per version
plus the flavour's own, ``${partition_by}`` filled in (:func:`liqmap.storage.postgres_store.migrations_for`).
The native flavour is applied to the real server in ``test_storage_postgres.py``; the TimescaleDB
flavour is checked here as text, since no project machine has the extension."""

from __future__ import annotations

import re

import pytest

import liqmap.storage.postgres_store as ps


def _tables(sql: str) -> dict[str, str]:
    """``{table: the text from its CREATE TABLE to the end of that statement}`` (comments removed)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    return {m.group(1): m.group(0) for m in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+) \((?:.|\n)*?\)[^;]*;", sql)}


def test_native_flavour_partitions_every_time_keyed_table_by_month():
    migrations = ps.migrations_for("native")
    assert [v for v, _, _ in migrations] == sorted({v for v, _, _ in migrations})  # one entry per version
    sql = "\n".join(s for _, _, s in migrations)
    assert "${" not in sql and "create_hypertable" not in sql and "timescaledb" not in sql
    tables = _tables(sql)
    for name in ps.PARTITIONED:
        assert tables[name].rstrip().endswith(") PARTITION BY RANGE (ts);"), name


def test_timescale_flavour_makes_hypertables_of_plain_tables():
    migrations = ps.migrations_for("timescale")
    sql = re.sub(r"--[^\n]*", "", "\n".join(s for _, _, s in migrations))  # comments name both flavours
    assert "${" not in sql and "PARTITION BY RANGE" not in sql and "liqmap_ensure_month_partition" in sql
    for name in ps.PARTITIONED:
        assert name in _tables(sql)
        hyper = sql.index(f"create_hypertable('{name}'")
        assert sql.index("CREATE EXTENSION IF NOT EXISTS timescaledb") < hyper
        assert sql.index(f"CREATE TABLE IF NOT EXISTS {name} ") < hyper
    names = dict((v, n) for v, n, _ in migrations)
    assert names[2] == "0002_significant.sql+0002_timescale.sql"  # shared first, the flavour's own after


def test_an_unknown_placeholder_or_flavour_is_refused(tmp_path, monkeypatch):
    (tmp_path / "0001_x.sql").write_text("CREATE TABLE t (a int) ${partiton_by};")
    monkeypatch.setattr(ps, "MIGRATIONS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"0001_x.sql: unknown placeholder \$\{partiton_by\}"):
        ps.migrations_for("native")
    with pytest.raises(ValueError, match="unknown flavour"):
        ps.migrations_for("citus")
