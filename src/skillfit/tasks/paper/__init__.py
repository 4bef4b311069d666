"""The SkillOpt paper's benchmarks on the paper's exact splits.

Each benchmark module registers its task (`get_task("searchqa", split_dir=...)`) and a
materializer that builds the split directory from the public raw release plus the manifest
shipped in `manifests/`. A module that fails to import (a missing optional dependency, a bug)
only takes its own benchmark away.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

from skillfit.tasks.base import TaskDataError
from skillfit.tasks.paper.common import MATERIALIZERS, MaterializeResult, MissingRawDataError

_BENCHMARKS = ("searchqa", "livemath", "docvqa", "officeqa", "spreadsheetbench", "alfworld")

for _module in _BENCHMARKS:
    _name = f"{__name__}.{_module}"
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:  # the module exists but needs something missing
            warnings.warn(f"paper benchmark {_module} unavailable: {_exc}", stacklevel=2)
    except Exception as _exc:  # one benchmark's failure must not hide the others
        warnings.warn(f"paper benchmark {_module} unavailable: {_exc!r}", stacklevel=2)


def materializable() -> list[str]:
    """Names `materialize` accepts."""
    return sorted(MATERIALIZERS)


def materialize(
    name: str,
    raw_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    manifest_dir: str | os.PathLike[str] | None = None,
) -> MaterializeResult:
    """Build the split directory of benchmark `name` in `out_dir` from the raw release in
    `raw_dir` and the paper's manifest (the shipped copy unless `manifest_dir` is given).
    Raises MissingRawDataError naming the missing files and where they are published."""
    fn = MATERIALIZERS.get(name)
    if fn is None:
        known = ", ".join(materializable()) or "(none)"
        raise TaskDataError(f"no materializer for {name!r}; known: {known}")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    return fn(Path(raw_dir).expanduser(), out, manifest_dir)


__all__ = ["MaterializeResult", "MissingRawDataError", "materializable", "materialize"]
