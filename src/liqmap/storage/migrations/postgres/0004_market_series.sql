-- liqmap PostgreSQL schema v4: the market series serve collects live (issue #10), the same
-- columns and keys as the DuckDB tables (liqmap.storage.market), plus ts timestamptz, the time
-- partition key (open interest / mark: the venue's time; klines / trade bars: the bar's open time).
-- Rows are upserted on their key, so a replay stores nothing twice.
-- Shared by both flavours: the partition_by placeholder is "PARTITION BY RANGE (ts)" in the native flavour
-- (monthly range partitions created on demand by liqmap_ensure_month_partition, dropped by
-- liqmap_drop_old_partitions like the liquidation tables') and empty in the TimescaleDB flavour,
-- whose 0004_timescale.sql then makes them hypertables.
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
) ${partition_by};
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
) ${partition_by};
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
) ${partition_by};
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
) ${partition_by};
