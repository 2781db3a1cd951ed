"""Commands of this group register on liqmap.cli.app (see liqmap/cli/__init__.py)."""

from liqmap.cli import app  # noqa: F401
