"""Liquidation-level heatmap: historical ingest, ONE model, validation (docs: heatmap-model.md).

Modules:

* ``ingest``    -- data.binance.vision files (aggTrades, klines, metrics, liquidationSnapshot;
  zip/csv, header or not, ms/µs) → DuckDB, one transaction per file/day, resumable
  (fetching the files and venue REST history: ``liqmap.history``).
* ``brackets``  -- dated Binance maintenance-margin brackets; linear and inverse liquidation prices.
* ``engine``    -- the causal stepper: ``new_state(params, step_ms)``, ``step(state, StepInput)``,
  ``dump_state``/``load_state``. Pure, no I/O.
* ``series``    -- klines + open interest → per-step inputs (the one feeder; time convention: step END).
* ``pipeline``  -- ``run(params, series)`` (the offline feeder), hourly aggregation.
* ``params``    -- the versioned parameters file ``params/<version>.json`` the API serves.
* ``model``     -- DuckDB history → the served heatmap (``get_heatmap_timeseries[_json]``).
* ``reference`` -- the real data shipped for validation (``reference/``, PROVENANCE.md there).
* ``baselines``, ``stats``, ``validate`` -- ``liqmap validate`` under a frozen ``protocol/<version>.json``.

The heatmap is an ESTIMATE of where liquidation levels sit, not observed data; every API
response carries its assumptions, parameter version and validation score in ``meta``.
"""
