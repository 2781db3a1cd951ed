"""The ``liqmap`` command line (typer).

One module per command group registers its commands on :data:`app`:

* ``cli.feed_cmds``     -- ``record``, ``replay`` (print / store), ``cascades``
* ``cli.serve_cmds``    -- ``serve``, ``demo``, ``monitor``, ``check``
* ``cli.heatmap_cmds``  -- ``ingest``, ``validate``
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="liqmap",
    help="Multi-exchange crypto liquidation aggregator and liquidation heatmap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from liqmap.cli import feed_cmds, heatmap_cmds, record_cmd, serve_cmds, storage_cmds  # noqa: E402,F401  (registers commands)


def main() -> None:  # pragma: no cover - console entry
    app()
