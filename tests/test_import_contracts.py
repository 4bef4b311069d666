"""The import contracts hold: one-way layers, no import circle inside a package, independent
harnesses, strategies and task families (`[tool.importlinter]` in pyproject.toml; the same check
as `lint-imports`). A new upward import or circle fails here; the contracts' `ignore_imports`
list the violations not fixed yet, and one that no longer exists fails too, so the list only
shrinks."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configuration.configure()  # what the `lint-imports` command does first
    kept = lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert kept, f"broken import contracts (run `lint-imports` for the same report):\n{report}"
