"""The skill document: sections with stable ids, bounded edits, diff and size.

Public surface::

    from skillfit.skill import Skill, Edit, EditOutcome, ApplyResult, Section, SkillFileError
    from skillfit.skill import mentions_any
"""

from skillfit.skill.document import DEFAULT_MAX_BYTES, ApplyResult, Skill, SkillFileError
from skillfit.skill.edits import Edit, EditOutcome
from skillfit.skill.markdown import PREAMBLE_ID, Section, slugify
from skillfit.skill.quotes import mentions_any

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PREAMBLE_ID",
    "ApplyResult",
    "Edit",
    "EditOutcome",
    "Section",
    "Skill",
    "SkillFileError",
    "mentions_any",
    "slugify",
]
