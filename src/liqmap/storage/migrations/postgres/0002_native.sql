-- Native flavour of schema v2 (no TimescaleDB; after 0002_significant.sql): declarative monthly
-- range partitions created on demand, retention by dropping partitions, materialized views
-- refreshed by liqmap (PostgresStore.refresh()).

-- Create the monthly partition holding month_start (any timestamp in the month). Returns its name.
CREATE OR REPLACE FUNCTION liqmap_ensure_month_partition(parent text, month_start timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi timestamptz := lo + interval '1 month';
    part text := format('%s_p%s', parent, to_char(lo AT TIME ZONE 'UTC', 'YYYYMM'));
BEGIN
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       part, parent, lo, hi);
    END IF;
    RETURN part;
END $$;

-- Retention job (liqmap calls it; no pg_cron needed): drop partitions whose whole range is
-- older than now() - keep. Returns the dropped partition names.
CREATE OR REPLACE FUNCTION liqmap_drop_old_partitions(parent text DEFAULT 'liquidations_significant',
                                                      keep interval DEFAULT interval '90 days')
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    upper_bound timestamptz;
BEGIN
    FOR r IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
    LOOP
        upper_bound := substring(r.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper_bound IS NOT NULL AND upper_bound <= now() - keep THEN
            EXECUTE format('DROP TABLE %I', r.relname);
            RETURN NEXT r.relname;
        END IF;
    END LOOP;
END $$;

-- Hourly rollup of significant liquidations (refresh: PostgresStore.refresh()).
CREATE MATERIALIZED VIEW IF NOT EXISTS liquidations_hourly AS
SELECT date_trunc('hour', ts) AS hour, exchange, base, side,
       count(*) AS n_events, sum(value_usd) AS value_usd, sum(quantity) AS quantity,
       max(value_usd) AS largest_usd
FROM liquidations_significant
GROUP BY 1, 2, 3, 4
WITH DATA;
CREATE UNIQUE INDEX IF NOT EXISTS liquidations_hourly_key ON liquidations_hourly (hour, exchange, base, side);

-- Price-level heatmap aggregates: per base, hour, side and price level (same grid as Python).
CREATE MATERIALIZED VIEW IF NOT EXISTS liquidations_price_levels AS
SELECT base, date_trunc('hour', ts) AS hour, side, liqmap_price_level(base, price) AS level,
       count(*) AS n_events, sum(value_usd) AS value_usd, min("timestamp") AS first_ts,
       max("timestamp") AS last_ts
FROM liquidations_significant
GROUP BY 1, 2, 3, 4
WITH DATA;
CREATE UNIQUE INDEX IF NOT EXISTS liquidations_price_levels_key ON liquidations_price_levels (base, hour, side, level);
