-- liqmap DuckDB schema, version 11: the cross-exchange market view (issue #15).
-- Written by liqmap.storage.market with the live collector's rows, keyed so that a replay (or
-- a restart re-reading the same frames) stores nothing twice (INSERT OR REPLACE).

-- market_tickers: one instrument's merged ticker as of the end of one second (last value of
-- that second; liqmap.analytics.ticker_series). Prices in quote units; sizes, volume and open
-- interest in base units; *_usd in USD; funding_rate a fraction per funding interval.
CREATE TABLE IF NOT EXISTS market_tickers (
    exchange          VARCHAR NOT NULL,
    symbol            VARCHAR NOT NULL,   -- venue-native symbol
    second            BIGINT  NOT NULL,   -- ms UTC, start of the second
    timestamp         BIGINT  NOT NULL,   -- exchange time of the second's last ticker, ms UTC
    received_at       BIGINT  NOT NULL,   -- ms UTC
    bid_price         DOUBLE,
    bid_size          DOUBLE,
    ask_price         DOUBLE,
    ask_size          DOUBLE,
    last_price        DOUBLE,
    mark_price        DOUBLE,
    index_price       DOUBLE,
    volume_24h        DOUBLE,
    volume_24h_usd    DOUBLE,
    funding_rate      DOUBLE,
    next_funding_time BIGINT,             -- ms UTC
    open_interest     DOUBLE,
    open_interest_usd DOUBLE,
    PRIMARY KEY (exchange, symbol, second)
);

-- arbitrage_opportunities: each cross-venue opportunity's last state (open, then closed), by id
-- (liqmap.analytics.arbitrage.ArbitrageOpportunity).
CREATE TABLE IF NOT EXISTS arbitrage_opportunities (
    id             VARCHAR NOT NULL PRIMARY KEY,  -- {base}/{family}:{buy}>{sell}:{opened_at}
    base           VARCHAR NOT NULL,
    quote_family   VARCHAR NOT NULL,
    buy_exchange   VARCHAR NOT NULL,
    buy_symbol     VARCHAR NOT NULL,
    buy_price      DOUBLE  NOT NULL,              -- best ask, quote units
    sell_exchange  VARCHAR NOT NULL,
    sell_symbol    VARCHAR NOT NULL,
    sell_price     DOUBLE  NOT NULL,              -- best bid, quote units
    gross_bps      DOUBLE  NOT NULL,
    fees_bps       DOUBLE  NOT NULL,
    net_bps        DOUBLE  NOT NULL,
    peak_net_bps   DOUBLE  NOT NULL,
    funding_spread DOUBLE,
    opened_at      BIGINT  NOT NULL,              -- ms UTC
    updated_at     BIGINT  NOT NULL,
    closed_at      BIGINT,                        -- ms UTC; NULL while open
    duration_ms    BIGINT  NOT NULL,
    is_open        BOOLEAN NOT NULL               -- False once closed
);
CREATE INDEX IF NOT EXISTS arbitrage_opened ON arbitrage_opportunities (base, opened_at);
