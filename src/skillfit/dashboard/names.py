"""Run names, never paths.

A page names a run by the name the dashboard gave it when it listed the root (`suite/gsm8k`,
the folder's place under the root); the name is looked up in that listing, never joined onto
a path. A name that could reach outside the root (`..`, an absolute path, a backslash, a
control character) is refused before any lookup; so is anything not found by the listing.
Listed folders may hold any printable letters, spaces included (`résumé run`, as
`record.list_runs()` finds them); a new run's name (the launch form) is one plain word of
letters, digits, `.`, `_` and `-`.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# A new run's name: one plain word.
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
# Characters no listed name holds: separators, and control, format (bidi overrides),
# surrogate (undecodable bytes), private and unassigned code points, line breaks.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
MAX_DEPTH = 3  # outputs/<group>/<run> and one level more
UI_DIR = ".skillfit-ui"  # the dashboard's own files under the root (launch records, logs)


class BadName(ValueError):
    """A run name that is not one (a path, traversal, odd characters) or names no run."""


def is_part(part: str) -> bool:
    """One component of a listed name: a folder name that is not hidden, `.` or `..`, with
    no separator and only printable characters (letters of any script and spaces are fine)."""
    if not part or len(part) > 255 or part.startswith("."):
        return False
    return not any(c in "/\\" or unicodedata.category(c) in _BAD_CATEGORIES for c in part)


def check_name(name: str) -> str:
    """`name` when it has the shape of a listed run name, else BadName."""
    if not name or len(name) > 800:
        raise BadName("a run name is required")
    parts = name.split("/")
    if any(not is_part(p) for p in parts) or len(parts) > MAX_DEPTH:
        raise BadName(f"not a run name: {name!r} (names, not paths)")
    return name


def check_new_name(name: str) -> str:
    """A name for a new run: one plain word (letters, digits, `.`, `_`, `-`)."""
    name = name.strip()
    if not _PART.match(name) or name.startswith("."):
        raise BadName(
            f"not a run name: {name!r}: use letters, digits, '.', '_' and '-' (no '/', no '..')"
        )
    return name


def is_run_dir(path: Path) -> bool:
    """A folder a run has written to (its config or its state)."""
    return (path / "config.json").is_file() or (path / "runtime_state.json").is_file()


def is_compare_dir(path: Path) -> bool:
    """A folder `skillfit compare` wrote (its compare.json)."""
    return (path / "compare.json").is_file()


@dataclass(frozen=True)
class Listing:
    """Every run and comparison under a root, by name."""

    root: Path
    runs: dict[str, Path]
    compares: dict[str, Path]

    def run(self, name: str) -> Path:
        check_name(name)
        path = self.runs.get(name)
        if path is None:
            raise BadName(f"no run named {name!r} under the dashboard's root")
        return path

    def compare(self, name: str) -> Path:
        check_name(name)
        path = self.compares.get(name)
        if path is None:
            raise BadName(f"no comparison named {name!r} under the dashboard's root")
        return path


def list_root(root: Path) -> Listing:
    """Walk `root` (at most MAX_DEPTH levels, no hidden folders, no symlinks leaving it) for
    run and compare directories. A run's own sub-folders are not searched."""
    root = root.resolve()
    runs: dict[str, Path] = {}
    compares: dict[str, Path] = {}

    def walk(folder: Path, parts: tuple[str, ...]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if not is_part(entry.name):
                continue
            try:
                if not entry.is_dir():
                    continue
                path = Path(entry.path)
                if entry.is_symlink() and not path.resolve().is_relative_to(root):
                    continue
            except OSError:
                continue
            name = "/".join((*parts, entry.name))
            if is_run_dir(path):
                runs[name] = path
                continue
            if is_compare_dir(path):
                compares[name] = path
            if len(parts) + 1 < MAX_DEPTH:
                walk(path, (*parts, entry.name))

    if root.is_dir():
        walk(root, ())
    return Listing(root=root, runs=runs, compares=compares)
