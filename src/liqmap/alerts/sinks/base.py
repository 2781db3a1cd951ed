"""What every sink shares: its config fields, the request it builds, how a reply is judged.

A sink is a ``msgspec`` struct tagged by ``type`` (a config file's ``[[sinks]]`` table
converts straight into it). It does no I/O itself: :meth:`Sink.requests` turns a batch of
alerts into HTTP POSTs (JSON bodies) and :meth:`Sink.outcome` judges the reply;
:mod:`liqmap.alerts.delivery` does the sending, retrying and counting.

Reply classes (:class:`Outcome`): delivered; retryable (HTTP 408, 425, 429, 5xx, transport
errors), with the server's requested wait when it gave one (``Retry-After`` header in seconds or
an HTTP date, RFC 9110 §10.2.3 https://www.rfc-editor.org/rfc/rfc9110#field.retry-after, or the
venue-specific body field); permanent (other 4xx: bad token, unknown chat, archived channel --
retrying cannot help).
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence

import msgspec

from liqmap.alerts.alert import Alert

RETRYABLE_STATUS = frozenset({408, 425, 429})


class Request(NamedTuple):
    """One HTTP POST: ``url``, JSON ``body``, extra ``headers``, and how many alerts it carries."""

    url: str
    body: Any
    headers: Mapping[str, str]
    alerts: int


class Outcome(NamedTuple):
    """Judgement of one reply: ``ok``; ``retry`` (worth trying again); ``retry_after``
    (seconds the server asked to wait, or None); ``detail`` (short text for logs/CLI)."""

    ok: bool
    retry: bool
    retry_after: float | None
    detail: str


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` header -> seconds (>= 0), or None when absent/unparsable.

    Accepts delta-seconds (``"3"``, ``"1.5"``) or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            dt = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = dt.timestamp() - (time.time() if now is None else now)
    if secs != secs or secs in (float("inf"), float("-inf")):
        return None
    return max(0.0, secs)


def generic_outcome(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """2xx delivered; 408/425/429/5xx retry (honouring ``Retry-After``); other codes permanent."""
    detail = f"HTTP {status}"
    text = body[:200].decode("utf-8", "replace").strip()
    if text and not 200 <= status < 300:
        detail += f": {text}"
    if 200 <= status < 300:
        return Outcome(True, False, None, detail)
    retry = status in RETRYABLE_STATUS or status >= 500
    return Outcome(False, retry, parse_retry_after(headers.get("retry-after")) if retry else None, detail)


def chunk_by(items: Sequence[Any], max_items: int, cost=None, budget: int | None = None) -> list[list[Any]]:
    """Split ``items`` into runs of at most ``max_items`` whose summed ``cost(item)`` stays
    within ``budget`` (an item over budget alone still gets its own run)."""
    out: list[list[Any]] = []
    cur: list[Any] = []
    used = 0
    for it in items:
        c = cost(it) if cost is not None else 0
        if cur and (len(cur) >= max_items or (budget is not None and used + c > budget)):
            out.append(cur)
            cur, used = [], 0
        cur.append(it)
        used += c
    if cur:
        out.append(cur)
    return out


def needs_digest(sizes: Sequence[int], sep: int, budget: int, max_items: int | None = None) -> bool:
    """True when items of ``sizes`` characters (joined with ``sep`` characters) do not fit one
    message of ``budget`` characters / ``max_items`` items: the sink then sends a compact digest."""
    if max_items is not None and len(sizes) > max_items:
        return True
    return sum(sizes) + sep * max(0, len(sizes) - 1) > budget


class Sink(msgspec.Struct, kw_only=True, tag_field="type", dict=True, forbid_unknown_fields=True):
    """Common sink settings.

    Fields: ``name`` (unique; rules name sinks by it); ``timeout_s`` per HTTP request [10];
    ``max_attempts`` per message, first try included [5]; ``queue_size`` alerts waiting
    before new ones are dropped (counted) [10,000]; ``concurrency`` requests in flight [2].
    Subclasses set ``max_batch`` (alerts per message) and implement :meth:`requests` and
    :meth:`outcome`. Raises ValueError on invalid values.
    """

    name: str
    timeout_s: float = 10.0
    max_attempts: int = 5
    queue_size: int = 10_000
    concurrency: int = 2
    max_batch: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a sink needs a non-empty name")
        if not (self.timeout_s > 0) or self.max_attempts < 1 or self.queue_size < 1 or self.concurrency < 1:
            raise ValueError(f"sink {self.name!r}: timeout_s > 0, max_attempts >= 1, queue_size >= 1 "
                             "and concurrency >= 1 are required")

    @property
    def kind(self) -> str:
        """The config ``type`` of this sink (``webhook``, ``telegram``, ``discord``, ``slack``)."""
        return type(self).__struct_config__.tag  # type: ignore[attr-defined]

    def requests(self, alerts: Sequence[Alert]) -> list[Request]:  # pragma: no cover - abstract
        """The POSTs that deliver ``alerts`` (at most ``max_batch`` of them)."""
        raise NotImplementedError

    def outcome(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Judge one reply (default: :func:`generic_outcome`)."""
        return generic_outcome(status, headers, body)

    def target(self) -> str:
        """Where it posts, with secrets masked (for logs and ``liqmap alerts show``)."""
        raise NotImplementedError  # pragma: no cover - abstract


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/secret`` -> ``https://hooks.slack.com/services/…``:
    webhook URLs ARE the credential, so only scheme, host and first path segment are shown."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    first = path.split("/", 1)[0]
    return f"{scheme}://{host}/{first}/…" if first else f"{scheme}://{host}/"


class UrlSink(Sink, kw_only=True):
    """A sink that posts to one ``url`` that is itself the credential (webhook URLs)."""

    url: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"sink {self.name!r}: url must start with http:// or https://")

    def target(self) -> str:
        return mask_url(self.url)
