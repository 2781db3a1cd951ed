-- liqmap PostgreSQL schema v4 (TimescaleDB flavour): the market series serve collects live (issue #10),
-- the same columns and keys as the DuckDB tables (liqmap.storage.market), plus ts timestamptz,
-- the time partition key (open interest / mark: the venue's time; klines / trade bars: the
-- bar's open time). Rows are upserted on their key, so a replay stores nothing twice.
-- Hypertables with 1-day chunks and the 90-day retention policy of the liquidation tables.
-- NOT exercised by the test-suite: the project's machines have no timescaledb.
CREATE TABLE IF NOT EXISTS open_interest (
    exchange          text NOT NULL,
    symbol            text NOT NULL,
    base              text NOT NULL,
    quote             text NOT NULL,
    "timestamp"       bigint NOT NULL,            -- ms UTC, the venue's snapshot time
    open_interest     double precision NOT NULL,  -- base units, one side of the book
    open_interest_usd double precision,           -- USD, NULL when not derivable
    received_at       bigint NOT NULL,
    source            text NOT NULL,
    ts                timestamptz NOT NULL,       -- = to_timestamp("timestamp"/1000), the partition key
    PRIMARY KEY (exchange, symbol, ts)
);
CREATE TABLE IF NOT EXISTS mark_prices (
    exchange     text NOT NULL,
    symbol       text NOT NULL,
    "timestamp"  bigint NOT NULL,
    mark_price   double precision NOT NULL,
    index_price  double precision,
    funding_rate double precision,
    received_at  bigint NOT NULL,
    ts           timestamptz NOT NULL,
    PRIMARY KEY (exchange, symbol, ts)
);
CREATE TABLE IF NOT EXISTS klines (
    exchange               text NOT NULL,
    symbol                 text NOT NULL,
    "interval"             text NOT NULL,
    open_time              bigint NOT NULL,
    close_time             bigint NOT NULL,
    open                   double precision NOT NULL,
    high                   double precision NOT NULL,
    low                    double precision NOT NULL,
    close                  double precision NOT NULL,
    volume                 double precision NOT NULL,   -- base units
    quote_volume           double precision,
    taker_buy_volume       double precision,
    taker_buy_quote_volume double precision,
    trades                 bigint,
    source                 text NOT NULL,
    ts                     timestamptz NOT NULL,        -- = open_time
    PRIMARY KEY (exchange, symbol, "interval", ts)
);
CREATE TABLE IF NOT EXISTS trade_bars_1m (
    exchange    text NOT NULL,
    symbol      text NOT NULL,
    base        text NOT NULL,
    quote       text NOT NULL,
    open_time   bigint NOT NULL,
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    buy_volume  double precision NOT NULL,
    sell_volume double precision NOT NULL,
    buy_usd     double precision NOT NULL,
    sell_usd    double precision NOT NULL,
    trades      bigint NOT NULL,
    first_ts    bigint NOT NULL,
    last_ts     bigint NOT NULL,
    partial     boolean NOT NULL,
    ts          timestamptz NOT NULL,               -- = open_time
    PRIMARY KEY (exchange, symbol, ts)
);
SELECT create_hypertable('open_interest', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('open_interest', interval '90 days', if_not_exists => true);
SELECT create_hypertable('mark_prices', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('mark_prices', interval '90 days', if_not_exists => true);
SELECT create_hypertable('klines', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('klines', interval '90 days', if_not_exists => true);
SELECT create_hypertable('trade_bars_1m', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('trade_bars_1m', interval '90 days', if_not_exists => true);
