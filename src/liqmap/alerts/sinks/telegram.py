"""Telegram Bot API ``sendMessage``.

Protocol (official: https://core.telegram.org/bots/api#making-requests ,
https://core.telegram.org/bots/api#sendmessage , https://core.telegram.org/bots/api#responseparameters ,
https://core.telegram.org/bots/api#formatting-options ):

* ``POST https://api.telegram.org/bot<token>/sendMessage`` with a JSON body
  ``{"chat_id": ..., "text": ..., "parse_mode": "HTML", "link_preview_options": {"is_disabled": true},
  "disable_notification": bool}``; ``text`` is 1-4096 characters after entity parsing.
* The reply is ``{"ok": true, "result": Message}`` or ``{"ok": false, "error_code": N,
  "description": "...", "parameters": {"retry_after": S}}``; on flood control (HTTP 429)
  ``parameters.retry_after`` is the number of seconds to wait.
* HTML mode needs ``<``, ``>``, ``&`` escaped (``&lt;`` ``&gt;`` ``&amp;``).

Several alerts go into one message (separated by a blank line) up to the 4096-character limit.
When a batch does not fit one message in that form (an alert storm), it is sent as a digest:
one bold line per alert, as many per message as fit. ``info``-only messages are sent with
``disable_notification`` (silent) unless ``silent_info = false``.
"""

from __future__ import annotations

import html
from typing import ClassVar, Mapping, Sequence

import msgspec

from liqmap.alerts.alert import Alert, summary_line
from liqmap.alerts.sinks.base import Outcome, Request, Sink, chunk_by, generic_outcome, needs_digest

TEXT_LIMIT = 4096


def _render(a: Alert) -> str:
    return (f"<b>{html.escape(summary_line(a))}</b>\n{html.escape(a.text)}\n"
            f"<code>{html.escape(a.rule)} · {html.escape(a.key)}</code>")


class TelegramSink(Sink, tag="telegram"):
    """``token`` (from @BotFather), ``chat_id`` (user, group or ``@channel``), ``api_url``
    (default https://api.telegram.org; a local Bot API server or a test server), ``silent_info``."""

    token: str
    chat_id: str | int
    api_url: str = "https://api.telegram.org"
    silent_info: bool = True
    max_batch: ClassVar[int] = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.token or ":" not in self.token:
            raise ValueError(f"sink {self.name!r}: token must look like 123456:ABC... (from @BotFather)")
        if self.chat_id in ("", None):
            raise ValueError(f"sink {self.name!r}: chat_id is required")

    def requests(self, alerts: Sequence[Alert]) -> list[Request]:
        url = f"{self.api_url.rstrip('/')}/bot{self.token}/sendMessage"
        texts, sep = [_render(a) for a in alerts], "\n\n"
        if needs_digest([len(t) for t in texts], len(sep), TEXT_LIMIT):
            texts, sep = [f"<b>{html.escape(summary_line(a))}</b>" for a in alerts], "\n"
        out = []
        for part in chunk_by(list(zip(alerts, texts)), len(texts), cost=lambda x: len(x[1]) + len(sep),
                             budget=TEXT_LIMIT):
            text = sep.join(t for _, t in part)
            if len(text) > TEXT_LIMIT:  # one alert alone over the limit is cut
                text = text[: TEXT_LIMIT - 1] + "…"
            silent = self.silent_info and all(a.severity == "info" for a, _ in part)
            body = {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML",
                    "link_preview_options": {"is_disabled": True}, "disable_notification": silent}
            out.append(Request(url, body, {}, len(part)))
        return out

    def outcome(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        try:
            reply = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        if 200 <= status < 300 and reply.get("ok") is True:
            return Outcome(True, False, None, f"HTTP {status}")
        if 200 <= status < 300:
            return Outcome(False, False, None, f"HTTP {status} without ok=true")
        base = generic_outcome(status, headers, b"")
        params = reply.get("parameters") if isinstance(reply.get("parameters"), dict) else {}
        wait = params.get("retry_after")
        wait = float(wait) if isinstance(wait, (int, float)) and wait >= 0 else base.retry_after
        desc = reply.get("description")
        detail = f"HTTP {status}: {desc}" if isinstance(desc, str) else base.detail
        return Outcome(False, base.retry, wait if base.retry else None, detail)

    def target(self) -> str:
        bot = self.token.split(":", 1)[0]
        return f"{self.api_url.rstrip('/')}/bot{bot}:…/sendMessage chat {self.chat_id}"
