"""Generic JSON webhook: POST ``{"source": "liqmap", "alerts": [Alert, ...]}`` to ``url``.

Each alert is the :class:`~liqmap.alerts.alert.Alert` struct as a JSON object (``rule``,
``kind``, ``key``, ``dedupe_id``, ``severity``, ``title``, ``text``, ``fields``, ``event_ts``,
``emitted_at``, ``suppressed``; times ms UTC). Up to 100 alerts per request. Any 2xx is
delivered; 408/425/429/5xx are retried (``Retry-After`` honoured); other codes are permanent.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import msgspec

from liqmap.alerts.alert import Alert
from liqmap.alerts.sinks.base import Request, UrlSink, chunk_by


class WebhookSink(UrlSink, tag="webhook"):
    """``url`` (http/https) and optional extra ``headers`` (e.g. ``Authorization``)."""

    headers: dict[str, str] = {}
    max_batch: ClassVar[int] = 100

    def requests(self, alerts: Sequence[Alert]) -> list[Request]:
        return [Request(self.url, {"source": "liqmap", "alerts": msgspec.to_builtins(list(part))},
                        self.headers, len(part)) for part in chunk_by(alerts, self.max_batch)]
