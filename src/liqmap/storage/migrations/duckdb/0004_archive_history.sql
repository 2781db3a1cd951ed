-- liqmap DuckDB schema, version 4: the Binance archive history tables the heatmap model reads.
-- Loaded by liqmap.heatmap.ingest (data.binance.vision files) and liqmap.history (download,
-- REST backfill mirror). Until this version ingest created them on demand; IF NOT EXISTS keeps
-- the tables (and rows) of files made that way. Columns and units: liqmap.heatmap.ingest.
-- No keys: a file load replaces its symbol's rows in the file's UTC range in one transaction.
-- Times are BIGINT ms UTC, prices USDT, quantities base units.

-- ingest_log: one row per loaded file (resume: name + size + sha256 already loaded = skip).
CREATE TABLE IF NOT EXISTS ingest_log (
    kind VARCHAR, symbol VARCHAR, interval VARCHAR, file_name VARCHAR, size BIGINT, sha256 VARCHAR,
    rows BIGINT, range_start BIGINT, range_end BIGINT, loaded_at BIGINT
);

-- aggtrades_history: Binance aggregated trades (is_buyer_maker = the taker sold).
CREATE TABLE IF NOT EXISTS aggtrades_history (
    symbol VARCHAR, agg_trade_id BIGINT, price DOUBLE, quantity DOUBLE, first_trade_id BIGINT,
    last_trade_id BIGINT, timestamp BIGINT, is_buyer_maker BOOLEAN
);

-- aggtrades_flow_5m: taker flow per 5-minute step (step_end), taker side and 5 bps log-price cell.
CREATE TABLE IF NOT EXISTS aggtrades_flow_5m (
    symbol VARCHAR, step_end BIGINT, taker_sell BOOLEAN, cell INTEGER, qty DOUBLE, notional DOUBLE
);

-- open_interest_history: Binance metrics (sum_open_interest in contracts = base units, value in USDT).
CREATE TABLE IF NOT EXISTS open_interest_history (
    symbol VARCHAR, timestamp BIGINT, sum_open_interest DOUBLE, sum_open_interest_value DOUBLE,
    count_toptrader_long_short_ratio DOUBLE, sum_toptrader_long_short_ratio DOUBLE,
    count_long_short_ratio DOUBLE, sum_taker_long_short_vol_ratio DOUBLE, source VARCHAR
);

-- liquidation_snapshot_history: Binance liquidationSnapshot rows (exact duplicates removed on load).
CREATE TABLE IF NOT EXISTS liquidation_snapshot_history (
    symbol VARCHAR, time BIGINT, side VARCHAR, order_type VARCHAR, time_in_force VARCHAR,
    original_quantity DOUBLE, price DOUBLE, average_price DOUBLE, order_status VARCHAR,
    last_fill_quantity DOUBLE, accumulated_fill_quantity DOUBLE
);

-- klines_<interval>_history: Binance klines, one table per interval of liqmap.units.INTERVAL_MS.
CREATE TABLE IF NOT EXISTS klines_1m_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_3m_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_5m_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_15m_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_30m_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_1h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_2h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_4h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_6h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_8h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_12h_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
CREATE TABLE IF NOT EXISTS klines_1d_history (
    symbol VARCHAR, open_time BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    close_time BIGINT, quote_volume DOUBLE, count BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE
);
