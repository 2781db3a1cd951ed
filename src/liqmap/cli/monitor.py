"""Terminal dashboard (``liqmap monitor``) and coverage report (``liqmap check``).

Both read either a running serve's HTTP API (``--api URL``) or a DuckDB file
(``--db PATH``, opened read-only; DuckDB refuses while a serve process holds it,
then use ``--api``). :func:`fetch_snapshot` gathers one JSON-ready snapshot,
:func:`render` turns it into rich renderables (pure, testable).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from liqmap.fmt import age, stamp, usd
from liqmap.storage import duckdb_reads
from liqmap.settings import get_settings
from liqmap.units import CASCADE_MIN_USD, INSTITUTIONAL_USD, LARGE_USD, MINUTE_MS, SECOND_MS, now_ms


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
        meta = {"mode": "file", "now_ms": now, "source": db, "timeframe": timeframe}
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
            storage = get("/health").get("storage")
    except httpx.HTTPError as exc:
        raise MonitorError(f"cannot reach liqmap API at {base}: {exc}") from exc
    return {
        "meta": stats["meta"],
        "recent": recent["liquidations"],
        "stats": stats,
        "cascades": casc["cascades"][:8],
        "detected": casc.get("detected", [])[:8],
        "health": health["exchanges"],
        "storage": storage,
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
    """UTC date and time with the year (stored data spans years), ``-`` for none."""
    return stamp(ms) if ms else "-"


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
        ("liqmap ", "bold"), (f" {mode} ", "black on yellow" if mode != "LIVE" else "black on green"),
        f" {_ts(meta.get('now_ms'))} UTC  ",
        (f"{usd(st['total_usd'])} in {st['count']} liqs", "bold"),
        f" ({meta.get('timeframe') or meta.get('time_window') or snap.get('timeframe', '')})",
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
        feed.add_row(_ts(ev["timestamp"]), ev["exchange"], ev["symbol"], ev["side"],
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
        tl.add_row(_ts(b["t"])[:16], f"{_bar(b['long_usd'] / peak, 16)} {usd(b['long_usd'])}",
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
        cas.add_row(_ts(c["start_ms"])[:16], c["base"], usd(c["value_usd"]), str(c["count"]), c["dominant_side"],
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
                hl.add_row(h["exchange"], h["status"], str(h["events"]), age(h.get("last_event_age_s")),
                           style="green" if h["status"] in ("ok", "replay") else "yellow")
        _storage_rows(hl, snap.get("storage"))
        return hl
    now = snap["meta"].get("now_ms") or 0
    per: dict[str, list] = {}
    for r in snap.get("coverage") or []:
        per.setdefault(r["exchange"], []).append(r)
    for name, rows in per.items():
        last = max(r["last_ms"] for r in rows)
        hl.add_row(name, "stored", str(sum(r["count"] for r in rows)), age((now - last) / SECOND_MS))
    return hl


def _storage_rows(table: Table, storage: dict[str, Any] | None) -> None:
    """Rows of the storage tiers: DuckDB (committed / buffered), then each optional tier that is
    on (state, backlog in events, lag: age of its oldest undelivered batch)."""
    if not storage:
        return
    table.add_row("duckdb", f"{storage['buffered']} buffered", str(storage["committed"]), "-", style="green")
    for name, t in storage["tiers"].items():
        if name == "duckdb" or t.get("status") == "off":
            continue
        note = t["status"] + (f" ({t['backlog']} queued)" if t.get("backlog") else "")
        table.add_row(name, note, str(t.get("stored", 0)), f"{t.get('lag_s', 0):.0f}s",
                      style={"ok": "green", "degraded": "yellow"}.get(t["status"], "red"))


#: below this many columns :func:`render` draws the one-column compact layout
COMPACT_BELOW = 110


def render(snap: dict[str, Any], width: int | None = None, height: int | None = None) -> Group:
    """Rich renderable of a snapshot (latest feed, timeline, exchanges, long/short, cascades, health).

    ``width``/``height``: the terminal's size; under :data:`COMPACT_BELOW` columns the compact
    one-column layout (:func:`render_compact`) fits an 80x24 terminal."""
    if width is not None and width < COMPACT_BELOW:
        return render_compact(snap, height or 24)
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


def _venue_line(snap: dict[str, Any]) -> Text:
    """One line per the exchanges' totals: ``binance $1.2M 812 ok · bybit ...``."""
    st = snap["stats"]
    status = {h["exchange"]: h["status"] for h in snap.get("health") or []}
    line = Text("venues ", style="bold")
    for i, e in enumerate(st["by_exchange"]):
        if i:
            line.append(" · ", style="dim")
        line.append(f"{e['exchange']} {usd(e['value_usd'])} ({e['count']})")
        if e["exchange"] in status:
            st_ = status[e["exchange"]]
            line.append(f" {st_}", style="green" if st_ in ("ok", "replay") else "yellow")
    if not st["by_exchange"]:
        line.append("no liquidation in this window", style="dim")
    return line


