"""Terminal dashboard (``liqmap monitor``) and coverage report (``liqmap check``).

Both read either a running serve's HTTP API (``--api URL``) or a DuckDB file
(``--db PATH``, opened read-only; DuckDB refuses while a serve process holds it,
then use ``--api``). :func:`fetch_snapshot` gathers one JSON-ready snapshot,
:func:`render` turns it into rich renderables (pure, testable).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from liqmap.fmt import usd
from liqmap.storage import duckdb_reads
from liqmap.settings import get_settings
from liqmap.units import CASCADE_MIN_USD, HOUR_MS, INSTITUTIONAL_USD, LARGE_USD, MINUTE_MS, SECOND_MS, now_ms


class MonitorError(RuntimeError):
    """Data source unreachable or unreadable; message is one line."""


def _window(now: int, timeframe: str) -> int | None:
    if timeframe == "all":
        return None
    if timeframe not in duckdb_reads.TIMEFRAMES_MS:
        raise MonitorError(f"timeframe must be one of {', '.join(duckdb_reads.TIMEFRAMES_MS)}, all")
    return now - duckdb_reads.TIMEFRAMES_MS[timeframe]


def _from_db(db: str, symbol: str | None, timeframe: str) -> dict[str, Any]:
    import duckdb

    if not Path(db).is_file():
        raise MonitorError(f"no database file at {db}")
    try:
        con = duckdb.connect(db, read_only=True)
    except duckdb.Error as exc:
        msg = str(exc).splitlines()[0]
        if "lock" in msg.lower():
            raise MonitorError(f"{db} is held by a running liqmap serve; use --api URL instead") from exc
        raise MonitorError(f"cannot read {db}: {msg}") from exc
    try:
        if not duckdb_reads.table_exists(con, "liquidations"):
            raise MonitorError(f"{db} has no liquidations table (not a liqmap database)")
        s = get_settings()
        now = duckdb_reads.latest_timestamp(con) or now_ms()
        base = None
        if symbol:
            base = duckdb_reads.resolve_underlying(symbol, duckdb_reads.known_underlyings(con))
            if base is None:
                raise MonitorError(f"unknown symbol {symbol!r}; known: {', '.join(duckdb_reads.known_underlyings(con))}")
        start = _window(now, timeframe)
        meta = {"mode": "file", "now_ms": now, "source": db}
        return {
            "meta": meta,
            "recent": duckdb_reads.recent(con, base, None, None, 25),
            "stats": duckdb_reads.stats(con, base, start, now, None, s.large_usd, s.institutional_usd),
            "cascades": duckdb_reads.cascades(con, base, start, now, None, min_usd=CASCADE_MIN_USD)[:8],
            "detected": duckdb_reads.stored_cascades(con, base, start, now, 8),
            "health": None,
            "coverage": duckdb_reads.coverage(con),
            "gaps": duckdb_reads.gaps(con, 20),
            "large_usd": s.large_usd,
            "institutional_usd": s.institutional_usd,
        }
    finally:
        con.close()


def _from_api(api: str, symbol: str | None, timeframe: str, client: httpx.Client | None = None) -> dict[str, Any]:
    base = api.rstrip("/")
    p = {"timeframe": timeframe}
    if symbol:
        p["symbol"] = symbol
    try:
        with (nullcontext(client) if client is not None else httpx.Client(base_url=base, timeout=5.0)) as c:
            def get(path, params=None):
                r = c.get(path, params=params)
                if r.status_code >= 400:
                    detail = r.json().get("detail") if r.headers.get("content-type", "").startswith("application/json") else r.text
                    raise MonitorError(f"{path}: HTTP {r.status_code}: {detail}")
                return r.json()

            stats = get("/liquidations/stats", p)
            recent = get("/liquidations/recent", {"limit": 25, **({"symbol": symbol} if symbol else {})})
            casc = get("/liquidations/cascades", {**p, "min_usd": CASCADE_MIN_USD})
            health = get("/exchanges/health")
    except httpx.HTTPError as exc:
        raise MonitorError(f"cannot reach liqmap API at {base}: {exc}") from exc
    return {
        "meta": stats["meta"],
        "recent": recent["liquidations"],
        "stats": stats,
        "cascades": casc["cascades"][:8],
        "detected": casc.get("detected", [])[:8],
        "health": health["exchanges"],
        "coverage": None,
        "gaps": [g for e in health["exchanges"] for g in e.get("gaps", [])],
        "large_usd": stats["meta"].get("large_usd", LARGE_USD),
        "institutional_usd": stats["meta"].get("institutional_usd", INSTITUTIONAL_USD),
    }


def fetch_snapshot(api: str | None = None, db: str | None = None, symbol: str | None = None,
                   timeframe: str = "24h", client: httpx.Client | None = None) -> dict[str, Any]:
    """One snapshot from ``api`` (base URL) or ``db`` (file). Raises :class:`MonitorError`.

    ``client``: an httpx client to use for ``api`` (tests pass an in-process one).
    """
    if db:
        return _from_db(db, symbol, timeframe)
    if not api:
        raise MonitorError("give --api URL or --db PATH")
    return _from_api(api, symbol, timeframe, client)


def _ts(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / SECOND_MS)) if ms else "-"


def tier_style(value_usd: float, large: float, institutional: float) -> str:
    """Rich style modifier of a size tier (bold for large, reverse for institutional)."""
    if value_usd >= institutional:
        return "bold reverse"
    if value_usd >= large:
        return "bold"
    return ""


def _bar(frac: float, width: int = 24) -> str:
    n = max(0, min(width, round(frac * width)))
    return "█" * n + "·" * (width - n)


def _head(snap: dict[str, Any]) -> Text:
    meta, st = snap["meta"], snap["stats"]
    mode = meta.get("mode", "?").upper()
    head = Text.assemble(
        ("liqmap monitor  ", "bold"), (f" {mode} ", "black on yellow" if mode != "LIVE" else "black on green"),
        f"  now {_ts(meta.get('now_ms'))} UTC   ",
        (f"{usd(st['total_usd'])} in {st['count']} liquidations", "bold"),
    )
    if snap.get("error"):
        head.append(f"   ! {snap['error']}", style="red")
    return head


def _latest(snap: dict[str, Any]) -> Table:
    large, inst = snap["large_usd"], snap["institutional_usd"]
    feed = Table(title="Latest liquidations", box=box.SIMPLE, expand=True)
    for c in ("time (UTC)", "exchange", "symbol", "side", "price", "value"):
        feed.add_column(c, justify="right" if c in ("price", "value") else "left")
    for ev in snap["recent"][:20]:
        color = "red" if ev["side"] == "long" else "green"
        style = f"{color} {tier_style(ev['value_usd'], large, inst)}".strip()
        feed.add_row(_ts(ev["timestamp"])[5:], ev["exchange"], ev["symbol"], ev["side"],
                     f"{ev['price']:.6g}", usd(ev["value_usd"]), style=style)
    return feed


def _timeline(st: dict[str, Any]) -> Table:
    tl = Table(title=f"{st['bucket_ms'] // MINUTE_MS}-minute buckets (last 12)", box=box.SIMPLE, expand=True)
    tl.add_column("bucket")
    tl.add_column("long", style="red")
    tl.add_column("short", style="green")
    buckets = st["timeline"][-12:]
    peak = max((b["long_usd"] + b["short_usd"] for b in buckets), default=0) or 1
    for b in buckets:
        tl.add_row(_ts(b["t"])[5:16], f"{_bar(b['long_usd'] / peak, 16)} {usd(b['long_usd'])}",
                   f"{_bar(b['short_usd'] / peak, 16)} {usd(b['short_usd'])}")
    return tl


def _exchanges(st: dict[str, Any]) -> Table:
    ex = Table(title="Exchanges", box=box.SIMPLE, expand=True)
    ex.add_column("exchange")
    ex.add_column("share")
    ex.add_column("value", justify="right")
    ex.add_column("events", justify="right")
    for e in st["by_exchange"]:
        ex.add_row(e["exchange"], _bar(e["share"] or 0, 20), usd(e["value_usd"]), str(e["count"]))
    return ex


def _long_short(st: dict[str, Any]) -> Text:
    ls = Text()
    total = st["total_usd"] or 1
    lf = st["long_usd"] / total
    sf = 1 - lf if st["total_usd"] else 0
    ls.append("long  " + _bar(lf, 30) + f" {usd(st['long_usd'])} ({lf:.0%})\n", style="red")
    ls.append("short " + _bar(sf, 30) + f" {usd(st['short_usd'])} ({sf:.0%})", style="green")
    tiers = st["tiers"]
    ls.append(f"\ntiers: retail {tiers['retail']['count']}  large {tiers['large']['count']}  "
              f"institutional {tiers['institutional']['count']}")
    return ls


def _cascades(snap: dict[str, Any]) -> Table:
    detected = snap.get("detected") or []
    cas = Table(title="Cascades" + (" (detector)" if detected else " (bursts)"), box=box.SIMPLE, expand=True)
    for c in ("start", "base", "value", "events", "side", "venues", "severity"):
        cas.add_column(c)
    for c in detected or snap["cascades"]:
        sev = (c.get("severity") or "") + (" ACTIVE" if c.get("status") == "active" else "") if detected else "burst"
        cas.add_row(_ts(c["start_ms"])[5:], c["base"], usd(c["value_usd"]), str(c["count"]), c["dominant_side"],
                    ",".join(c["exchanges"]), sev, style="red" if c["dominant_side"] == "long" else "green")
    if not (detected or snap["cascades"]):
        cas.add_row("none", "", "", "", "", "", "")
    return cas


def _health(snap: dict[str, Any]) -> Table:
    hl = Table(title="Health", box=box.SIMPLE, expand=True)
    for c in ("exchange", "status", "events", "last event age"):
        hl.add_column(c)
    if snap.get("health") is not None:
        for h in snap["health"]:
            if h["events"] or h["enabled"]:
                age = h.get("last_event_age_s")
                hl.add_row(h["exchange"], h["status"], str(h["events"]), f"{age:.0f}s" if age is not None else "-",
                           style="green" if h["status"] in ("ok", "replay") else "yellow")
        return hl
    now = snap["meta"].get("now_ms") or 0
    per: dict[str, list] = {}
    for r in snap.get("coverage") or []:
        per.setdefault(r["exchange"], []).append(r)
    for name, rows in per.items():
        last = max(r["last_ms"] for r in rows)
        hl.add_row(name, "stored", str(sum(r["count"] for r in rows)), f"{(now - last) / SECOND_MS:.0f}s")
    return hl


def render(snap: dict[str, Any]) -> Group:
    """Rich renderable of a snapshot (latest feed, timeline, exchanges, long/short, cascades, health)."""
    st = snap["stats"]
    top = Table.grid(expand=True)
    top.add_column(ratio=3)
    top.add_column(ratio=2)
    right = Group(Panel(_long_short(st), title="Long / short", box=box.ROUNDED), _exchanges(st), _health(snap))
    top.add_row(_latest(snap), right)
    bottom = Table.grid(expand=True)
    bottom.add_column(ratio=1)
    bottom.add_column(ratio=1)
    bottom.add_row(_timeline(st), _cascades(snap))
    return Group(_head(snap), top, bottom)


def check_report(db: str | None = None, api: str | None = None) -> Group:
    """``liqmap check``: events per exchange/symbol, last event age (vs newest event), gaps."""
    if api:
        snap = _from_api(api, None, "all")
        t = Table(title=f"Coverage via {api}", box=box.SIMPLE)
        for c in ("exchange", "status", "events", "last event", "age"):
            t.add_column(c)
        for h in snap["health"]:
            age = h.get("last_event_age_s")
            t.add_row(h["exchange"], h["status"], str(h["events"]), _ts(h.get("last_event_ms")),
                      f"{age:.0f}s" if age is not None else "-")
        return Group(t, _gaps_table(snap["gaps"]))
    db = db or get_settings().db
    snap = _from_db(db, None, "all")
    now = snap["meta"]["now_ms"]
    wall = now_ms()
    t = Table(title=f"Coverage of {db} (newest event {_ts(now)} UTC, {(wall - now) / HOUR_MS:.1f} h ago)",
              box=box.SIMPLE)
    for c in ("exchange", "symbol", "events", "value", "first", "last", "age vs newest"):
        t.add_column(c, justify="right" if c in ("events", "value") else "left")
    total = 0
    for r in snap["coverage"]:
        total += r["count"]
        t.add_row(r["exchange"], r["symbol"], str(r["count"]), usd(r["value_usd"]), _ts(r["first_ms"]),
                  _ts(r["last_ms"]), f"{(now - r['last_ms']) / SECOND_MS:.0f}s")
    summary = Text(f"{total} liquidations, {len({r['exchange'] for r in snap['coverage']})} exchanges, "
                   f"{len(snap['coverage'])} symbols, {len(snap['gaps'])} gaps")
    return Group(t, _gaps_table(snap["gaps"]), summary)


def _gaps_table(gaps: list[dict]) -> Table:
    g = Table(title="Gaps (newest first)", box=box.SIMPLE)
    for c in ("exchange", "connection", "start", "end", "seconds", "reason"):
        g.add_column(c)
    for x in gaps[:20]:
        g.add_row(x["exchange"], x["connection"], _ts(x["start"]), _ts(x["end"]),
                  f"{(x['end'] - x['start']) / SECOND_MS:.1f}", x["reason"])
    if not gaps:
        g.add_row("none", "", "", "", "", "")
    return g
