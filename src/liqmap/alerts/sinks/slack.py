"""Slack incoming webhook.

Protocol (official: https://api.slack.com/messaging/webhooks ,
https://api.slack.com/reference/block-kit/blocks , https://api.slack.com/reference/surfaces/formatting#escaping ,
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks ,
https://api.slack.com/apis/rate-limits ):

* ``POST https://hooks.slack.com/services/T.../B.../...`` with JSON ``{"text": fallback,
  "blocks": [...]}``; ``text`` is the notification fallback when blocks are present. At most
  50 blocks per message; a section's mrkdwn text at most 3000 characters.
* Success: ``200`` with body ``ok``. Errors are plain strings: 400 ``invalid_payload``,
  403 ``action_prohibited``, 404 ``channel_not_found``, 410 ``channel_is_archived``,
  500 ``rollup_error``. Incoming webhooks allow about one message per second; beyond it
  Slack answers ``429`` with ``Retry-After``.
* mrkdwn needs ``&``, ``<``, ``>`` escaped as ``&amp;`` ``&lt;`` ``&gt;``.

Per alert a section block (bold title + text) and a context block (rule, key, event time),
so up to 25 alerts per message. A larger batch (an alert storm) is sent as a digest: section
blocks of up to 15 bold title lines each, up to 50 blocks per message.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

from liqmap.alerts.alert import Alert, summary_line
from liqmap.alerts.sinks.base import Request, UrlSink, chunk_by
from liqmap.fmt import utc

DIGEST_LINES = 15  # title lines (<= ~180 characters each) per section: under the 3000 limit


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(a: Alert) -> list[dict]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_esc(summary_line(a))}*\n{_esc(a.text)}"[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(f"{a.rule} · {a.key} · {utc(a.event_ts)}")}]},
    ]


class SlackSink(UrlSink, tag="slack"):
    """``url``: the incoming-webhook URL Slack issued for one channel."""

    max_batch: ClassVar[int] = 100

    def requests(self, alerts: Sequence[Alert]) -> list[Request]:
        if len(alerts) <= 25:
            parts = [(_blocks(a), 1) for a in alerts]
        else:
            parts = [([{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
                f"*{_esc(summary_line(a))}*" for a in chunk)[:3000]}}], len(chunk))
                for chunk in chunk_by(alerts, DIGEST_LINES)]
        out = []
        done = 0
        for group in chunk_by(parts, 50, cost=lambda x: len(x[0]), budget=50):
            n = sum(k for _, k in group)
            fallback = "\n".join(summary_line(a) for a in alerts[done: done + n])[:3000]
            done += n
            out.append(Request(self.url, {"text": _esc(fallback), "blocks": [b for bl, _ in group for b in bl]},
                               {}, n))
        return out
