"""Storage tiers, one module each, sharing :class:`liqmap.storage.base.EventStore`.

* :mod:`liqmap.storage.memory` -- L1, in-process recent events (analytics helper).
* :mod:`liqmap.storage.duckdb_store` -- embedded default: every liquidation, gap and
  cascade in one DuckDB file (``LIQMAP_DB``), idempotent on ``id``.
* :mod:`liqmap.storage.redis_store` -- optional L2 live aggregates, 1-hour TTL (``LIQMAP_REDIS_URL``).
* :mod:`liqmap.storage.postgres_store` -- optional L3/L4: significant liquidations, cascades,
  rollups and views, versioned migrations (``LIQMAP_POSTGRES_DSN``).
* :mod:`liqmap.storage.tiered` -- :class:`TieredStore`, the one write path over all of
  them plus cascade detection (used by ``liqmap replay --db`` and ``liqmap serve``).

Nothing is imported here so that ``import liqmap.storage.memory`` stays light.
"""
