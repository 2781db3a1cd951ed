-- liqmap DuckDB schema, version 1.
-- liquidations: every Liquidation event, columns = liqmap.models.Liquidation fields.
-- id is the venue-stable de-duplication key: PRIMARY KEY makes INSERT OR IGNORE idempotent.
CREATE TABLE IF NOT EXISTS liquidations (
    exchange    VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    base        VARCHAR NOT NULL,
    quote       VARCHAR NOT NULL,
    side        VARCHAR NOT NULL,   -- 'long' | 'short' (position liquidated)
    price       DOUBLE  NOT NULL,   -- quote units
    quantity    DOUBLE  NOT NULL,   -- base units
    value_usd   DOUBLE  NOT NULL,   -- USD notional
    timestamp   BIGINT  NOT NULL,   -- exchange event time, ms UTC
    received_at BIGINT  NOT NULL,   -- local receipt time, ms UTC
    id          VARCHAR PRIMARY KEY,
    order_side  VARCHAR,
    status      VARCHAR
);
CREATE INDEX IF NOT EXISTS liquidations_exchange_ts ON liquidations (exchange, timestamp);

-- gaps: intervals without coverage per venue connection (liqmap.models.Gap), ms UTC.
CREATE TABLE IF NOT EXISTS gaps (
    exchange   VARCHAR NOT NULL,
    connection VARCHAR NOT NULL,
    start      BIGINT  NOT NULL,
    "end"      BIGINT  NOT NULL,
    reason     VARCHAR NOT NULL,
    PRIMARY KEY (exchange, connection, start, "end")
);

-- cascades: detected liquidation cascades, upserted by id on start/update/end.
CREATE TABLE IF NOT EXISTS cascades (
    id             VARCHAR PRIMARY KEY,
    symbol         VARCHAR NOT NULL,   -- base asset the cascade is keyed on (e.g. BTC)
    start_ts       BIGINT  NOT NULL,   -- ms UTC
    end_ts         BIGINT  NOT NULL,   -- ms UTC (last event so far while active)
    n_events       BIGINT  NOT NULL,
    value_usd      DOUBLE  NOT NULL,
    long_usd       DOUBLE  NOT NULL,
    short_usd      DOUBLE  NOT NULL,
    exchanges      VARCHAR[] NOT NULL,
    risk_score     DOUBLE,
    severity       VARCHAR,
    cross_exchange BOOLEAN NOT NULL,
    status         VARCHAR NOT NULL,   -- 'active' | 'ended'
    updated_at     BIGINT  NOT NULL    -- ms UTC
);
