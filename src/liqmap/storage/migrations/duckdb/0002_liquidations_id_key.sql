-- liqmap DuckDB schema, version 2: fixed-width de-duplication key.
-- The PRIMARY KEY moves from the VARCHAR id to id_key UHUGEINT = md5_number(id), i.e. the
-- 128-bit MD5 digest of the UTF-8 id read as a little-endian unsigned integer
-- (Python: int.from_bytes(hashlib.md5(id.encode()).digest(), "little")). A 16-byte ART key
-- is cheaper to maintain and probe than the string (batched insert and duplicate replay got
-- faster, see benchmarks/bench_storage.py). id stays a normal column with the same value,
-- so readers that select columns by name see no change; id_key is an extra last column.
-- Collision bound: two distinct ids share a key with probability about n^2 / 2^129
-- (n = 10^10 stored events: ~1.5e-19); such a pair would be stored once.
-- Rebuilds the table (copying a version-1 table, also one created without a key by a
-- reader, keeping the first row per id).
CREATE TABLE liquidations_v2 (
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
    id          VARCHAR NOT NULL,   -- venue-stable event id (unique through id_key)
    order_side  VARCHAR,
    status      VARCHAR,
    id_key      UHUGEINT PRIMARY KEY  -- md5_number(id)
);
INSERT INTO liquidations_v2
SELECT exchange, symbol, base, quote, side, price, quantity, value_usd, timestamp, received_at,
       id, order_side, status, md5_number(id)
FROM (SELECT DISTINCT ON (id) * FROM liquidations ORDER BY id, received_at);
DROP INDEX IF EXISTS liquidations_exchange_ts;
DROP TABLE liquidations;
ALTER TABLE liquidations_v2 RENAME TO liquidations;
CREATE INDEX liquidations_exchange_ts ON liquidations (exchange, timestamp);
