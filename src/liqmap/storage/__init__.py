"""Storage tiers, one module each, sharing :class:`liqmap.storage.base.EventStore`.

* :mod:`liqmap.storage.memory` -- L1: the newest hour of liquidations in process memory.
* :mod:`liqmap.storage.reads` -- the API's reads: L1 where it holds the whole window, else DuckDB.
* :mod:`liqmap.storage.duckdb_reads` / :mod:`liqmap.storage.archive_reads` -- the DuckDB tier's
  read queries (liquidations, gaps, cascades / the archive history tables).
* :mod:`liqmap.storage.duckdb_store` -- embedded default: every liquidation, gap and
  cascade in one DuckDB file (``LIQMAP_DB``), idempotent on ``id``.
* :mod:`liqmap.storage.market` -- per-venue open interest and klines in DuckDB.
* :mod:`liqmap.storage.redis_store` -- optional L2 live aggregates, 1-hour TTL (``LIQMAP_REDIS_URL``).
* :mod:`liqmap.storage.postgres_store` -- optional L3/L4: significant liquidations, cascades,
  rollups and views, versioned migrations (``LIQMAP_POSTGRES_DSN``).
* :mod:`liqmap.storage.tiered` -- :class:`TieredStore`, the one write path over all of
  them plus cascade detection (used by ``liqmap replay --db`` and ``liqmap serve``).

Nothing is imported here so that ``import liqmap.storage.memory`` stays light.
"""
