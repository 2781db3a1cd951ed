"""The ``liqmap`` command line (typer).

One module per command group registers its commands on :data:`app`:

* ``cli.record_cmd``    -- ``record``
* ``cli.replay_cmd``    -- ``replay`` (print / store)
* ``cli.serve_cmds``    -- ``serve``, ``demo``, ``monitor``, ``check`` (terminal UI in ``cli.monitor``)
* ``cli.heatmap_cmds``  -- ``ingest``
* ``cli.validate_cmd``  -- ``validate`` (the heatmap model against realized liquidations)
* ``cli.storage_cmds``  -- ``cascades``
* ``cli.history_cmds``  -- ``download`` (archives), ``backfill`` (venue REST history)
* ``cli.alerts_cmds``   -- ``alerts test``, ``alerts show``

Shared behaviour: ``liqmap --version``; ``--help`` shows no type placeholder for flags (typer
0.29 prints ``<bool>`` beside every flag, as if it took a value) nor for named arguments (their
``FILE`` is in the name column; typer adds ``<list[str]>`` beside it); list options name what they
take (``metavar="VENUE,..."``); Ctrl-C ends a command with exit code 130 and one line, without a
traceback (:func:`main`).
"""

from __future__ import annotations

from typing import Optional

import typer
from typer.core import TyperArgument, TyperOption

from liqmap import __version__

_display_type_rich = TyperOption.display_type_rich
_argument_type_rich = TyperArgument.display_type_rich


def _flag_type(self: TyperOption, ctx) -> str | None:
    """A flag takes no value: no ``<bool>`` in the help's type column."""
    if self.is_flag and self.metavar is None:
        return None
    return _display_type_rich(self, ctx)


def _argument_type(self: TyperArgument, ctx) -> str | None:
    """An argument named by its metavar (``FILE``) needs no ``<list[str]>`` beside the name."""
    if self.metavar is not None:
        return None
    return _argument_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]

app = typer.Typer(
    name="liqmap",
    help="Multi-exchange crypto liquidation aggregator and liquidation heatmap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # paragraphs of the docstrings are re-flowed (typer 0.29's "rich" mode keeps every source line
    # break, so help text came out ragged); `code` spans keep <placeholders> literal
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"liqmap {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", "-V", callback=_version, is_eager=True,
                                           help="Print the liqmap version and exit."),
) -> None:
    """Multi-exchange crypto liquidation aggregator and liquidation heatmap."""


from liqmap.cli import (  # noqa: E402,F401  (registers commands)
    alerts_cmds, heatmap_cmds, history_cmds, record_cmd, replay_cmd, serve_cmds, storage_cmds, validate_cmd,
)


def main() -> None:  # pragma: no cover - console entry
    """Console entry point (``liqmap``): runs :data:`app`; Ctrl-C anywhere exits 130 quietly."""
    try:
        app()
    except KeyboardInterrupt:
        import sys

        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
