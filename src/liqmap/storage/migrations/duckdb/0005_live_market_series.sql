-- liqmap DuckDB schema, version 5: the market series serve collects live (issue #10).
-- Written by liqmap.storage.market from liqmap.analytics.market_series rows; keyed by venue,
-- instrument and time, so a replay (or a restart re-reading the same frames) stores nothing
-- twice (INSERT OR REPLACE). Live open interest goes to `open_interest` and closed venue
-- klines to `klines` (version 3), with source 'live'.

-- trade_bars_1m: one minute of one instrument's trades (exchange time), built from the trade
-- stream: OHLC and the taker buy / sell split the heatmap model reads.
CREATE TABLE IF NOT EXISTS trade_bars_1m (
    exchange    VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,   -- venue-native symbol
    base        VARCHAR NOT NULL,
    quote       VARCHAR NOT NULL,
    open_time   BIGINT  NOT NULL,   -- ms UTC, minute start; the bar covers [open_time, open_time + 60000)
    open        DOUBLE  NOT NULL,   -- quote units
    high        DOUBLE  NOT NULL,
    low         DOUBLE  NOT NULL,
    close       DOUBLE  NOT NULL,
    buy_volume  DOUBLE  NOT NULL,   -- base units bought by takers
    sell_volume DOUBLE  NOT NULL,   -- base units sold by takers
    buy_usd     DOUBLE  NOT NULL,   -- USD notional of taker buys
    sell_usd    DOUBLE  NOT NULL,   -- USD notional of taker sells
    trades      BIGINT  NOT NULL,
    first_ts    BIGINT  NOT NULL,   -- ms UTC of the first / last trade in the bar
    last_ts     BIGINT  NOT NULL,
    partial     BOOLEAN NOT NULL,   -- the feed may have missed trades of this minute (start, gap)
    PRIMARY KEY (exchange, symbol, open_time)
);

-- mark_prices: the venue's mark price, the last one of each minute per instrument.
CREATE TABLE IF NOT EXISTS mark_prices (
    exchange     VARCHAR NOT NULL,
    symbol       VARCHAR NOT NULL,
    timestamp    BIGINT  NOT NULL,  -- the venue's time of the value, ms UTC
    mark_price   DOUBLE  NOT NULL,  -- quote units
    index_price  DOUBLE,
    funding_rate DOUBLE,            -- fraction per funding interval
    received_at  BIGINT  NOT NULL,  -- ms UTC
    PRIMARY KEY (exchange, symbol, timestamp)
);
