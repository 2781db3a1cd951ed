"""``liqmap validate``: the served heatmap model and five baselines against realized liquidations.

    liqmap validate [--version v1] [--json] [--n-boot N]   held-out table of a FROZEN protocol
    liqmap validate --development                           the same table on the fit half (protocol work)
    liqmap validate --fit                                   refit on the fit half, write params/<version>.json
    liqmap validate --record                                store the held-out score in the params file, once

What each step does is in ``liqmap.heatmap.validate``; the protocol files under
``liqmap/heatmap/protocol/`` fix every choice.
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from liqmap.cli import app

_err = Console(stderr=True)
#: Width of the table when stdout is not a terminal (a file, a pipe, CI logs): every figure in full.
TABLE_WIDTH = 132
ROWS = (("model", "model (served)"), ("no_oi_book", "no-OI book"), ("own_excursion", "own excursion"),
        ("two_sided_excursion", "two-sided exc."), ("hour_range", "hour range"), ("breakout_6h", "6 h breakout"))


def _ci(v) -> str:
    return "" if v is None or None in v else f"{v[0]:.3f}…{v[1]:.3f}"


def _f(v) -> str:
    return "—" if v is None or v != v else f"{v:.3f}"


def print_table(res: dict, console: Console) -> None:
    """The model and the five baselines per side, with the 95 % day-block intervals."""
    sp = res["split"]
    for side in ("long", "short"):
        half = sp["held_out"] if res["scored"] == "held-out half" else sp["fit"]
        t = Table(title=f"{side} liquidations, {res['scored']} ({half['hours']} h), protocol {res['protocol']}, "
                        f"params {res['params_version']}")
        for c in ("predictor", "ρ", "ρ 95% CI", "partial", "partial CI", "model−this ρ", "model−this partial"):
            t.add_column(c, no_wrap=True)
        for key, label in ROWS:
            r = res["sides"][side][key]
            t.add_row(label, _f(r["spearman"]), _ci(r["spearman_ci95"]), _f(r["partial"]),
                      "" if key == "own_excursion" else _ci(r["partial_ci95"]),
                      _ci(r.get("model_minus_spearman_ci95")), _ci(r.get("model_minus_partial_ci95")))
        console.print(t)
    console.print(f"fit half {sp['fit']['first_end']} … {sp['fit']['last_end']} ({sp['fit']['hours']} h); held out "
                  f"{sp['held_out']['first_end']} … {sp['held_out']['last_end']} ({sp['held_out']['hours']} h); "
                  f"{res['bootstrap']}")
    console.print("partial = partial Spearman given the own-side excursion; CIs: 95 % day-block bootstrap")
    console.print(f"served params: {res['params']}")


@app.command("validate")
def validate(version: str = typer.Option("v1", "--version", help="protocol / parameters version"),
             as_json: bool = typer.Option(False, "--json", help="print ONE JSON object"),
             n_boot: int = typer.Option(None, "--n-boot", help="bootstrap resamples (default: the protocol's)"),
             development: bool = typer.Option(False, "--development", help="score the fit half, not the held-out half"),
             fit: bool = typer.Option(False, "--fit", help="refit on the fit half and write `params/<version>.json`"),
             record: bool = typer.Option(False, "--record", help="store the held-out score in the params file (once)"),
             ) -> None:
    """Score the served heatmap model and five baselines against realized liquidations (frozen protocol)."""
    from liqmap.heatmap import params as P
    from liqmap.heatmap import validate as V

    try:
        if fit:
            out = V.fit_and_write(version, lambda i, n, p, m: _err.print(f"[{i}/{n}] criterion {m:.4f}") if i % 10 == 0 else None)
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
            return
        res = V.validate(version, n_boot=n_boot, development=development)
        if record:
            if development:
                raise RuntimeError("--record stores the held-out score; it cannot be combined with --development")
            path = P.record_held_out(version, {**res["sides"], "split": res["split"], "bootstrap": res["bootstrap"]})
            _err.print(f"held-out score recorded in {path}")
    except (OSError, ValueError, RuntimeError) as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(res, allow_nan=False, default=str) + "\n")
        return
    console = Console()
    if not console.is_terminal:  # piped or redirected: rich would fold the table to 80 columns
        console = Console(width=TABLE_WIDTH)
    print_table(res, console)
