"""Real-data loader for the storage tests (and its own checks).

Storage tests need ``Liquidation`` events from the real Binance forceOrder
captures in ``tests/fixtures/binance_forceorder_datastreams``. They come from
``liqmap.replay`` (``iter_frames`` + ``safe_parse``, the same path as live)
when that package provides it; otherwise from :func:`csv_test_loader`, a small
loader written for these tests that builds ``Liquidation`` straight from the
CSV columns ``s,S,o,f,q,p,ap,X,l,z,T,usd_size`` (see tests/fixtures/PROVENANCE.md).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from conftest import DATASTREAMS as FIXTURES
from liqmap.models import Liquidation

SELLOFF = FIXTURES / "PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz"
SQUEEZE = [
    FIXTURES / "NeoParth_binance_liquidations_2025-06-23_2059-2122.csv",
    FIXTURES / "NeoParth_binance_liquidations_2025-06-23_2122-2156.csv",
]
ALL_FILES = [SELLOFF, *SQUEEZE]


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")
    return path.open("r", newline="")


def csv_test_loader(path: Path) -> tuple[list[Liquidation], int]:
    """Test-only loader: ``(liquidations, rejected_rows)`` from one datastreams CSV.

    Symbol = ``s + "USDT"`` unless ``s`` ends with ``USDC``; ``S == "SELL"`` means
    a long was liquidated; quantity ``z`` (filled, base units); price ``ap``, or
    ``p`` when ``ap`` is the text ``None``; value = z * price; timestamp ``T``.
    Rows that do not have this shape (a stray text prefix, a generator repr)
    are rejected and counted. Exact duplicate rows get the same ``id``.
    """
    out: list[Liquidation] = []
    rejected = 0
    with _open(path) as fh:
        for row in csv.reader(fh):
            if len(row) not in (12, 13) or row[1] not in ("BUY", "SELL") or not row[10].isdigit():
                rejected += 1
                continue
            s, side, _o, _f, q, p, ap, status, _l, z, t = row[:11]
            if not s.replace("_", "").isalnum():
                rejected += 1
                continue
            root, _, expiry = s.partition("_")  # BTC_250627: quarterly BTCUSDT_250627
            quote = "USDC" if root.endswith("USDC") else "USDT"
            base = root[:-4] if quote == "USDC" else root
            symbol = base + quote + (f"_{expiry}" if expiry else "")
            price = float(p if ap == "None" else ap)
            qty = float(z)
            out.append(
                Liquidation(
                    exchange="binance", symbol=symbol, base=base, quote=quote,
                    side="long" if side == "SELL" else "short",
                    price=price, quantity=qty, value_usd=qty * price,
                    timestamp=int(t), received_at=int(t),
                    id=f"binance:{symbol}:{t}:{side}:{q}:{p}:{z}",
                    order_side=side, status=status,
                )
            )
    return out, rejected


def load_liquidations(path: Path) -> list[Liquidation]:
    """Liquidations of one fixture file, via liqmap.replay when available, else the test loader."""
    try:
        from liqmap.exchanges.base import safe_parse
        from liqmap.exchanges.registry import get_venue
        from liqmap.replay import iter_frames
    except ImportError:
        return csv_test_loader(path)[0]
    out: list[Liquidation] = []
    for frame in iter_frames([path]):
        venue = get_venue(frame.exchange)
        events, _error = safe_parse(venue, frame.data, frame.received_at, frame.connection)
        for ev in events:
            if isinstance(ev, Liquidation):
                out.append(ev)
    return out


def test_loader_selloff_matches_provenance():
    """PROVENANCE: 3510 lines, 1842 unique lines.

    5 of those unique lines are the same event written by the second listener
    with usd_size in another unit (0.3918 vs 391870.6): same symbol, side, q, p,
    z and T. They are one liquidation, so 1837 distinct events.
    """
    events, rejected = csv_test_loader(SELLOFF)
    assert rejected == 0
    assert len(events) == 3510
    with _open(SELLOFF) as fh:
        assert len(set(fh.read().splitlines())) == 1842
    assert len({e.id for e in events}) == 1837


def test_loader_squeeze_rejects_stray_prefix_row():
    """NeoParth first file: 446 lines, the first has a text prefix before the symbol."""
    events, rejected = csv_test_loader(SQUEEZE[0])
    assert rejected == 1 and len(events) == 445
    assert any(e.symbol == "BTCUSDT_250627" and e.base == "BTC" for e in events)
    assert all(e.price > 0 and e.quantity > 0 for e in events)
    btc = [e for e in events if e.symbol == "BTCUSDT"]
    assert len(btc) > 10 and all(103_000 < e.price < 104_700 for e in btc)  # PROVENANCE: 103,292-104,592


def test_replay_path_agrees_with_test_loader_on_selloff():
    """The events the storage tests use (replay path) are the same 1837 liquidations."""
    via_replay = {e.id: e for e in load_liquidations(SELLOFF)}
    via_csv = {e.id: e for e in csv_test_loader(SELLOFF)[0]}
    assert len(via_replay) == len(via_csv) == 1837
    assert sum(e.value_usd for e in via_replay.values()) == pytest.approx(
        sum(e.value_usd for e in via_csv.values()), rel=1e-12
    )
