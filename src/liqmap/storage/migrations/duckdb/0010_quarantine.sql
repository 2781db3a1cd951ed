-- Issue #12 (trust): events the plausibility gate stores apart, and the receipt-time flag.
-- (Numbered 0010, leaving 0006-0009 to the schema changes in flight on other branches.)

-- receipt_time: true where the venue gives no event time (BitMEX liquidation rows):
-- timestamp is then the local receipt time (liqmap.models.Liquidation.receipt_time).
ALTER TABLE liquidations ADD COLUMN IF NOT EXISTS receipt_time BOOLEAN DEFAULT false;

-- quarantine: liquidations kept apart from `liquidations` (liqmap.models.Quarantined):
-- reason 'price_far' (price > 4x from the symbol's recent price: reference_price) or
-- 'unvalued' (no USD value could be computed; value_usd NULL). Keyed by the event id.
CREATE TABLE IF NOT EXISTS quarantine (
    id              VARCHAR PRIMARY KEY,
    exchange        VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    reason          VARCHAR NOT NULL,
    reference_price DOUBLE,             -- quote units, NULL when none
    side            VARCHAR NOT NULL,   -- position liquidated
    price           DOUBLE  NOT NULL,   -- quote units
    quantity        DOUBLE,             -- base units
    value_usd       DOUBLE,             -- USD, NULL when unvalued
    "timestamp"     BIGINT  NOT NULL,   -- ms UTC
    received_at     BIGINT  NOT NULL,   -- ms UTC
    event           VARCHAR NOT NULL    -- the parsed liquidation as JSON
);
CREATE INDEX IF NOT EXISTS quarantine_exchange_ts ON quarantine (exchange, "timestamp");