def render_compact(snap: dict[str, Any], height: int = 24) -> Group:
    """The monitor in one column for small terminals (80x24): header, long/short bar, venues,
    as many latest liquidations as fit, then the newest cascades. No cell wraps."""
    st = snap["stats"]
    large, inst = snap["large_usd"], snap["institutional_usd"]
    total = st["total_usd"] or 1
    lf = st["long_usd"] / total if st["total_usd"] else 0
    ls = Text.assemble(("long ", "red"), (_bar(lf, 20), "red"), (f" {usd(st['long_usd'])} {lf:.0%}  ", "red"),
                       ("short ", "green"), (_bar(1 - lf if st["total_usd"] else 0, 20), "green"),
                       (f" {usd(st['short_usd'])}", "green"))
    detected = snap.get("detected") or []
    cascades = (detected or snap["cascades"])[:3]
    rows = max(3, height - 7 - (len(cascades) + 1 if cascades else 0))
    feed = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, expand=False)
    for c, just, w in (("time (UTC)", "left", 19), ("venue", "left", 11), ("symbol", "left", 14), ("side", "left", 5),
                       ("price", "right", 11), ("value", "right", 8)):
        feed.add_column(c, justify=just, no_wrap=True, max_width=w, overflow="ellipsis", header_style="bold")
    for ev in snap["recent"][:rows]:
        style = f"{'red' if ev['side'] == 'long' else 'green'} {tier_style(ev['value_usd'], large, inst)}".strip()
        feed.add_row(_ts(ev["timestamp"]), ev["exchange"], ev["symbol"], ev["side"], f"{ev['price']:.6g}",
                     usd(ev["value_usd"]), style=style)
    parts: list[Any] = [_head(snap), ls, _venue_line(snap), Text("latest liquidations", style="bold underline"), feed]
    if cascades:
        parts.append(Text("cascades" + (" (detector)" if detected else " (bursts)"), style="bold underline"))
        for c in cascades:
            sev = (c.get("severity") or "") if detected else "burst"
            parts.append(Text(f"{_ts(c['start_ms'])[:16]} {c['base']} {usd(c['value_usd'])} in {c['count']} "
                              f"{c['dominant_side']}s, {','.join(c['exchanges'])} {sev}", no_wrap=True,
                              overflow="ellipsis", style="red" if c["dominant_side"] == "long" else "green"))
    return Group(*parts)


def _minute(ms: int | None) -> str:
    return _ts(ms)[:16] if ms else "-"


def check_report(db: str | None = None, api: str | None = None, by_symbol: bool = False,
                 top: int = 10) -> Group:
    """``liqmap check``: events per exchange (``by_symbol``: per exchange and symbol, the ``top``
    busiest symbols of each exchange), last event and how far it lies behind, gaps. Ages read
    ``42 s``, ``3 h 12 min``, ``9 d 22 h`` (:func:`liqmap.fmt.age`)."""
    if api:
        snap = _from_api(api, None, "all")
        t = Table(title=f"Coverage via {api}", box=box.SIMPLE, title_justify="left")
        for c in ("exchange", "status", "events", "last event (UTC)", "age"):
            t.add_column(c, justify="right" if c == "events" else "left", no_wrap=True)
        for h in snap["health"]:
            t.add_row(h["exchange"], h["status"], str(h["events"]), _minute(h.get("last_event_ms")),
                      age(h.get("last_event_age_s")))
        return Group(t, _gaps_table(snap["gaps"]))
    db = db or get_settings().db
    snap = _from_db(db, None, "all")
    now = snap["meta"]["now_ms"]
    cov = snap["coverage"]
    title = Text(f"Coverage of {db}\nnewest event {_minute(now)} UTC, {age((now_ms() - now) / SECOND_MS)} ago; "
                 "'behind' = how long before the newest event each one's last event came", style="bold")
    t = Table(box=box.SIMPLE, pad_edge=False)
    cols = ["exchange", "symbol", "events", "value", "last event (UTC)", "behind"] if by_symbol else \
        ["exchange", "symbols", "events", "value", "last event (UTC)", "behind"]
    for c in cols:
        t.add_column(c, justify="right" if c in ("symbols", "events", "value") else "left", no_wrap=True,
                     max_width=14 if c == "symbol" else None, overflow="ellipsis")
    per: dict[str, list[dict]] = {}
    for r in cov:
        per.setdefault(r["exchange"], []).append(r)
    for ex, rows in per.items():
        if by_symbol:
            for r in sorted(rows, key=lambda r: -r["count"])[:top]:
                t.add_row(ex, r["symbol"], str(r["count"]), usd(r["value_usd"]), _minute(r["last_ms"]),
                          age((now - r["last_ms"]) / SECOND_MS))
            if len(rows) > top:
                t.add_row(ex, f"+{len(rows) - top} more", str(sum(r["count"] for r in sorted(rows, key=lambda r: -r["count"])[top:])),
                          "", "", "", style="dim")
            continue
        last = max(r["last_ms"] for r in rows)
        t.add_row(ex, str(len(rows)), str(sum(r["count"] for r in rows)), usd(sum(r["value_usd"] or 0 for r in rows)),
                  _minute(last), age((now - last) / SECOND_MS))
    summary = Text(f"{sum(r['count'] for r in cov)} liquidations, {len(per)} exchanges, "
                   f"{len(cov)} symbols, {len(snap['gaps'])} gaps"
                   + ("" if by_symbol else "  (per symbol: liqmap check --by-symbol)"))
    return Group(title, t, _gaps_table(snap["gaps"]), summary)


def _gaps_table(gaps: list[dict]) -> Table:
    g = Table(title="Gaps (newest first)", box=box.SIMPLE, title_justify="left")
    for c in ("exchange", "connection", "start (UTC)", "lasted", "reason"):
        g.add_column(c, no_wrap=c != "reason")
    for x in gaps[:20]:
        g.add_row(x["exchange"], x["connection"], _ts(x["start"]), age((x["end"] - x["start"]) / SECOND_MS),
                  x["reason"])
    if not gaps:
        g.add_row("none", "", "", "", "")
    return g
