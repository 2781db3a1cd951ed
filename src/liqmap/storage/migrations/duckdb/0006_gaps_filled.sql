-- liqmap DuckDB schema, version 6: a gap can be filled from the venue's history.
-- filled = true once the feed fetched the gap's window from the venue's public
-- liquidation history (liqmap.feed.backfill; liqmap.models.Gap.filled): the window's
-- liquidations are stored, so the gap no longer counts as missing coverage.
ALTER TABLE gaps ADD COLUMN filled BOOLEAN DEFAULT false;
