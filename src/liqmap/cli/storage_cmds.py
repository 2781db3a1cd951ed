"""``liqmap cascades``: list detected liquidation cascades from a DuckDB file.

Registers on :data:`liqmap.cli.app`. Reads the ``cascades`` table written by
:class:`liqmap.storage.tiered.TieredStore` (e.g. after ``liqmap replay --db``).
The file is opened ``read_only``; DuckDB refuses that while another process
holds it for writing, which is reported as a one-line error (exit 2).

Exit codes: 0 listed (possibly none); 2 missing/locked/invalid database.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from liqmap.cli import app
from liqmap.fmt import stamp, usd


@app.command()
def cascades(
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default: LIQMAP_DB, data/liquidations.duckdb)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", "-s", help="Base asset or venue symbol (BTC, BTCUSDT)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Show at most N (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table (the API's field "
                                 "names: base, start_ms, end_ms, count, value_usd, ..., severity, dominant_side)."),
) -> None:
    """List detected cascades: start (UTC), symbol, events, USD, long/short, exchanges, risk score, severity."""
    import duckdb

    from liqmap.storage.duckdb_reads import cascade_status
    from liqmap.storage.duckdb_store import default_db_path, read_cascades

    def api_cascade(row: dict) -> dict:
        """A ``cascades`` table row under the API's names (``/liquidations/cascades`` ``detected``)."""
        return cascade_status([row[c] for c in ("id", "symbol", "start_ts", "end_ts", "n_events", "value_usd",
                                                 "long_usd", "short_usd", "exchanges", "risk_score", "severity",
                                                 "cross_exchange", "status")])

    err = Console(stderr=True)
    path = str(db) if db is not None else default_db_path()
    if not Path(path).exists():
        err.print(f"[red]error:[/red] no database at {path} (run `liqmap replay FILES --db {path}` first)",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        err.print(f"[red]error:[/red] cannot open {path} read-only: {str(exc).splitlines()[0]} "
                  "(DuckDB allows no readers in other processes while a writer has the file open; "
                  "stop the writer or read a snapshot)", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    try:
        rows = [api_cascade(r) for r in read_cascades(con, symbol=symbol, limit=limit)]
    except duckdb.CatalogException:
        err.print(f"[red]error:[/red] {path} has no cascades table (not a liqmap database?)", highlight=False)
        raise typer.Exit(2)
    finally:
        con.close()
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(rows) + b"\n")
        return
    out = Console() if sys.stdout.isatty() else Console(width=160)  # pipes/files: do not squeeze columns
    table = Table(title=f"cascades in {path}" + (f" ({symbol})" if symbol else ""), title_justify="left")
    for col, just in (("start (UTC)", "left"), ("symbol", "left"), ("events", "right"), ("USD", "right"),
                      ("long / short", "right"), ("exchanges", "left"), ("risk", "right"),
                      ("severity", "left"), ("status", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    colors = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold red"}
    for r in rows:
        sev = r["severity"] or "-"
        table.add_row(
            stamp(r["start_ms"]), r["base"], str(r["count"]), usd(r["value_usd"]),
            f"{usd(r['long_usd'])} / {usd(r['short_usd'])}",
            ",".join(r["exchanges"]) + (" (x)" if r["cross_exchange"] else ""),
            "-" if r["risk_score"] is None else f"{r['risk_score']:.2f}",
            f"[{colors.get(sev, 'white')}]{sev}[/]", r["status"],
        )
    out.print(table)
    out.print(f"{len(rows)} cascade(s)", highlight=False)
