-- liqmap DuckDB schema, version 3: per-venue market series, keyed by venue.
-- One row per (exchange, symbol, time): a REST backfill, a live collector and a replay of
-- the same snapshot/candle write the same key, so re-storing replaces instead of duplicating
-- (INSERT OR REPLACE, liqmap.storage.market). Columns mirror liqmap.models.OpenInterest and
-- liqmap.models.Kline, plus `source` (which endpoint/stream produced the row).
-- Binance's archive-derived heatmap tables (open_interest_history, klines_<interval>_history)
-- stay as they are: they hold Binance only and have no venue column.

-- open_interest: one side of the book per venue instrument.
CREATE TABLE IF NOT EXISTS open_interest (
    exchange          VARCHAR NOT NULL,   -- venue name as in liqmap.exchanges.registry
    symbol            VARCHAR NOT NULL,   -- venue-native symbol (BTCUSDT, BTC-USDT-SWAP)
    base              VARCHAR NOT NULL,   -- underlying, e.g. BTC
    quote             VARCHAR NOT NULL,   -- quote/settle currency, e.g. USDT
    timestamp         BIGINT  NOT NULL,   -- the venue's snapshot time, ms UTC
    open_interest     DOUBLE  NOT NULL,   -- base units (contracts x contract size), one side
    open_interest_usd DOUBLE,             -- USD value at the venue's price; NULL when not derivable
    received_at       BIGINT  NOT NULL,   -- local receipt time, ms UTC
    source            VARCHAR NOT NULL,   -- e.g. 'rest:openInterestHist', 'rest:open-interest'
    PRIMARY KEY (exchange, symbol, timestamp)
);

-- klines: OHLCV candles per venue instrument and interval.
CREATE TABLE IF NOT EXISTS klines (
    exchange               VARCHAR NOT NULL,
    symbol                 VARCHAR NOT NULL,
    interval               VARCHAR NOT NULL,  -- Binance vocabulary: 1m, 5m, 15m, 1h ...
    open_time              BIGINT  NOT NULL,  -- ms UTC
    close_time             BIGINT  NOT NULL,  -- ms UTC, open_time + interval - 1
    open                   DOUBLE  NOT NULL,  -- quote units
    high                   DOUBLE  NOT NULL,
    low                    DOUBLE  NOT NULL,
    close                  DOUBLE  NOT NULL,
    volume                 DOUBLE  NOT NULL,  -- base units
    quote_volume           DOUBLE,            -- quote units
    taker_buy_volume       DOUBLE,            -- base units (Binance only)
    taker_buy_quote_volume DOUBLE,            -- quote units (Binance only)
    trades                 BIGINT,
    source                 VARCHAR NOT NULL,
    PRIMARY KEY (exchange, symbol, interval, open_time)
);
