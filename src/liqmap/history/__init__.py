"""History in one command: archive downloads and venue REST backfill.

* :mod:`.vision`   -- data.binance.vision layout and the files a date range needs (pure)
* :mod:`.fetch`    -- one archive file: published SHA-256, HTTP Range resume, retries
* :mod:`.download` -- ``liqmap download``: plan → bounded-parallel fetch → file ingest
* :mod:`.rest`     -- rate-limited JSON GET (venue budgets, 429/418 ``Retry-After`` with a floor)
* :mod:`.binance`, :mod:`.bybit`, :mod:`.okx` -- each venue's OI / kline history endpoints
* :mod:`.backfill` -- ``backfill(venue, symbol, start_ms, end_ms, con)`` for ``serve`` and ``liqmap backfill``
"""
