"""Alerts: rules over the event stream -> Telegram, Discord, Slack, generic JSON webhooks.

Modules, in the order an event travels:

* :mod:`.rules`      -- which events become an :class:`~.alert.Alert` (liquidation >= USD,
  cascade start / severity rise, arbitrage >= net bps, whale trade >= USD, venue down /
  failover);
* :mod:`.throttle`   -- cooldown and de-duplication per rule and key;
* :mod:`.dispatcher` -- :class:`AlertDispatcher`, the non-blocking entry point;
* :mod:`.delivery`   -- per-sink bounded queue, senders, retries with capped backoff, counters;
* :mod:`.sinks`      -- one module per destination, payloads per the official docs;
* :mod:`.config`     -- rules and sinks from a TOML/YAML/JSON file or ``LIQMAP_ALERT_*``.

``liqmap alerts test`` sends a test message to each configured sink; ``liqmap serve`` feeds
every event to the dispatcher when alerts are configured.
"""

from liqmap.alerts.alert import Alert
from liqmap.alerts.config import AlertConfigError, AlertsConfig, load_config, resolve_config
from liqmap.alerts.dispatcher import AlertDispatcher

__all__ = ["Alert", "AlertConfigError", "AlertDispatcher", "AlertsConfig", "load_config", "resolve_config"]
