"""The cross-exchange market view with I/O at its edge (issue #15).

* :mod:`.view` -- :class:`MarketView`: the live state one process keeps (quotes, snapshots,
  arbitrage, whale tape, failover), fed by the event stream; used by ``liqmap serve``.
* :mod:`.health` -- venue health -> the failover ranking's :class:`~liqmap.analytics.failover.VenueHealth`.
* :mod:`.manager` -- :class:`ExchangeManager`: the library interface over one
  :class:`~liqmap.feed.aggregator.ExchangeAggregator`.

The numbers themselves are computed by the pure modules of :mod:`liqmap.analytics`.
"""

from liqmap.market.manager import ExchangeConfig, ExchangeManager, ExchangeType
from liqmap.market.view import MarketView

__all__ = ["ExchangeConfig", "ExchangeManager", "ExchangeType", "MarketView"]
