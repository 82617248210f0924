"""Architecture rules checked by the test suite: layer contracts (import-linter) and module docstrings."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGE = REPO / "callcontrol"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_import_contracts_are_kept() -> None:
    """The import-linter contracts in setup.cfg (pure core, services only through ports) all hold."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", "setup.cfg", "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 broken" in output, output


def test_contracts_cover_core_and_services() -> None:
    """setup.cfg declares the layer contracts, so the run above checks something."""
    config = (REPO / "setup.cfg").read_text()
    assert "[importlinter:contract:core-is-pure]" in config
    assert "[importlinter:contract:services-use-ports]" in config
    assert "[importlinter:contract:layers]" in config


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(REPO)) for p in MODULES])
def test_module_starts_with_a_one_line_docstring(path: Path) -> None:
    """Every module opens with a docstring whose first line is a one-line summary (a blank line before any more)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    first = tree.body[0] if tree.body else None
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
        first.value.value, str), f"{path} does not start with a docstring"
    lines = first.value.value.split("\n")
    assert lines[0].strip() and lines[0] == lines[0].strip(), f"{path}: the summary must be on the first line"
    assert len(lines) == 1 or lines[1].strip() == "", f"{path}: the summary must fit on one line"
