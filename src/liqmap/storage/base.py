"""The one small interface every storage tier shares.

A tier receives normalized events (:mod:`liqmap.models`) in batches and keeps
whatever subset it is for (DuckDB: all liquidations + gaps; Redis: live
aggregates; PostgreSQL: significant liquidations + rollups). Every tier:

* ``await write(events)`` -- accept a batch; the tier may buffer.
* ``await flush()`` -- make everything accepted so far durable / visible.
* ``await close()`` -- flush, then release connections. Idempotent.
* ``stats()`` -- plain ``dict`` of counters (JSON-ready), never raises.

Acknowledgement rule: a tier reports an event as *stored* only after the
write that holds it has committed (DuckDB/PostgreSQL transaction commit, Redis
pipeline executed). Anything still buffered is reported as *pending*.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Sequence, runtime_checkable

from liqmap.models import Event


@runtime_checkable
class EventStore(Protocol):
    """A storage tier (see module docstring for the contract)."""

    async def write(self, events: Sequence[Event]) -> None:
        """Accept a batch of events (any event types; a tier ignores those it does not keep)."""
        ...

    async def flush(self) -> None:
        """Commit everything accepted so far. Raises the tier's I/O error on failure."""
        ...

    async def close(self) -> None:
        """Flush and release resources. Safe to call twice."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters of this tier, e.g. ``{"stored": 10, "pending": 0, ...}``."""
        ...


def attrs(tier: object, *names: str) -> dict[str, Any]:
    """``{name: tier.<name>}`` for each attribute ``name``: the plain-attribute part of a tier's
    ``stats()`` (counters, settings).

    Raises:
        AttributeError: a name the tier does not have.
    """
    return {n: getattr(tier, n) for n in names}


def zero_counters(tier: object, names: tuple[str, ...]) -> None:
    """Start each counter attribute in ``names`` (a tier's ``COUNTERS``) at 0; the tier increments
    them as plain attributes (``self.stored += n``) and reports them with :func:`attrs`."""
    for n in names:
        setattr(tier, n, 0)


class StorageError(RuntimeError):
    """A storage tier could not complete an operation; the message names the tier and cause."""


_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)([^@\s]*)@")
_PASSWORD_KV = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&']*)", re.IGNORECASE)


def redact_dsn(text: str | None) -> str | None:
    """``text`` with every password replaced by ``***``, in every libpq / URL form it may
    hold (for logs, summaries, health): URI userinfo (``postgresql://user:pw@host``,
    ``redis://:pw@host``), a query parameter (``?password=pw``, ``&password=pw``) and
    key=value connection strings (``password=pw``, ``password = 'p w'``).
    https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING"""
    if not text:
        return text
    return _PASSWORD_KV.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def redact_url(url: str | None) -> str | None:
    """A DSN / URL with any password replaced by ``***`` (every form: :func:`redact_dsn`)."""
    return redact_dsn(url)
