-- Exchange comparison (plain view: always current). Per UTC day and exchange: counts, USD
-- totals, long/short split and the exchange's share of that day's significant USD volume.
CREATE OR REPLACE VIEW liquidations_exchange_comparison AS
SELECT date_trunc('day', ts) AS day, exchange,
       count(*) AS n_events,
       sum(value_usd) AS value_usd,
       sum(value_usd) FILTER (WHERE side = 'long') AS long_usd,
       sum(value_usd) FILTER (WHERE side = 'short') AS short_usd,
       max(value_usd) AS largest_usd,
       sum(value_usd) / sum(sum(value_usd)) OVER (PARTITION BY date_trunc('day', ts)) AS share_of_day
FROM liquidations_significant
GROUP BY 1, 2;

-- Price-level clusters of one symbol over the last `hours` hours before `until` (default now()).
-- `symbol` matches the venue symbol (BTCUSDT) or the base asset (BTC), case-insensitive.
CREATE OR REPLACE FUNCTION get_price_level_clusters(symbol text, hours int, until timestamptz DEFAULT now())
RETURNS TABLE (base text, level double precision, side text, n_events bigint, value_usd double precision,
               first_ts bigint, last_ts bigint, exchanges text[])
LANGUAGE sql STABLE AS $$
    SELECT l.base, liqmap_price_level(l.base, l.price) AS level, l.side,
           count(*), sum(l.value_usd), min(l."timestamp"), max(l."timestamp"),
           array_agg(DISTINCT l.exchange ORDER BY l.exchange)
    FROM liquidations_significant l
    WHERE (upper(l.symbol) = upper($1) OR upper(l.base) = upper($1))
      AND l.ts > $3 - make_interval(hours => $2) AND l.ts <= $3
    GROUP BY 1, 2, 3
    ORDER BY 5 DESC
$$;
