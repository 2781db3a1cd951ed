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

Sources loaded at start-up (:meth:`ContractSizes.refresh`, injectable fetch):

* OKX ``GET /api/v5/public/instruments?instType=SWAP|FUTURES``: ``ctVal`` x
  ``ctMult``, ``ctType`` linear/inverse.
  https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
* Binance COIN-M ``GET /dapi/v1/exchangeInfo``: ``contractSize`` (USD, inverse).
  https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Exchange-Information
* BitMEX ``GET /api/v1/instrument/active``: ``isInverse``, ``isQuanto``,
  ``multiplier``, ``underlyingToPositionMultiplier``, ``quoteCurrency``,
  ``markPrice``. https://www.bitmex.com/api/explorer/#!/Instrument/Instrument_getActive
* Gate USDT futures ``GET /api/v4/futures/usdt/contracts``: ``quanto_multiplier``
  (coins per contract). https://www.gate.com/docs/developers/apiv4/en/#list-all-futures-contracts

The loaded table is cached to a JSON file (:meth:`ContractSizes.save` /
:meth:`ContractSizes.load`) so a restart without network still has real values.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Literal

import msgspec

log = logging.getLogger(__name__)

ContractKind = Literal["linear", "inverse", "quanto"]


class ContractSpec(msgspec.Struct, frozen=True):
    """Size of one contract of ``symbol`` on ``exchange``.

    Fields:
        exchange: venue id (``okx``, ``binance_coinm``, ``bitmex``, ``gate``).
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


# --------------------------------------------------------------------------- fallback

#: Fallback values and where they come from. Used only until (or if never)
#: the instruments endpoint was loaded.
FALLBACK_NOTES = {
    "okx": (
        "BTC-USDT-SWAP ctVal 0.01 BTC, ETH-USDT-SWAP 0.1 ETH, BTC-USD-SWAP 100 USD, ETH-USD-SWAP "
        "10 USD (recorded OKX /api/v5/public/instruments response, cryptofeed sample_data/OKX.0, "
        "2022; same family rule for dated futures). Other inverse (-USD-) contracts 10 USD (OKX "
        "inverse contract specs). Linear majors: SOL/LTC/LINK/DOT/AVAX 1, BCH 0.1, XRP/ADA 100, "
        "DOGE/TRX 1000, SHIB 1e6 coins (instruments ctVal as kept in crypto-contract-value's offline "
        "okx.rs table, 2022). Other linear contracts: UNKNOWN, "
        "1 coin assumed -- wrong for many coins, which is why the instruments endpoint is loaded "
        "at start-up."
    ),
    "binance_coinm": (
        "BTCUSD_* 100 USD, every other COIN-M contract 10 USD (contractSize in "
        "/dapi/v1/exchangeInfo; recorded 100 for BTCUSD_PERP, 10 for ETHUSD_PERP)."
    ),
    "bitmex": (
        "Values from the recorded /api/v1/instrument/active response (cryptofeed "
        "sample_data/BITMEX.0, 2021-07-22): XBT*USD/EUR inverse 1 USD; ETHUSD quanto 100 sat, "
        "LTCUSD 200, XRPUSD 20000, BCHUSD 100; XBT-quoted futures (ADAZ19, XRPU21, ETHU21) "
        "linear 1 coin (underlyingToPositionMultiplier 1). Unknown <X>USD: quanto 100 sat. "
        "USDT-margined linear perpetuals (listed since 2021; in the 2021 recording <X>USDT were "
        "still quanto): coins per contract = multiplier x 1e-6 = 1 / "
        "underlyingToPositionMultiplier -- XBTUSDT 1e-6, ETHUSDT 1e-5, BCHUSDT 1e-5, SOL/BNB/"
        "AVAX/LTC 1e-4, LINK/DOT 1e-3, XRP/DOGE/ADA 1e-2 (BitMEX contract specs, "
        "https://www.bitmex.com/app/contract/XBTUSDT; the same multipliers appear in the "
        "offline table of crypto-contract-value's bitmex.rs). Unknown <X>USDT: size UNKNOWN "
        "(NaN): the BitMEX parser holds such liquidations until /instrument supplies it."
    ),
    "gate": "Unknown contracts: 1 coin (load /futures/usdt/contracts quanto_multiplier).",
}

_OKX_TABLE = {
    ("BTC", "USDT"): 0.01, ("ETH", "USDT"): 0.1, ("BTC", "USD"): 100.0,
    # majors' linear ctVal (coins per contract) as OKX's /api/v5/public/instruments lists them
    ("SOL", "USDT"): 1.0, ("XRP", "USDT"): 100.0, ("DOGE", "USDT"): 1000.0, ("LTC", "USDT"): 1.0,
    ("ADA", "USDT"): 100.0, ("LINK", "USDT"): 1.0, ("DOT", "USDT"): 1.0, ("AVAX", "USDT"): 1.0,
    ("BCH", "USDT"): 0.1, ("TRX", "USDT"): 1000.0, ("SHIB", "USDT"): 1_000_000.0,
}
_BITMEX_QUANTO = {"ETHUSD": 100.0, "LTCUSD": 200.0, "XRPUSD": 20000.0, "BCHUSD": 100.0}
#: BitMEX USDT-margined linear perpetuals: coins per contract (see FALLBACK_NOTES["bitmex"]).
_BITMEX_LINEAR_USDT = {
    "XBTUSDT": 1e-6, "ETHUSDT": 1e-5, "BCHUSDT": 1e-5, "SOLUSDT": 1e-4, "BNBUSDT": 1e-4,
    "AVAXUSDT": 1e-4, "LTCUSDT": 1e-4, "LINKUSDT": 1e-3, "DOTUSDT": 1e-3, "XRPUSDT": 1e-2,
    "DOGEUSDT": 1e-2, "ADAUSDT": 1e-2,
}
_MONTH_CODE = re.compile(r"^([A-Z]+?)([FGHJKMNQUVXZ]\d\d)$")


def fallback_spec(exchange: str, symbol: str) -> ContractSpec:
    """Rule-based spec for a symbol not loaded from the venue (see FALLBACK_NOTES)."""
    if exchange == "okx":
        parts = symbol.split("-")
        base = parts[0]
        inverse = len(parts) >= 2 and parts[1] == "USD"
        if inverse:
            size = _OKX_TABLE.get((base, "USD"), 10.0)
            return ContractSpec(exchange, symbol, "inverse", size, "USD", "fallback")
        quote = parts[1] if len(parts) >= 2 else "USDT"
        size = _OKX_TABLE.get((base, quote), 1.0)
        return ContractSpec(exchange, symbol, "linear", size, quote, "fallback")
    if exchange == "binance_coinm":
        size = 100.0 if symbol.startswith("BTCUSD") else 10.0
        return ContractSpec(exchange, symbol, "inverse", size, "USD", "fallback")
    if exchange == "bitmex":
        if symbol.startswith("XBT"):
            rest = symbol[3:]
            if rest.startswith(("USD", "EUR")) and not rest.startswith("USDT") or _MONTH_CODE.match(symbol):
                quote = "EUR" if rest.startswith("EUR") else "USD"
                return ContractSpec(exchange, symbol, "inverse", 1.0, quote, "fallback")
        if symbol in _BITMEX_QUANTO:
            return ContractSpec(exchange, symbol, "quanto", _BITMEX_QUANTO[symbol] * 1e-8, "USD", "fallback")
        if _MONTH_CODE.match(symbol) and "USD" not in symbol:
            return ContractSpec(exchange, symbol, "linear", 1.0, "XBT", "fallback")
        if symbol in _BITMEX_LINEAR_USDT:
            return ContractSpec(exchange, symbol, "linear", _BITMEX_LINEAR_USDT[symbol], "USDT", "fallback")
        if symbol.endswith("USDT") or "USDT" in symbol:
            # sizes range over 1e-6..1 coin: no safe guess; NaN = unknown until /instrument loads
            return ContractSpec(exchange, symbol, "linear", math.nan, "USDT", "fallback")
        return ContractSpec(exchange, symbol, "quanto", 100e-8, "USD", "fallback")
    return ContractSpec(exchange, symbol, "linear", 1.0, "USD", "fallback")


# --------------------------------------------------------------------------- response parsers


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def specs_from_okx(body: str | bytes) -> list[ContractSpec]:
    """Specs from an OKX ``/api/v5/public/instruments`` body (``data[]`` rows).

    linear: size = ctVal x ctMult coins; inverse: size = ctVal x ctMult USD.
    Rows without ``ctVal`` (spot, margin) are skipped.
    """
    out = []
    for row in msgspec.json.decode(body).get("data") or []:
        ct, mult = _f(row.get("ctVal")), _f(row.get("ctMult")) or 1.0
        kind = row.get("ctType")
        if not ct or kind not in ("linear", "inverse"):
            continue
        inst = row["instId"]
        quote = row.get("settleCcy") if kind == "linear" else "USD"
        parts = inst.split("-")
        if kind == "linear" and len(parts) >= 2:
            quote = parts[1]
        out.append(ContractSpec("okx", inst, kind, ct * mult, quote or "USD"))
    return out


def specs_from_binance_coinm(body: str | bytes) -> list[ContractSpec]:
    """Specs from Binance COIN-M ``/dapi/v1/exchangeInfo`` (``symbols[].contractSize``, USD)."""
    out = []
    for row in msgspec.json.decode(body).get("symbols") or []:
        cs = _f(row.get("contractSize"))
        if cs:
            out.append(ContractSpec("binance_coinm", row["symbol"], "inverse", cs, "USD"))
    return out


def specs_from_bitmex(body: str | bytes) -> list[ContractSpec]:
    """Specs from BitMEX ``/api/v1/instrument[/active]`` rows.

    ``isInverse`` -> inverse, 1 quote unit (USD/EUR) per contract;
    ``isQuanto`` -> quanto, ``multiplier`` satoshi per contract per price unit;
    otherwise linear, ``1 / underlyingToPositionMultiplier`` coins per contract
    (1 when absent), price quoted in ``quoteCurrency``.
    """
    out = []
    for row in msgspec.json.decode(body):
        sym = row.get("symbol")
        # perpetual (FFWCSX), future (FFCCSX), perpetual-FX (FFWCSF); rows without a
        # type or multiplier are not instrument definitions and are ignored
        if not isinstance(sym, str) or not sym or row.get("typ") not in ("FFWCSX", "FFCCSX", "FFWCSF"):
            continue
        if _f(row.get("multiplier")) is None:
            continue
        mark = _f(row.get("markPrice"))
        quote = (row.get("quoteCurrency") or "USD").upper()
        if row.get("isInverse"):
            out.append(ContractSpec("bitmex", sym, "inverse", 1.0, quote, mark_price=mark))
        elif row.get("isQuanto"):
            mult = _f(row.get("multiplier")) or 100.0
            out.append(ContractSpec("bitmex", sym, "quanto", abs(mult) * 1e-8, quote, mark_price=mark))
        else:
            utp = _f(row.get("underlyingToPositionMultiplier")) or 1.0
            out.append(ContractSpec("bitmex", sym, "linear", 1.0 / utp, quote, mark_price=mark))
    return out


def specs_from_gate(body: str | bytes) -> list[ContractSpec]:
    """Specs from Gate ``/api/v4/futures/usdt/contracts`` (``quanto_multiplier`` coins)."""
    out = []
    for row in msgspec.json.decode(body):
        qm = _f(row.get("quanto_multiplier"))
        if row.get("name") and qm:
            out.append(ContractSpec("gate", row["name"], "linear", qm, "USDT"))
    return out


#: exchange -> (endpoint URLs, response parser). URLs are the public defaults.
INSTRUMENT_SOURCES: dict[str, tuple[tuple[str, ...], Callable[[str | bytes], list[ContractSpec]]]] = {
    "okx": (
        (
            "https://www.okx.com/api/v5/public/instruments?instType=SWAP",
            "https://www.okx.com/api/v5/public/instruments?instType=FUTURES",
        ),
        specs_from_okx,
    ),
    "binance_coinm": (("https://dapi.binance.com/dapi/v1/exchangeInfo",), specs_from_binance_coinm),
    "bitmex": (("https://www.bitmex.com/api/v1/instrument/active",), specs_from_bitmex),
    "gate": (("https://api.gateio.ws/api/v4/futures/usdt/contracts",), specs_from_gate),
}

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
        cache_path: str | Path | None = "data/contracts.json",
        fetch: Fetch | None = None,
        exchanges: Iterable[str] = ("okx", "binance_coinm", "bitmex"),
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
        return self.update(INSTRUMENT_SOURCES[exchange][1](body))

    async def refresh(
        self,
        fetch: Fetch | None = None,
        exchanges: Iterable[str] = ("okx", "binance_coinm", "bitmex"),
        urls: dict[str, tuple[str, ...]] | None = None,
        cache_path: str | Path | None = None,
    ) -> dict[str, int]:
        """Fetch and load the instruments endpoints; never raises.

        Args:
            fetch: ``async (url) -> body``; default :func:`httpx_fetch`.
            exchanges: which sources of :data:`INSTRUMENT_SOURCES` to load.
            urls: per-exchange URL overrides (tests point these at 127.0.0.1).
            cache_path: when given and something loaded, the table is saved there.

        Returns ``{exchange: rows loaded}``; failures are stored in ``self.errors``
        and the fallback stays in force for that exchange.
        """
        fetch = fetch or httpx_fetch
        loaded: dict[str, int] = {}
        for ex in exchanges:
            default_urls, parser = INSTRUMENT_SOURCES[ex]
            total = 0
            for url in (urls or {}).get(ex, default_urls):
                try:
                    total += self.update(parser(await fetch(url)))
                except Exception as exc:  # network, HTTP, JSON: keep the fallback
                    self.errors[ex] = f"{url}: {type(exc).__name__}: {exc}"
                    log.warning("contract sizes from %s failed: %s", url, exc)
            loaded[ex] = total
        if cache_path is not None and any(loaded.values()):
            self.save(cache_path)
        return loaded


_DEFAULT = ContractSizes()


def default_contracts() -> ContractSizes:
    """Process-wide registry shared by venues created without ``contracts=``."""
    return _DEFAULT
