-- TimescaleDB flavour of schema v2 (chosen instead of 0002_native.sql when the timescaledb
-- extension is available; after 0002_significant.sql). NOT exercised by the test-suite: the
-- project's machines have no timescaledb.
CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('liquidations_significant', 'ts', chunk_time_interval => interval '1 day',
                         if_not_exists => true);
ALTER TABLE liquidations_significant SET (timescaledb.compress, timescaledb.compress_segmentby = 'base');
SELECT add_compression_policy('liquidations_significant', interval '7 days', if_not_exists => true);
SELECT add_retention_policy('liquidations_significant', interval '90 days', if_not_exists => true);

-- Compatibility shims: the store calls these on both flavours.
CREATE OR REPLACE FUNCTION liqmap_ensure_month_partition(parent text, month_start timestamptz)
RETURNS text LANGUAGE sql AS $$ SELECT NULL::text $$;
CREATE OR REPLACE FUNCTION liqmap_drop_old_partitions(parent text DEFAULT 'liquidations_significant',
                                                      keep interval DEFAULT interval '90 days')
RETURNS SETOF text LANGUAGE sql AS $$ SELECT drop_chunks(parent::regclass, older_than => now() - keep)::text $$;

CREATE MATERIALIZED VIEW IF NOT EXISTS liquidations_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(interval '1 hour', ts) AS hour, exchange, base, side,
       count(*) AS n_events, sum(value_usd) AS value_usd, sum(quantity) AS quantity,
       max(value_usd) AS largest_usd
FROM liquidations_significant
GROUP BY 1, 2, 3, 4
WITH NO DATA;
SELECT add_continuous_aggregate_policy('liquidations_hourly', start_offset => interval '3 days',
       end_offset => interval '1 minute', schedule_interval => interval '15 minutes', if_not_exists => true);

CREATE MATERIALIZED VIEW IF NOT EXISTS liquidations_price_levels WITH (timescaledb.continuous) AS
SELECT base, time_bucket(interval '1 hour', ts) AS hour, side, liqmap_price_level(base, price) AS level,
       count(*) AS n_events, sum(value_usd) AS value_usd, min("timestamp") AS first_ts,
       max("timestamp") AS last_ts
FROM liquidations_significant
GROUP BY 1, 2, 3, 4
WITH NO DATA;
SELECT add_continuous_aggregate_policy('liquidations_price_levels', start_offset => interval '3 days',
       end_offset => interval '1 minute', schedule_interval => interval '15 minutes', if_not_exists => true);
