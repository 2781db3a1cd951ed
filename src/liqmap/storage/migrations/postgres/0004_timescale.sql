-- TimescaleDB flavour of schema v4 (after 0004_market_series.sql): the market series become
-- hypertables with 1-day chunks and the 90-day retention policy of the liquidation tables.
-- NOT exercised by the test-suite: the project's machines have no timescaledb.
SELECT create_hypertable('open_interest', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('open_interest', interval '90 days', if_not_exists => true);
SELECT create_hypertable('mark_prices', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('mark_prices', interval '90 days', if_not_exists => true);
SELECT create_hypertable('klines', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('klines', interval '90 days', if_not_exists => true);
SELECT create_hypertable('trade_bars_1m', 'ts', chunk_time_interval => interval '1 day', if_not_exists => true);
SELECT add_retention_policy('trade_bars_1m', interval '90 days', if_not_exists => true);
