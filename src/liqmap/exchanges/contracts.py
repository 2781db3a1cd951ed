"""Contract sizes: how many coins / USD one venue contract is worth.

Several venues report liquidation sizes in *contracts*, not coins. This module
keeps one :class:`ContractSpec` per ``(exchange, symbol)`` and answers
:meth:`ContractSizes.get` instantly from whatever is loaded, falling back to a
documented rule table (:func:`fallback_spec`) -- parsing never waits for I/O.

Kinds (units stated once here; parsers rely on them):

* ``linear``  -- one contract = ``size`` units of the BASE coin; price is in
  ``quote``. notional (quote) = contracts * size * price.
* ``inverse`` -- one contract = ``size`` units of the QUOTE currency (USD);
  notional USD = contracts * size; coins = notional / price.
* ``quanto``  -- (BitMEX) one contract = ``size`` XBT per 1 unit of price;
  value in XBT = contracts * size * price; USD needs an XBT/USD price.

Sources: each venue module declares its public instruments endpoints
(``Venue.instruments``), how to read their responses (``Venue.contract_specs``)
and the documented rule used until they load (``Venue.contract_fallback``, with
the sources of its values); this module only keeps, loads and saves the table.

The loaded table is cached to a JSON file (:meth:`ContractSizes.save` /
:meth:`ContractSizes.load`) so a restart without network still has real values.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Literal

import msgspec

from liqmap.units import CONTRACTS_CACHE

log = logging.getLogger(__name__)

ContractKind = Literal["linear", "inverse", "quanto"]


class ContractSpec(msgspec.Struct, frozen=True):
    """Size of one contract of ``symbol`` on ``exchange``.

    Fields:
        exchange: venue id (``okx``, ``binance_coinm``, ``bitmex``).
        symbol: venue-native instrument name.
        kind: ``linear`` | ``inverse`` | ``quanto`` (see module docstring).
        size: linear: base coins per contract; inverse: quote units (USD) per
            contract; quanto: XBT per contract per unit of price.
        quote: currency the price is quoted in (``USDT``, ``USD``, ``XBT``).
        source: ``instruments`` (venue endpoint), ``cache``, ``recording`` (a
            recording's contract-sizes frame) or ``fallback``.
        mark_price: reference price from the instruments response, if given.
    """

    exchange: str
    symbol: str
    kind: ContractKind
    size: float
    quote: str = "USD"
    source: str = "instruments"
    mark_price: float | None = None


def to_base(contracts: float, price: float, inverse: bool, size: float) -> tuple[float, float]:
    """``(base quantity, USD value)`` of ``contracts`` contracts at ``price`` (quote per base):
    an inverse contract is ``size`` USD (value = contracts x size, quantity = value / price);
    any other is ``size`` base coins (quantity = contracts x size, value = quantity x price)."""
    if inverse:
        value = contracts * size
        return value / price, value
    qty = contracts * size
    return qty, qty * price


# --------------------------------------------------------------------------- per-venue facts


def fallback_spec(exchange: str, symbol: str) -> ContractSpec:
    """The venue module's documented rule for a symbol not loaded from the venue
    (``Venue.contract_fallback``); an unregistered exchange gets 1 coin per contract."""
    from liqmap.exchanges.registry import VENUES

    cls = VENUES.get(exchange)
    if cls is None:
        return ContractSpec(exchange, symbol, "linear", 1.0, "USD", "fallback")
    return cls.contract_fallback(symbol)


def instrument_sources() -> dict[str, tuple[tuple[str, ...], Callable[[str | bytes], list[ContractSpec]]]]:
    """``{exchange: (default instruments URLs, response parser)}`` of every venue
    declaring instruments endpoints."""
    from liqmap.exchanges.registry import VENUES

    from liqmap.exchanges.base import Venue

    out = {}
    for name, cls in VENUES.items():
        paths = [p for p in cls.instruments if isinstance(p, str)]  # POSTed listings carry no sizes
        if paths and cls.contract_specs.__func__ is not Venue.contract_specs.__func__:  # listing only: no sizes
            out[name] = (tuple(cls.default_rest + p for p in paths), cls.contract_specs)
    return out


def fallback_urls(exchange: str, url: str) -> list[str]:
    """``url`` on the venue's ``rest_fallbacks`` hosts (same path), when it is under ``default_rest``."""
    from liqmap.exchanges.registry import VENUES

    cls = VENUES.get(exchange)
    if cls is None or not url.startswith(cls.default_rest):
        return []
    return [base + url[len(cls.default_rest):] for base in cls.rest_fallbacks]


def parse_number(x: Any) -> float | None:
    """A number from an instruments field (JSON number or numeric text), or None
    for a missing, non-numeric or NaN value."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


Fetch = Callable[[str], Awaitable[str | bytes]]


async def httpx_fetch(url: str) -> bytes:
    """Default fetch: GET ``url`` with httpx (10 s timeout); raises on HTTP errors."""
    import httpx

    async with httpx.AsyncClient(timeout=10.0) as client:
        resp = await client.get(url)
        resp.raise_for_status()
        return resp.content


class ContractSizes:
    """Registry ``(exchange, symbol) -> ContractSpec`` with a fallback rule.

    Thread-compatible for the single-writer/many-reader use here: lookups are
    plain dict reads; :meth:`update` replaces entries atomically per key.
    """

    def __init__(self, specs: Iterable[ContractSpec] = ()) -> None:
        self._specs: dict[tuple[str, str], ContractSpec] = {}
        self._fallback: dict[tuple[str, str], ContractSpec] = {}
        #: Incremented on every update, so parsers can cache derived values safely.
        self.version = 0
        self.errors: dict[str, str] = {}
        self.update(specs)

    def __len__(self) -> int:
        return len(self._specs)

    def update(self, specs: Iterable[ContractSpec]) -> int:
        """Add or replace specs; returns how many were given."""
        n = 0
        for s in specs:
            self._specs[(s.exchange, s.symbol)] = s
            n += 1
        if n:
            self._fallback.clear()
            self.version += 1
        return n

    def get(self, exchange: str, symbol: str) -> ContractSpec:
        """Loaded spec, else :func:`fallback_spec` (never raises, never blocks)."""
        key = (exchange, symbol)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._fallback.get(key)
            if spec is None:
                spec = fallback_spec(exchange, symbol)
                if len(self._fallback) < 50_000:
                    self._fallback[key] = spec
        return spec

    def specs(self) -> list[ContractSpec]:
        """Every loaded (not fallback) spec, e.g. to store beside a recording."""
        return list(self._specs.values())

    def known(self, exchange: str, symbol: str) -> bool:
        """True when the spec came from the venue (or the cache), not the fallback."""
        return (exchange, symbol) in self._specs

    # ---- persistence
    def save(self, path: str | Path) -> None:
        """Write the loaded specs as a JSON list (atomic replace)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_bytes(msgspec.json.encode(list(self._specs.values())))
        tmp.replace(p)

    @classmethod
    def load(cls, path: str | Path) -> "ContractSizes":
        """Read a cache written by :meth:`save`; a missing/corrupt file gives an empty registry."""
        try:
            rows = msgspec.json.decode(Path(path).read_bytes(), type=list[ContractSpec])
        except FileNotFoundError:  # the first run: nothing cached yet, nothing to warn about
            log.info("no contract cache at %s yet; using the fallback table until the venues answer", path)
            return cls()
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("contract cache %s unreadable (%s); using fallback table", path, exc)
            return cls()
        return cls(msgspec.structs.replace(r, source="cache") for r in rows)

    def load_cache(self, path: str | Path) -> int:
        """Merge a cache written by :meth:`save` into this registry (in place);
        returns rows loaded (0 for a missing or corrupt file)."""
        return self.update(ContractSizes.load(path)._specs.values())

    async def warm_up(
        self,
        cache_path: str | Path | None = CONTRACTS_CACHE,
        fetch: Fetch | None = None,
        exchanges: Iterable[str] | None = None,
        urls: dict[str, tuple[str, ...]] | None = None,
    ) -> dict[str, int]:
        """Start-up helper: cached values first (instant), then a refresh from the
        venues, saved back to the cache. Never raises; run it as a background task
        so parsing starts at once on the cache/fallback values."""
        if cache_path is not None:
            self.load_cache(cache_path)
        return await self.refresh(fetch, exchanges, urls, cache_path)

    def load_response(self, exchange: str, body: str | bytes) -> int:
        """Parse one recorded/fetched instruments body for ``exchange``; returns rows added."""
        from liqmap.exchanges.registry import venue_class

        return self.update(venue_class(exchange).contract_specs(body))

    async def refresh(
        self,
        fetch: Fetch | None = None,
        exchanges: Iterable[str] | None = None,
        urls: dict[str, tuple[str, ...]] | None = None,
        cache_path: str | Path | None = None,
    ) -> dict[str, int]:
        """Fetch and load the instruments endpoints; never raises.

        Args:
            fetch: ``async (url) -> body``; default :func:`httpx_fetch`.
            exchanges: which sources of :func:`instrument_sources` to load
                (default: all of them).
            urls: per-exchange URL overrides (tests point these at 127.0.0.1).
            cache_path: when given and something loaded, the table is saved there.

        Returns ``{exchange: rows loaded}``; failures are stored in ``self.errors``
        and the fallback stays in force for that exchange.
        """
        fetch = fetch or httpx_fetch
        sources = instrument_sources()
        loaded: dict[str, int] = {}
        for ex in exchanges if exchanges is not None else sources:
            default_urls, parser = sources[ex]
            total = 0
            for url in (urls or {}).get(ex, default_urls):
                for u in [url, *fallback_urls(ex, url)]:
                    try:
                        total += self.update(parser(await fetch(u)))
                        break
                    except Exception as exc:  # network, HTTP, JSON: next host, else keep the fallback
                        self.errors[ex] = f"{u}: {type(exc).__name__}: {exc}"
                        log.warning("contract sizes from %s failed: %s", u, exc)
            loaded[ex] = total
        if cache_path is not None and any(loaded.values()):
            self.save(cache_path)
        return loaded


_DEFAULT = ContractSizes()


def default_contracts() -> ContractSizes:
    """Process-wide registry shared by venues created without ``contracts=``."""
    return _DEFAULT
