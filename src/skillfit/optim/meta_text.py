"""Talk about the skill document in an edit, instead of the task (META_TEXT). The guard
refuses an edit holding it; needles.PLANTED builds on it to find instructions planted in the
data for whoever edits the skill.
"""

from __future__ import annotations

import re

# Text about the document being edited rather than the task: the optimizer's prompts call the
# skill "the guide" and speak of sections, edits and the validation score; a small optimizer
# writes rules about those. Kept narrow so that task words pass ("add the tip to the bill",
# "track your heading", "each section of the report", "adding the rules of each game", "the
# players' skill ratings").
_EDIT_VERB = (
    r"(?:add|adding|added|delete|deleting|deleted|replace|replacing|replaced|edit|editing"
    r"|edited|update|updating|updated|remove|removing|removed|insert|inserting|rewrite"
    r"|rewriting|append|appending)"
)
_DETERMINER = (
    r"(?:a|an|the|this|that|these|those|new|old|previous|next|another|more|any|each|every"
    r"|one|extra|your|its)"
)
META_TEXT = re.compile(
    r"\b(?:this|the|our|that|your) guide\b"
    r"|\bskills? (?:document|file|text)\b"
    r"|\b(?:in|to|into|from|of|update|edit|improve|extend|follow) (?:this|the|your) skills?\b"
    r"(?! (?:levels?|ratings?|points?|scores?)\b)"
    r"|\b(?:this|new|previous|next|other|each|every|another|above|below|following|preceding)"
    r" sections?\b(?! of\b)"
    rf"|\b{_EDIT_VERB} (?:{_DETERMINER} ){{0,2}}(?:sections?|rules?|edits?|guides?|skills?)\b"
    r"(?! of\b)"
    r"|\b(?:section|markdown|new|title) headings?\b"
    r"|\b(?:add|adding|start with|starting with) an? (?:new )?heading\b"
    r"|\bthe optimi[sz]er\b"
    r"|\bval(?:idation)? (?:score|accuracy|set|split|items?|gate)\b"
    r"|\bscore change\b",
    re.IGNORECASE,
)
