"""``liqmap alerts test`` / ``liqmap alerts show``: check an alert configuration.

Registers the ``alerts`` command group on :data:`liqmap.cli.app`. The configuration is
``--config FILE``, else ``LIQMAP_ALERTS_CONFIG``, else the ``LIQMAP_ALERT_*`` variables
(:mod:`liqmap.alerts.config`).

Exit codes: 0 every sink answered 2xx; 1 at least one sink failed (each named, with the reason);
2 no or invalid configuration.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from liqmap.cli import app

alerts_app = typer.Typer(help="Alert rules and sinks (Telegram, Discord, Slack, JSON webhook).",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

_CONFIG = typer.Option(None, "--config", "-c", help="Alert config file (.toml/.yaml/.json); "
                       "default LIQMAP_ALERTS_CONFIG, else the LIQMAP_ALERT_* variables.")


def _load(config: Optional[Path], err: Console):
    from liqmap.alerts.config import AlertConfigError, resolve_config
    from liqmap.settings import Settings

    try:
        cfg = resolve_config(config, Settings())
    except AlertConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if cfg is None or not cfg.sinks:
        where = cfg.source if cfg is not None else "no --config, LIQMAP_ALERTS_CONFIG or LIQMAP_ALERT_* sink"
        err.print(f"[red]error:[/red] no alert sink configured ({where}); see `liqmap alerts --help`",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    return cfg


def _out() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=160)


@alerts_app.command("test")
def alerts_test(
    config: Optional[Path] = _CONFIG,
    attempts: int = typer.Option(2, "--attempts", min=1, max=10, help="Tries per sink (retries honour Retry-After)."),
) -> None:
    """Send one test message to every configured sink and print each sink's result."""
    err = Console(stderr=True)
    cfg = _load(config, err)
    results = asyncio.run(cfg.dispatcher().test(attempts=attempts))
    table = Table(title=f"alert sinks ({cfg.source})", title_justify="left")
    for col in ("sink", "type", "target", "result", "time", "detail"):
        table.add_column(col, no_wrap=col != "detail")
    sinks = {s.name: s for s in cfg.sinks}
    failed = 0
    for name, (out, secs) in results.items():
        failed += not out.ok
        s = sinks[name]
        table.add_row(name, s.kind, s.target(), "[green]ok[/green]" if out.ok else "[red]FAILED[/red]",
                      f"{secs * 1000:.0f} ms", out.detail)
    _out().print(table)
    if failed:
        err.print(f"[red]{failed} of {len(results)} sink(s) failed[/red]", highlight=False)
        raise typer.Exit(1)


@alerts_app.command("show")
def alerts_show(config: Optional[Path] = _CONFIG) -> None:
    """Print the rules and sinks in effect (secrets masked)."""
    import msgspec

    err = Console(stderr=True)
    cfg = _load(config, err)
    out = _out()
    sinks = Table(title=f"sinks ({cfg.source})", title_justify="left")
    for col in ("name", "type", "target", "attempts", "queue"):
        sinks.add_column(col, no_wrap=True)
    for s in cfg.sinks:
        sinks.add_row(s.name, s.kind, s.target(), str(s.max_attempts), str(s.queue_size))
    out.print(sinks)
    rules = Table(title=f"rules (default cooldown {cfg.cooldown_s:g} s)", title_justify="left")
    for col in ("name", "type", "settings", "cooldown", "sinks"):
        rules.add_column(col, no_wrap=col != "settings")
    skip = {"name", "cooldown_s", "sinks", "enabled"}
    for r in cfg.rules:
        d = {k: v for k, v in msgspec.to_builtins(r).items() if k not in skip and k != "type" and v not in (None, {}, [])}
        cooldown = f"{cfg.cooldown_s if r.cooldown_s is None else r.cooldown_s:g} s"
        name = r.name if r.enabled else f"{r.name} (disabled)"
        rules.add_row(name, type(r).__struct_config__.tag, ", ".join(f"{k}={v}" for k, v in d.items()),
                      cooldown, ", ".join(r.sinks) if r.sinks else "all")
    out.print(rules)
