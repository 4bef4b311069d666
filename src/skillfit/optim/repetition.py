"""Lines that say the same thing: within an edit, against the skill it goes into, against
another edit, against the optimizer's prompts. A small model writes a rule twice, copies one
already in the skill with its words reordered, or gives its prompt's example back as its
answer; the guard refuses each, and the notes, the procedure pass and the audit use the same
comparisons.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

from rapidfuzz import fuzz, utils

from skillfit.optim.needles import MIN_QUOTE
from skillfit.optim.optimizer import EXAMPLE_CLOSING
from skillfit.optim.prompting import boilerplate_needles
from skillfit.skill import Edit, Skill, mentions_any

NEAR_DUPLICATE = 90  # rapidfuzz token ratio at or above which two lines say the same
# Words that do not change what a line says when added or dropped ("each object's owner" /
# "the owner of each object"). "and", "or" and "not" are no filler in a rule.
_FILLER = frozenset(
    {"a", "an", "the", "of", "s", "to", "in", "on", "at", "for", "by", "with", "from", "is"}
    | {"are", "be", "it", "its", "this", "that", "these", "those", "then"}
)
_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|\[[ xX]\])\s+")
_HEADING = re.compile(r"^\s{0,3}#")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def line_key(line: str) -> str:
    """A line as compared for repetition: no list marker or emphasis, case-folded, spaces
    collapsed, no trailing punctuation."""
    text = _MARKER.sub("", line).replace("**", "").replace("__", "")
    return " ".join(text.casefold().split()).rstrip(".!?;:,… ").strip()


def line_keys(text: str) -> list[str]:
    """The keys of `text`'s lines that can repeat: no headings, at least three words."""
    keys = [line_key(line) for line in text.splitlines() if not _HEADING.match(line)]
    return [k for k in keys if len(k.split()) >= 3]


def _content_words(text: str) -> list[str]:
    words = utils.default_process(text).split()
    stems = (w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)
    return [w for w in stems if w not in _FILLER]


def near_duplicate(a: str, b: str) -> bool:
    """Whether two lines say the same thing in (nearly) the same words ("track the owner of
    each object" / "track each object's owner"). The token set ratio finds the candidates;
    they must also share their content words (one may differ per ten), so one changed word
    ("owner" / "colour") or a line that goes on ("think step by step" / "think step by step
    about each swap") is not a repeat; and keep most of their order, so a swap that changes
    the meaning ("not True is False" / "not False is True") is not one either."""
    if fuzz.token_set_ratio(a, b, processor=utils.default_process) < NEAR_DUPLICATE:
        return False
    wa, wb = _content_words(a), _content_words(b)
    if len(set(wa) ^ set(wb)) > len(set(wa) | set(wb)) // 10:
        return False
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio() >= 0.75


def repeats_itself(content: str) -> bool:
    """Whether `content` says a line or a sentence twice, exactly or nearly."""
    keys = line_keys(content)
    if EXAMPLE_CLOSING in content:
        # A worked example's lines track one state changing a little at a time ("Ann and Cy
        # swap: Ann green, Ben blue, Cy red"): near-duplicates by nature, so only a line
        # written twice is a repeat.
        return len(set(keys)) < len(keys)
    sentences = [
        s
        for line in content.splitlines()
        if not _HEADING.match(line)
        for s in (line_key(part) for part in _SENTENCE.split(line))
        if len(s.split()) >= 3
    ]
    if len(set(keys)) < len(keys) or len(set(sentences)) < len(sentences):
        return True
    return any(near_duplicate(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :])


def repeats_skill(edit: Edit, candidate: Skill) -> bool:
    """Whether a line of the edit occurs elsewhere in the skill it produces, exactly, nearly
    or as a long shared run of words (see `overlapping`). Lines a replace removed are gone
    from `candidate`, so keeping them is fine."""
    mine = Counter(line_keys(edit.content))
    if not mine:
        return False
    all_lines = Counter(line_keys(candidate.text))
    if any(all_lines[k] > n for k, n in mine.items()):
        return True
    others = list((all_lines - mine).elements())
    if edit.anchor:  # the content may sit inside a longer line, which then holds it
        others = [o for o in others if not any(k in o for k in mine)]
    # A run of SHARED_RUN words in common is a paraphrase too ("Finish with one line `Answer:
    # <correct answer>`, giving the answer in the form ..." beside the same line with `<answer>`).
    return any(overlapping(k, o) for k in mine for o in others)


def echoes_prompt(text: str) -> bool:
    """Whether `text` repeats a line of the optimizer's prompts or of their examples, word for
    word or nearly (headings and short lines aside): a small model copies its prompt's example
    as its answer ("Convert first: write each quantity converted to the unit ...")."""
    needles = boilerplate_needles()
    if mentions_any(text, needles, min_len=MIN_QUOTE):
        return True
    keys = [line_key(n) for n in needles]
    return any(
        near_duplicate(line_key(line), k)
        for line in text.splitlines()
        if len(line.strip()) >= 20 and not _HEADING.match(line)
        for k in keys
    )


SHARED_RUN = 8  # words in a row two rules may share before they say the same thing


def overlapping(a: str, b: str) -> bool:
    """Whether two edits' texts repeat each other: a pair of lines that are near duplicates or
    share a run of SHARED_RUN words ("Before the answer line, write `Answer: <yes>` or
    `Answer: <no>`, giving ..." / "..., check the correctness ...")."""
    for la in line_keys(a):
        for lb in line_keys(b):
            if near_duplicate(la, lb):
                return True
            wa, wb = la.split(), lb.split()
            match = difflib.SequenceMatcher(None, wa, wb, autojunk=False).find_longest_match()
            if match.size >= SHARED_RUN:
                return True
    return False
