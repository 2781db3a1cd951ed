"""The reference data shipped for ``liqmap validate`` (``heatmap/reference/``, PROVENANCE.md there).

* Binance USD-M BTCUSDT klines: 5-minute December 2025 (data.binance.vision monthly archive),
  15-minute 2025-12-01 → 2026-05-28 08:30 (USD-M REST ``/fapi/v1/klines``), both with taker-buy
  volume; ``open_time`` = bar START, ms UTC.
* Binance USD-M BTCUSDT open interest, 5-minute (``metrics`` archive): ``t`` = ``create_time`` =
  the END of its 5-minute bar (a few rows 1–2 s late), ``oi`` in BTC (contracts of the linear
  perpetual), ``oi_usd`` USDT at Binance's mark price.
* CoinGlass hourly BTC export, 2025-12-04 06:00 → 2026-06-02 05:00: realized long/short
  liquidations in USD. Rows are stamped at the hour's START (checked: its price OHLC matches the
  Binance klines of ``[t, t + 1 h)``, median deviation 5 bp, and 21 bp when shifted one hour);
  :func:`load_realized` converts to the hour's END. Its OI column equals Binance BTCUSDT OI
  alone (ratio 0.9993–1.0004), not the three venues its meta file names; its liquidations are
  CoinGlass's aggregate of the venues in ``exchangeList`` (Binance, Bybit, OKX) as far as its
  meta file says — a third-party aggregate, not exchange records.

Loaders raise ``ValueError`` naming the file and line on a malformed row.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liqmap.heatmap.series import Klines, OpenInterest
from liqmap.units import HOUR_MS, INTERVAL_MS

REFERENCE_DIR = Path(__file__).with_name("reference")
KLINES_5M = REFERENCE_DIR / "BTCUSDT-5m_2025-12-01_to_2025-12-31.csv.gz"
KLINES_15M = REFERENCE_DIR / "BTCUSDT-15m_2025-12-01_to_2026-05-28.csv.gz"
OI_5M = REFERENCE_DIR / "BTCUSDT_oi_5m_2025-12-01_to_2026-06-02.csv.gz"
REALIZED_1H = REFERENCE_DIR / "coinglass_BTC_regime_1h_2025-12-04_2026-06-02.csv.gz"


def _rows(path: Path, cols: tuple[str, ...]) -> dict[str, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    out: dict[str, list[float]] = {c: [] for c in cols}
    with opener(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in cols if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        for i, row in enumerate(reader, start=2):
            try:
                for c in cols:
                    out[c].append(float(row[c]) if row[c] != "" else np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: bad value ({exc})") from None
    return {c: np.asarray(v) for c, v in out.items()}


def load_klines(path: str | Path, interval: str) -> Klines:
    """Binance kline CSV with header (data.binance.vision names) → :class:`Klines`."""
    a = _rows(Path(path), ("open_time", "open", "high", "low", "close", "quote_volume", "taker_buy_quote_volume"))
    order = np.argsort(a["open_time"], kind="stable")
    return Klines(INTERVAL_MS[interval], a["open_time"][order].astype(np.int64), a["open"][order], a["high"][order],
                  a["low"][order], a["close"][order], a["quote_volume"][order], a["taker_buy_quote_volume"][order])


def load_oi(path: str | Path = OI_5M) -> OpenInterest:
    """``t,oi,oi_usd`` CSV (t = instant the OI refers to, ms UTC) → :class:`OpenInterest`."""
    a = _rows(Path(path), ("t", "oi", "oi_usd"))
    order = np.argsort(a["t"], kind="stable")
    return OpenInterest(a["t"][order].astype(np.int64), a["oi"][order], a["oi_usd"][order])


@dataclass(frozen=True)
class Realized:
    """Realized liquidations per hour: t_end (H,) int64 = hour END ms UTC; long/short (H,) USD."""

    t_end: np.ndarray
    long: np.ndarray
    short: np.ndarray


def load_realized(path: str | Path = REALIZED_1H) -> Realized:
    """CoinGlass hourly export (rows stamped at the hour's START) → :class:`Realized` keyed by hour END."""
    a = _rows(Path(path), ("timestamp", "liquidation_long_usd", "liquidation_short_usd"))
    t = a["timestamp"].astype(np.int64)
    if (t % HOUR_MS).any():
        raise ValueError(f"{path}: timestamps must be whole hours")
    order = np.argsort(t, kind="stable")
    return Realized(t[order] + HOUR_MS, a["liquidation_long_usd"][order], a["liquidation_short_usd"][order])


def reference_klines() -> list[Klines]:
    """The shipped BTCUSDT klines (5-minute December, 15-minute to 2026-05-28)."""
    return [load_klines(KLINES_5M, "5m"), load_klines(KLINES_15M, "15m")]
