"""TEST-ONLY loader for the Binance datastreams liquidation CSV fixtures.

Not production code: the replay/venues helpers own the real readers and the
Binance parser. This reads ``tests/fixtures/binance_forceorder_datastreams/
*liquidations*.csv(.gz)``: headerless rows ``s,S,o,f,q,p,ap,X,l,z,T,usd_size``
(``USDT`` stripped from the symbol, ``ap`` may be the text ``None``, some rows
carry a 13th tier column, some lines are junk/duplicates; see PROVENANCE.md).

Mapping to :class:`liqmap.models.Liquidation` (Binance forceOrder semantics,
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams):
order side SELL closes a long -> ``side="long"``; BUY -> ``"short"``;
quantity = ``z`` (filled, base units); price = ``ap`` (average fill) or ``p``
when ``ap`` is missing; value_usd = quantity * price; timestamp = received_at = ``T``;
id = ``"{symbol}:{T}:{S}:{z}"``. Dated delivery contracts (``BTC_250627``) become
symbol ``BTCUSDT_250627``, base ``BTC``. Rows that do not parse are skipped and counted;
exact-duplicate ids are dropped (the PauliusMinialga file holds each line twice).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from liqmap.models import Liquidation

FIXTURES = Path(__file__).parent / "fixtures" / "binance_forceorder_datastreams"

PAULIUS = FIXTURES / "PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz"
NEOPARTH_1 = FIXTURES / "NeoParth_binance_liquidations_2025-06-23_2059-2122.csv"
NEOPARTH_2 = FIXTURES / "NeoParth_binance_liquidations_2025-06-23_2122-2156.csv"
ALEJANDRO = FIXTURES / "AlejandroME01_binance_liquidations_2024-06-20.csv"
BANDS = FIXTURES / "BandsThoBaby_binance_liquidations_2024-08-17.csv"
RIFTFERN = FIXTURES / "riftfern_binance_liquidations_2025-12-27_2025-12-28.csv.gz"

_QUOTES = ("USDC",)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_rows(path: Path) -> list[list[str]]:
    """Raw CSV rows (lists of strings), every line, unparsed."""
    with _open_text(path) as fh:
        return [row for row in csv.reader(fh) if row]


def row_to_liquidation(row: list[str]) -> Liquidation | None:
    """One CSV row -> Liquidation, or None when the row is not a forceOrder row."""
    if len(row) < 12:
        return None
    s, side_raw, _o, _f, _q, p, ap, status, _l, z, t = row[:11]
    if side_raw not in ("BUY", "SELL"):
        return None
    # NeoParth first line carries a stray text prefix before the symbol.
    if "Bot" in s:
        s = s.rsplit("Bot", 1)[1]
    try:
        qty = float(z)
        price = float(ap) if ap not in ("None", "", "0", "0.0") else float(p)
        ts = int(t)
    except ValueError:
        return None
    if not s or qty <= 0 or price <= 0:
        return None
    quote = "USDT"
    base = s
    suffix = ""
    if "_" in s:  # dated delivery contract: BTC_250627 was BTCUSDT_250627
        base, suffix = s.split("_", 1)
        suffix = "_" + suffix
    for q in _QUOTES:
        if base.endswith(q) and len(base) > len(q):
            base, quote = base[: -len(q)], q
    return Liquidation(
        exchange="binance",
        symbol=base + quote + suffix,
        base=base,
        quote=quote,
        side="long" if side_raw == "SELL" else "short",
        price=price,
        quantity=qty,
        value_usd=qty * price,
        timestamp=ts,
        received_at=ts,
        id=f"{s}:{t}:{side_raw}:{z}",
        order_side=side_raw,
        status=status,
    )


def load(*paths: Path, sort: bool = True) -> list[Liquidation]:
    """Liquidations from one or more fixture files, de-duplicated by id.

    ``sort=True`` orders by (timestamp, id) -- the order a live merged feed
    would approximately deliver; ``sort=False`` keeps file order (which is
    slightly out of order in places, useful for out-of-order tolerance).
    """
    seen: set[str] = set()
    out: list[Liquidation] = []
    for path in paths:
        for row in read_rows(path):
            liq = row_to_liquidation(row)
            if liq is None or liq.id in seen:
                continue
            seen.add(liq.id)
            out.append(liq)
    if sort:
        out.sort(key=lambda x: (x.timestamp, x.id))
    return out


BITMEX = Path(__file__).parent / "fixtures" / "bitmex_liquidations_ticktrades" / "bitmex_liquidation_inserts_2019-11.jsonl"


def load_bitmex_xbtusd() -> list[Liquidation]:
    """TEST-ONLY: BitMEX XBTUSD liquidation inserts (2019-11) as Liquidations.

    XBTUSD is inverse: one contract = 1 USD (https://www.bitmex.com/app/contract/XBTUSD),
    so value_usd = leavesQty and quantity = leavesQty / price BTC. Side ``Sell`` is
    the liquidation order closing a long -> ``long``. BitMEX rows carry no
    timestamp; ``recorded_at`` (the app's receive/write time) is used for both
    timestamp and received_at, as the models docstring prescribes. Other BitMEX
    symbols (quanto ETHUSD, futures) are skipped here.
    """
    import datetime as _dt
    import json

    out = []
    with open(BITMEX, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["symbol"] != "XBTUSD":
                continue
            ts = int(_dt.datetime.fromisoformat(r["recorded_at"].replace("Z", "+00:00")).timestamp() * 1000)
            price = float(r["price"])
            contracts = float(r["leavesQty"])
            out.append(
                Liquidation(
                    exchange="bitmex", symbol="XBTUSD", base="BTC", quote="USD",
                    side="long" if r["side"] == "Sell" else "short",
                    price=price, quantity=contracts / price, value_usd=contracts,
                    timestamp=ts, received_at=ts, id=r["orderID"], order_side=r["side"],
                )
            )
    out.sort(key=lambda x: (x.timestamp, x.id))
    return out
