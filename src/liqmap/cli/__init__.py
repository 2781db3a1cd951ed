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

from liqmap.cli import (  # noqa: E402,F401  (registers commands)
    alerts_cmds, heatmap_cmds, history_cmds, record_cmd, replay_cmd, serve_cmds, storage_cmds, validate_cmd,
)


def main() -> None:  # pragma: no cover - console entry
    app()
