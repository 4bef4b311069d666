"""A run's best skill as an Agent Skills directory, ready to copy into `.claude/skills/` or
`.agents/skills/`: `<run>/best_skill/<name>/SKILL.md` (+ the starting skill's reference files).

The skill directory sits one level down because the standard requires a skill's `name` to be
its directory's name and allows no underscore: `best_skill/` is a skills folder holding one
skill (`skillfit eval --skill <run>/best_skill` finds it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from skillfit.skill import SkillDir, skill_name
from skillfit.skill.skilldir import remove_save_debris

if TYPE_CHECKING:
    from skillfit.train.layout import RunLayout
    from skillfit.train.state import RunState

BEST_SKILL_DIR = "best_skill"


def best_skill_bundle(body: str, task: str, target: str, start: SkillDir | None) -> SkillDir:
    """The trained body under the starting skill's frontmatter and files, or, for a run that
    started from a plain file, a name and description made from the task."""
    if start is not None:
        return start.with_body(body)
    description = (
        f"How to solve {task} items: the method and answer format a skillfit run trained "
        f"for {target}. Use it when answering {task} questions."
    )
    return SkillDir(skill_name(task), description[:1024], body)


def write_best_skill_dir(run_dir: Path, bundle: SkillDir) -> Path:
    """Write `bundle` as the only skill in `<run_dir>/best_skill/` (a skill of another name
    left there by an earlier run is removed, and so are the temporary folders of a write
    killed between its renames); returns the skill's directory."""
    folder = run_dir / BEST_SKILL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    remove_save_debris(folder)
    for stale in folder.iterdir():
        if stale.name != bundle.name and stale.is_dir() and not stale.name.startswith("."):
            shutil.rmtree(stale)
    return bundle.save(folder / bundle.name)


def check_skill_files(layout: RunLayout, state: RunState) -> None:
    """TrainError when the saved state names a skill version whose file is gone from
    `skills/`: resuming would report (and export) a skill the run directory does not hold.
    Version 1 is exempt: a run killed before writing it writes it when resumed."""
    from skillfit.train.errors import TrainError

    for role, version in (("best", state.best_version), ("current", state.current_version)):
        path = layout.skill(version)
        if version > 1 and not path.is_file():
            raise TrainError(
                f"{layout.state} names skill v{version} as the {role} skill, but {path} is "
                "missing: the run directory is damaged; restore the file, or pass --force to "
                "start over (the old run is moved aside)"
            )


def restore_best_skill_file(layout: RunLayout, text: str) -> None:
    """Write best_skill.md again when it is missing or differs from the state's best skill
    (deleted after the run finished, say): the run says it is there."""
    from skillfit.core.io import write_text_atomic

    path = layout.best_skill
    try:
        same = path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        write_text_atomic(path, text)
