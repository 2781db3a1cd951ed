"""The collecting side: feeds -> one merged, deduplicated event stream.

* ``feed.adapter``    -- :class:`ExchangeAdapter`: one live venue (websocket connections + REST polls)
* ``feed.replay``     -- :class:`ReplayFeed`: recorded files through the same venue parsers
* ``feed.aggregator`` -- :class:`ExchangeAggregator`: merges the feeds, de-duplicates once, fans out
* ``feed.fanout``     -- consumer queues (drop-oldest views, lossless storage side)
* ``feed.connection`` / ``rest`` / ``dispatch`` / ``backoff`` / ``health`` / ``recorder`` /
  ``dedupe`` -- the machinery of one feed

The storing side (``liqmap.serve``) consumes the aggregator's stream; nothing else crosses.
"""
