-- liqmap DuckDB schema, version 7: the live heatmap serve keeps current (issue #10 item 3).
-- Written by liqmap.storage.heatmap_store, one transaction per advance (levels + steps + state),
-- so a crash leaves the state and the stored steps consistent and a restart resumes.

-- heatmap_state: the serialized live model of one underlying (liqmap.heatmap.live.LiveHeatmap).
CREATE TABLE IF NOT EXISTS heatmap_state (
    base           VARCHAR NOT NULL,  -- underlying, e.g. BTC
    params_version VARCHAR NOT NULL,  -- heatmap/params/<version>.json in use
    step_ms        BIGINT  NOT NULL,  -- model step, ms
    first_end      BIGINT  NOT NULL,  -- end of the run's first step, ms UTC
    t_end          BIGINT,            -- end of the last step run, ms UTC
    state          BLOB    NOT NULL,  -- LiveHeatmap.dump()
    updated_at     BIGINT  NOT NULL,  -- ms UTC
    PRIMARY KEY (base, params_version, step_ms)
);

-- heatmap_steps: one row per step run: its inputs and what it did.
CREATE TABLE IF NOT EXISTS heatmap_steps (
    base           VARCHAR NOT NULL,
    params_version VARCHAR NOT NULL,
    t_end          BIGINT  NOT NULL,  -- step end, ms UTC; the step covers (t_end - step, t_end]
    close          DOUBLE,            -- reference price at the step end (NULL unknown)
    price_source   VARCHAR NOT NULL,  -- liqmap.heatmap.series.SOURCES
    oi             DOUBLE,            -- open interest fed to the model (chain-linked aggregate, base units)
    oi_total       DOUBLE,            -- sum of the instruments that reported (base units)
    oi_total_usd   DOUBLE,            -- their USD value
    oi_partial     BOOLEAN NOT NULL,  -- an expected instrument did not report
    oi_present     VARCHAR[] NOT NULL, -- instruments that reported (exchange:symbol)
    oi_missing     VARCHAR[] NOT NULL, -- instruments expected that did not
    consumed_long  DOUBLE  NOT NULL,  -- USD liquidated in the step, modelled
    consumed_short DOUBLE  NOT NULL
);

-- heatmap_levels: the book after each step, per model cell (price = exp((cell + 0.5) * g),
-- g = ln(1 + cell_bps / 1e4) of the parameters), cells with at least 0.5 USD on a side.
CREATE TABLE IF NOT EXISTS heatmap_levels (
    base           VARCHAR NOT NULL,
    params_version VARCHAR NOT NULL,
    t_end          BIGINT  NOT NULL,
    cell           INTEGER NOT NULL,  -- global log-price cell
    long_usd       DOUBLE  NOT NULL,  -- estimated open long liquidation notional, USD
    short_usd      DOUBLE  NOT NULL
);
