-- liqmap PostgreSQL schema v1 (shared by the native and the TimescaleDB flavour).
-- Level size rule mirrored from liqmap.analytics.levels (BTC 100, ETH 10, else the
-- largest 1-2-5 step <= price / 500), so SQL aggregates use the same grid as Python.
CREATE OR REPLACE FUNCTION liqmap_level_size(base text, price double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    raw double precision;
    e integer;
    mant double precision;
BEGIN
    IF upper(base) IN ('BTC', 'XBT') THEN RETURN 100; END IF;
    IF upper(base) = 'ETH' THEN RETURN 10; END IF;
    IF price IS NULL OR price <= 0 THEN RETURN NULL; END IF;
    raw := price / 500.0;
    e := floor(log(raw));
    mant := raw / power(10::double precision, e);
    IF mant >= 9.999999 THEN e := e + 1; mant := 1; END IF;
    IF mant >= 5 - 1e-9 THEN RETURN 5 * power(10::double precision, e); END IF;
    IF mant >= 2 - 1e-9 THEN RETURN 2 * power(10::double precision, e); END IF;
    RETURN power(10::double precision, e);
END $$;

CREATE OR REPLACE FUNCTION liqmap_price_level(base text, price double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT floor(price / liqmap_level_size(base, price) + 1e-9) * liqmap_level_size(base, price)
$$;

-- Cascades are few: a plain table, upserted by id on every start/update/end.
CREATE TABLE IF NOT EXISTS liquidation_cascades (
    id             text PRIMARY KEY,           -- '{base}-{start_ts}'
    symbol         text NOT NULL,              -- base asset (BTC)
    start_ts       bigint NOT NULL,            -- ms UTC
    end_ts         bigint NOT NULL,            -- ms UTC
    start_time     timestamptz GENERATED ALWAYS AS (to_timestamp(start_ts / 1000.0)) STORED,
    n_events       bigint NOT NULL,
    value_usd      double precision NOT NULL,
    long_usd       double precision NOT NULL,
    short_usd      double precision NOT NULL,
    exchanges      text[] NOT NULL,
    risk_score     double precision,
    severity       text,
    cross_exchange boolean NOT NULL,
    status         text NOT NULL,              -- 'active' | 'ended'
    updated_at     bigint NOT NULL             -- ms UTC
);
CREATE INDEX IF NOT EXISTS liquidation_cascades_symbol_start ON liquidation_cascades (symbol, start_ts DESC);
