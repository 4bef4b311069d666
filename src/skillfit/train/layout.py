"""Where a run's files live, and what to do with an output directory that already holds one."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from skillfit.core.errors import RunDirConflict, SplitError, TrainError
from skillfit.core.io import read_json
from skillfit.tasks.base import Item
from skillfit.train.config import config_hash as hash_of
from skillfit.train.config import validate_config
from skillfit.train.runlock import LOCK_NAME
from skillfit.train.state import RunState


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def state(self) -> Path:
        return self.root / "runtime_state.json"

    @property
    def best_skill(self) -> Path:
        return self.root / "best_skill.md"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def journal(self) -> Path:
        """Every paid model call of the run, one JSON line each (see models.accounting)."""
        return self.root / "calls.jsonl"

    @property
    def test_eval(self) -> Path:
        return self.root / "test_eval"

    def skill(self, version: int) -> Path:
        return self.root / "skills" / f"skill_v{version:04d}.md"

    def step(self, step: int) -> Path:
        return self.root / "steps" / f"step_{step:04d}"

    def slow_update(self, epoch: int) -> Path:
        return self.root / "slow_update" / f"epoch_{epoch:02d}"

    def meta_skill(self, epoch: int) -> Path:
        return self.root / "meta_skill" / f"epoch_{epoch:02d}"


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (a half-written one from a killed attempt is cleared)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


Decision = Literal["fresh", "resume"]


def prepare(
    layout: RunLayout,
    config_hash: str,
    *,
    resume: bool | None,
    force: bool,
) -> tuple[Decision, Path | None]:
    """Decide whether to start fresh or resume in `layout.root`.

    Same config (same `config_hash`) → resume, automatically or because `resume=True`.
    Different config, or a directory holding files that are not a skillfit run → refuse unless
    `force`, which moves the old directory aside to `<dir>.replaced-<timestamp>` (nothing is
    deleted) and starts fresh. Returns the decision and where the old run went, if it moved.
    A path that cannot hold a run (a file, a folder under a file, a read-only folder) is a
    TrainError naming it, before anything is written."""
    root = layout.root
    check_writable_dir(root)
    # The lock file is the current process's own (see runlock): it says nothing of a run.
    if not root.exists() or not any(p.name != LOCK_NAME for p in root.iterdir()):
        if resume:
            raise TrainError(f"nothing to resume in {root}: no run has been started there")
        return "fresh", None
    if force:
        return "fresh", _move_aside(root)
    problem = _conflict(layout, config_hash)
    if problem:
        raise RunDirConflict(
            f"{root} {problem}. Use another --out, resume with the same config, or pass "
            "--force to move the old run aside and start fresh."
        )
    if resume is False:
        raise RunDirConflict(
            f"{root} already holds this run; resume it (the default) or pass --force to start over."
        )
    clean_stale_temp_files(root)  # only in a directory known to hold this run
    return "resume", None


def check_writable_dir(root: Path, what: str = "the run directory (--out, run.out_dir)") -> None:
    """TrainError unless `root` is, or can be made as, a writable folder."""
    if root.exists() and not root.is_dir():
        raise TrainError(f"{root} is a file, not a folder: {what} must be a folder")
    existing = root
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != root and not existing.is_dir():
        raise TrainError(f"{existing} is a file, so {root} cannot be created: {what}")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise TrainError(
            f"{existing} is not writable, so {what} {root} cannot be written: choose another "
            "--out or make it writable"
        )


def clean_stale_temp_files(root: Path) -> list[Path]:
    """Remove the temp files a killed run left behind (`.<name>.*.tmp`, written by
    `write_text_atomic` just before a rename). Returns what was removed."""
    removed = []
    for path in root.rglob(".*.tmp"):
        if path.is_file():
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def _conflict(layout: RunLayout, config_hash: str) -> str | None:
    stored: str | None = None
    try:
        if layout.state.exists():
            stored = RunState.load(layout.state).config_hash
        elif layout.config.exists():
            # Killed before the first state was written: hash the stored config itself.
            stored = hash_of(validate_config(read_json(layout.config)))
        else:
            return "is not empty and holds no skillfit run"
    except Exception:
        return "holds a run whose state or config cannot be read"
    return None if stored == config_hash else "holds a run with a different config"


def _move_aside(root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = root.with_name(f"{root.name}.replaced-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = root.with_name(f"{root.name}.replaced-{stamp}-{n}")
    root.rename(target)
    return target


def check_splits(splits: Mapping[Any, Sequence[Item]], *, need_test: bool) -> dict[str, list[Item]]:
    """The splits as lists, or a SplitError naming what is wrong: a missing or empty split,
    duplicate ids, or ids shared between splits (a test item the optimizer could see)."""
    needed = ["train", "val"] + (["test"] if need_test else [])
    out: dict[str, list[Item]] = {}
    for name in ("train", "val", "test"):
        items = list(splits.get(name, ()) or ())
        if name in needed and not items:
            raise SplitError(f"the task's {name} split is missing or empty")
        out[name] = items
    seen: dict[str, str] = {}
    for name, items in out.items():
        for item in items:
            if item.id in seen:
                where = "twice in" if seen[item.id] == name else f"in both {seen[item.id]} and"
                raise SplitError(
                    f"item id {item.id!r} appears {where} {name}: splits must be disjoint"
                )
            seen[item.id] = name
    return out
