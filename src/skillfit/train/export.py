"""A run's best skill as an Agent Skills directory, ready to copy into `.claude/skills/` or
`.agents/skills/`: `<run>/best_skill/<name>/SKILL.md` (+ the starting skill's reference files).

The skill directory sits one level down because the standard requires a skill's `name` to be
its directory's name and allows no underscore: `best_skill/` is a skills folder holding one
skill (`skillfit eval --skill <run>/best_skill` finds it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from skillfit.skill import SkillDir, skill_name

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
    left there by an earlier run is removed); returns the skill's directory."""
    folder = run_dir / BEST_SKILL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.name != bundle.name and stale.is_dir() and not stale.name.startswith("."):
            shutil.rmtree(stale)
    return bundle.save(folder / bundle.name)
