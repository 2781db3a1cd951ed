"""Discord webhook ("Execute Webhook").

Protocol (official: https://discord.com/developers/docs/resources/webhook#execute-webhook ,
https://discord.com/developers/docs/resources/message#embed-object-embed-limits ,
https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit ):

* ``POST https://discord.com/api/webhooks/{webhook.id}/{webhook.token}`` with JSON
  ``{"username": ..., "embeds": [...], "allowed_mentions": {"parse": []}}``; at most 10 embeds
  per message and 6000 characters over all embeds (title 256, description 4096, footer 2048);
  ``allowed_mentions.parse = []`` so alert text can never ping ``@everyone``.
* Success: ``204 No Content`` (``200`` with the message when ``?wait=true``).
* Rate limited: ``429`` with JSON ``{"message": ..., "retry_after": seconds (float),
  "global": bool}`` and a ``Retry-After`` header.

One embed per alert, coloured by severity (info blue, warning amber, critical red). When a batch
does not fit one message that way (more than 10 alerts or 6000 characters: an alert storm), it
is sent as a digest: embeds whose description lists one alert per line, coloured by the worst
severity they hold, as many per message as the limits allow.
"""

from __future__ import annotations

from typing import ClassVar, Mapping, Sequence

import msgspec

from liqmap.alerts.alert import Alert, summary_line
from liqmap.alerts.sinks.base import Outcome, Request, UrlSink, chunk_by, generic_outcome, needs_digest
from liqmap.fmt import iso

EMBEDS_PER_MESSAGE = 10
EMBED_CHARS_PER_MESSAGE = 6000
COLOUR = {"info": 0x3B82F6, "warning": 0xF59E0B, "critical": 0xEF4444}


def _embed(a: Alert) -> dict:
    return {"title": summary_line(a)[:256], "description": a.text[:4096], "color": COLOUR[a.severity],
            "timestamp": iso(a.event_ts), "footer": {"text": f"{a.rule} · {a.key}"[:2048]}}


def _chars(e: dict) -> int:
    return len(e["title"]) + len(e["description"]) + len(e["footer"]["text"])


_RANK = {"info": 0, "warning": 1, "critical": 2}
DIGEST_LINES = 20  # lines per digest embed (each line <= ~180 characters, well under 4096)


def _digest(part: Sequence[Alert]) -> dict:
    """One embed listing ``part`` (<= DIGEST_LINES alerts), one line each."""
    worst = max(part, key=lambda a: _RANK[a.severity]).severity
    return {"title": f"{len(part)} alerts", "description": "\n".join(summary_line(a) for a in part)[:4096],
            "color": COLOUR[worst], "timestamp": iso(part[-1].event_ts),
            "footer": {"text": ", ".join(sorted({a.rule for a in part}))[:2048]}}


class DiscordSink(UrlSink, tag="discord"):
    """``url``: the webhook URL Discord shows (``https://discord.com/api/webhooks/ID/TOKEN``);
    ``username`` shown as the sender."""

    username: str = "liqmap"
    max_batch: ClassVar[int] = 100

    def requests(self, alerts: Sequence[Alert]) -> list[Request]:
        # (embed, alerts it carries): one per alert, or digest embeds of up to DIGEST_LINES alerts
        embeds = [(_embed(a), 1) for a in alerts]
        if needs_digest([_chars(e) for e, _ in embeds], 0, EMBED_CHARS_PER_MESSAGE, EMBEDS_PER_MESSAGE):
            embeds = [(_digest(part), len(part)) for part in chunk_by(alerts, DIGEST_LINES)]
        return [Request(self.url, {"username": self.username, "embeds": [e for e, _ in part],
                                   "allowed_mentions": {"parse": []}}, {}, sum(n for _, n in part))
                for part in chunk_by(embeds, EMBEDS_PER_MESSAGE, cost=lambda x: _chars(x[0]),
                                     budget=EMBED_CHARS_PER_MESSAGE)]

    def outcome(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        base = generic_outcome(status, headers, body)
        if status != 429:
            return base
        try:
            reply = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            reply = {}
        wait = reply.get("retry_after") if isinstance(reply, dict) else None
        if isinstance(wait, (int, float)) and wait >= 0:
            return Outcome(False, True, float(wait), base.detail)
        return base
