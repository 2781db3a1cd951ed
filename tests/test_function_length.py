"""Issue #13 acceptance: no function in ``src/liqmap`` is longer than 80 lines (its ``def`` line
to its last line, docstring included); a longer one is split where its steps are."""

from __future__ import annotations

import ast

from conftest import ROOT

MAX_LINES = 80


def test_no_function_over_80_lines():
    long = []
    for path in sorted((ROOT / "src" / "liqmap").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)
