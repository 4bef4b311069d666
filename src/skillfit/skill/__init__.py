"""The skill document: sections with stable ids, bounded edits, diff and size.

Public surface::

    from skillfit.skill import Skill, Edit, EditOutcome, ApplyResult, Section, SkillFileError
    from skillfit.skill import mentions_any
    from skillfit.skill import SkillDir, load_skill_dir, read_skill, read_skill_source
"""

from skillfit.skill.document import DEFAULT_MAX_BYTES, ApplyResult, Skill, SkillFileError
from skillfit.skill.edits import Edit, EditOutcome
from skillfit.skill.markdown import PREAMBLE_ID, Section, slugify
from skillfit.skill.quotes import mentions_any
from skillfit.skill.skilldir import (
    SKILL_FILE,
    SkillDir,
    find_skill_dir,
    load_skill_dir,
    name_problem,
    read_skill,
    read_skill_source,
    skill_name,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PREAMBLE_ID",
    "SKILL_FILE",
    "ApplyResult",
    "Edit",
    "EditOutcome",
    "Section",
    "Skill",
    "SkillDir",
    "SkillFileError",
    "find_skill_dir",
    "load_skill_dir",
    "mentions_any",
    "name_problem",
    "read_skill",
    "read_skill_source",
    "skill_name",
    "slugify",
]
