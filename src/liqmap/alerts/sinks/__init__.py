"""Alert sinks: one module per destination (:mod:`.webhook`, :mod:`.telegram`,
:mod:`.discord`, :mod:`.slack`) on the shared :mod:`.base`. :data:`AnySink` is the tagged
union a config ``[[sinks]]`` table converts into (``type = "webhook" | "telegram" | "discord"
| "slack"``)."""

from __future__ import annotations

from typing import Union

from liqmap.alerts.sinks.base import Outcome, Request, Sink
from liqmap.alerts.sinks.discord import DiscordSink
from liqmap.alerts.sinks.slack import SlackSink
from liqmap.alerts.sinks.telegram import TelegramSink
from liqmap.alerts.sinks.webhook import WebhookSink

AnySink = Union[WebhookSink, TelegramSink, DiscordSink, SlackSink]

__all__ = ["AnySink", "DiscordSink", "Outcome", "Request", "Sink", "SlackSink", "TelegramSink", "WebhookSink"]
