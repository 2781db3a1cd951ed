"""Liquidation-level heatmap: historical ingest, model, validation (docs: heatmap-model.md).

Modules:

* ``ingest``   -- data.binance.vision files (aggTrades, klines, metrics, liquidationSnapshot;
  zip/csv, header or not, ms/µs) → DuckDB, one transaction per file/day, resumable
  (fetching the files and venue REST history: ``liqmap.history``).
* ``brackets`` -- dated Binance maintenance-margin brackets and liquidation-price maths.
* ``engine``   -- dense-array simulation (open on OI rises by taker side and leverage ladder,
  side-specific closes, consumption when price crosses a level; optional gross intra-step
  opens/closes and a same-step liquidation share for coarse steps).
* ``model``    -- DuckDB → engine inputs; ``calculate_time_evolving_heatmap``,
  ``get_heatmap_timeseries`` (dict) / ``get_heatmap_timeseries_json`` (bytes).
* ``validate`` -- walk-forward hourly check against realized liquidations (``fit_hourly``
  chooses every parameter from first-half rows alone) and the forceOrder event-set check
  (``liqmap validate``).

The heatmap is an ESTIMATE of where liquidation levels sit, not observed data; every API
response carries its assumptions in ``meta``.
"""
