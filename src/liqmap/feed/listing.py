"""A venue's listing (what exists) and how its topics spread over connections.

* :func:`fetch_listing` reads the venue's ``instruments`` endpoints (paths under
  the REST base; a ``(path, json_body)`` entry is POSTed, Hyperliquid ``/info``),
  following ``Venue.next_page`` (Bybit cursors), and returns the listed symbols
  (``Venue.listed_symbols``) and contract specs (``Venue.contract_specs``) of
  every page. Only contracts that exist are then subscribed, and all-market
  coverage comes from the listing.
* :func:`split_spec` spreads one :class:`~liqmap.exchanges.base.ConnectionSpec`
  over as many connections as ``Limits.topics_per_connection`` and
  ``Limits.chars_per_connection`` require (labels ``linear``, ``linear-2``...).
* :func:`topic_chars` is what one topic costs against ``chars_per_connection``.
* :func:`merge_specs` joins specs of the same URL and label (an all-market liquidation
  connection and the market-data topics of a few symbols on the same socket), keeping
  each topic key once.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

import httpx
import msgspec

from liqmap.exchanges.base import ConnectionSpec, Limits, Topic, Venue
from liqmap.exchanges.contracts import ContractSpec

log = logging.getLogger("liqmap.feed")

#: Pages followed per instruments endpoint at most (Bybit: 1000 rows a page).
MAX_PAGES = 20


def instrument_requests(venue: Venue, rest_base: str) -> list[tuple[str, Any]]:
    """``(url, json body or None)`` of each ``instruments`` entry under ``rest_base``."""
    out: list[tuple[str, Any]] = []
    for entry in venue.instruments:
        path, body = (entry, None) if isinstance(entry, str) else entry
        out.append((rest_base.rstrip("/") + path, body))
    return out


async def fetch_listing(
    venue: Venue, client: httpx.AsyncClient, rest_base: str
) -> tuple[list[str], list[ContractSpec]]:
    """Every symbol the venue lists and the contract specs of the same responses.

    Raises:
        httpx.HTTPError: a request failed (the caller keeps the previous listing).
        msgspec.DecodeError / ValueError: a response could not be read.
    """
    symbols: list[str] = []
    specs: list[ContractSpec] = []
    for url, body in instrument_requests(venue, rest_base):
        next_url: str | None = url
        pages = 0
        while next_url is not None and pages < MAX_PAGES:
            pages += 1
            if body is None:
                resp = await client.get(next_url)
            else:
                resp = await client.post(next_url, content=msgspec.json.encode(body),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            resp.raise_for_status()
            text = resp.content
            symbols += venue.listed_symbols(text)
            specs += venue.contract_specs(text)
            next_url = venue.next_page(text, next_url)
    return list(dict.fromkeys(symbols)), specs


def topic_chars(topic: Topic) -> int:
    """Characters one topic adds to a request's args (its JSON text and a comma)."""
    return len(msgspec.json.encode(topic.request_arg)) + 1


def room(limits: Limits, topics: Sequence[Topic]) -> tuple[int | None, int | None]:
    """(topics, characters) still free on a connection carrying ``topics`` (None = unlimited)."""
    n = None if limits.topics_per_connection is None else limits.topics_per_connection - len(topics)
    c = None if limits.chars_per_connection is None else limits.chars_per_connection - sum(map(topic_chars, topics))
    return n, c


def fill(limits: Limits, carried: Sequence[Topic], new: Sequence[Topic]) -> tuple[list[Topic], list[Topic]]:
    """Split ``new`` into (what fits beside ``carried`` on one connection, the rest)."""
    n, c = room(limits, carried)
    fits: list[Topic] = []
    for i, t in enumerate(new):
        cost = topic_chars(t)
        if (n is not None and len(fits) >= n) or (c is not None and cost > c):
            return fits, list(new[i:])
        fits.append(t)
        if c is not None:
            c -= cost
    return fits, []


def merge_specs(specs: Sequence[ConnectionSpec]) -> list[ConnectionSpec]:
    """``specs`` with those of the same ``(url, label)`` joined into one (topics in order,
    each key once; the first spec's other fields). Specs naming their topics in the URL
    (Binance) are kept apart: a different stream list is a different URL anyway."""
    out: list[ConnectionSpec] = []
    index: dict[tuple[str, str], int] = {}
    for spec in specs:
        key = (spec.url, spec.label)
        if spec.topics_in_url or key not in index:
            index.setdefault(key, len(out))
            out.append(spec)
            continue
        first = out[index[key]]
        seen = {t.key for t in first.topics}
        extra = tuple(t for t in spec.topics if t.key not in seen)
        out[index[key]] = dataclasses.replace(first, topics=tuple(first.topics) + extra)
    return out


def split_spec(spec: ConnectionSpec, limits: Limits) -> list[ConnectionSpec]:
    """``spec`` as one or more connections within ``limits`` (first keeps the label)."""
    if spec.topics_in_url or not spec.topics:
        return [spec]
    out: list[ConnectionSpec] = []
    rest = list(spec.topics)
    while rest:
        part, rest = fill(limits, [], rest)
        if not part:  # one topic larger than a whole connection: send it alone anyway
            part, rest = rest[:1], rest[1:]
        label = spec.label if not out else f"{spec.label}-{len(out) + 1}"
        out.append(dataclasses.replace(spec, label=label, topics=tuple(part)))
    return out
