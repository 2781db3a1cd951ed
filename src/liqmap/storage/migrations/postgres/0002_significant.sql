-- liqmap PostgreSQL schema v2: significant liquidations (value_usd >= institutional_usd).
-- Shared by both flavours: the partition_by placeholder is "PARTITION BY RANGE (ts)" in the native flavour
-- (0002_native.sql: monthly partitions, retention, materialized views) and empty in the
-- TimescaleDB flavour (0002_timescale.sql: hypertable, compression, continuous aggregates).
-- Object names are identical in both flavours so queries do not change.
CREATE TABLE IF NOT EXISTS liquidations_significant (
    exchange    text NOT NULL,
    symbol      text NOT NULL,
    base        text NOT NULL,
    quote       text NOT NULL,
    side        text NOT NULL CHECK (side IN ('long', 'short')),
    price       double precision NOT NULL,
    quantity    double precision NOT NULL,   -- base units
    value_usd   double precision NOT NULL,   -- USD
    "timestamp" bigint NOT NULL,             -- ms UTC (exchange time)
    received_at bigint NOT NULL,             -- ms UTC
    id          text NOT NULL,
    order_side  text,
    status      text,
    ts          timestamptz NOT NULL,        -- = to_timestamp("timestamp"/1000), the time partition key
    -- a unique key on a partitioned table must contain the time partition key; ts is a pure
    -- function of the event, so (id, ts) is unique exactly when id is.
    PRIMARY KEY (id, ts)
) ${partition_by};
CREATE INDEX IF NOT EXISTS liquidations_significant_base_ts ON liquidations_significant (base, ts);
CREATE INDEX IF NOT EXISTS liquidations_significant_exchange_ts ON liquidations_significant (exchange, ts);
