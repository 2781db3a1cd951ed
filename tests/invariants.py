"""What a STORED liquidation must satisfy (issue #12), stated independently of the gate's
code so the fuzz checks can fail: the suite's parser fuzz (``test_parser_fuzz.py``) and
``benchmarks/bench_fuzz.py`` (100k mutated real frames per venue, parse + store) use it
on events and on rows read back from DuckDB."""

from __future__ import annotations

import math
import re
import time
from typing import Any

USD = {"USD", "USDT", "USDC", "FDUSD", "BUSD", "USDE"}
SYMBOL = re.compile(r"^[A-Za-z0-9.@][A-Za-z0-9._:/@-]{0,63}$")
DAY_MS = 86_400_000


def liquidation_violations(row: Any, launched_ms: int, now_ms: int | None = None) -> list[str]:
    """Broken invariants of one liquidation (an event or a dict of its stored columns):
    finite positive price/quantity/value within sane bounds, value = price x quantity for
    USD-family quotes (0.1 %), a symbol of <= 64 safe characters, a side, an event time in
    [venue launch, now + 1 day]. Empty when it holds."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    out = []
    p, q, v = get("price"), get("quantity"), get("value_usd")
    for name, x, hi in (("price", p, 1e9), ("quantity", q, 1e15), ("value_usd", v, 1e10)):
        if not isinstance(x, float) or not math.isfinite(x) or not 0 < x <= hi:
            out.append(f"{name}={x!r}")
    if not out and get("quote") in USD and abs(v - p * q) > 1e-3 * v:
        out.append(f"value_usd {v!r} != price x quantity {p * q!r}")
    sym = get("symbol")
    if not isinstance(sym, str) or not SYMBOL.match(sym):
        out.append(f"symbol={sym!r:.80}")
    if get("side") not in ("long", "short"):
        out.append(f"side={get('side')!r}")
    ts = get("timestamp")
    if not isinstance(ts, int) or not launched_ms <= ts <= now + DAY_MS:
        out.append(f"timestamp={ts!r}")
    if not isinstance(get("id"), str) or not get("id"):
        out.append("id missing")
    return out
