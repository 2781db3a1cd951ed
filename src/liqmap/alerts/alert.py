"""The :class:`Alert` message every rule produces and every sink renders.

An alert is plain data: who fired it (``rule``), what it is about (``key``: the cooldown
scope, e.g. ``binance:BTCUSDT:long``), a stable identity of the underlying event
(``dedupe_id``), a one-line ``title``, a longer ``text`` and machine-readable ``fields``.
Sinks decide the layout (Telegram HTML, Discord embeds, Slack blocks, JSON).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

AlertSeverity = Literal["info", "warning", "critical"]


class Alert(msgspec.Struct, frozen=True):
    """One alert.

    Fields:
        rule: name of the rule that fired.
        kind: rule type (``liquidation``, ``cascade``, ``arbitrage``, ``whale``, ``venue``, ``test``).
        key: cooldown scope within the rule (cooldown is per ``(rule, key)``).
        dedupe_id: identity of the event that fired it; a ``(rule, dedupe_id)`` is sent once.
        severity: ``info`` | ``warning`` | ``critical`` (sinks colour by it).
        title: one line, <= 150 characters.
        text: body, plain text, a few lines.
        fields: JSON-ready facts (``value_usd``, ``exchange``, ``net_bps`` ...).
        event_ts: time of the event, ms UTC.
        emitted_at: time the rule fired, ms UTC.
        suppressed: alerts of the same ``(rule, key)`` held back by the cooldown since the last one sent.
    """

    rule: str
    kind: str
    key: str
    dedupe_id: str
    severity: AlertSeverity
    title: str
    text: str
    fields: dict[str, Any]
    event_ts: int
    emitted_at: int
    suppressed: int = 0


def summary_line(a: Alert) -> str:
    """One line per alert for batched plain-text messages (title, plus suppressed count)."""
    extra = f" (+{a.suppressed} more in cooldown)" if a.suppressed else ""
    return f"{a.title}{extra}"
