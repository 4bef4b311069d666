"""Talk of grading the answer in a skill, which the target never sees.

A small optimizer writes the reviewer's job into the target's skill ("review the model's
answer and check it against the correct answer"): the target has no correct answer to compare
with. `grading_talk` finds such text, kept narrow so that "choose the correct answer" or "the
correct option" pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_GRADED = r"(?:answers?|labels?|solutions?|results?|responses?|outputs?|repl(?:y|ies))"
GRADING_TALK = re.compile(
    # the answer the grader holds: "the expected answer", "the gold label"
    rf"\b(?:expected|gold|golden|reference|ground[- ]truth)\s+{_GRADED}\b"
    # "check it against the correct answer", "compare your result with the right one"
    # ("... the correct answer format" is the form of the answer, which the target knows)
    r"|\b(?:compar\w*|check\w*|verif\w*|match\w*)\b[^.!?\n]{0,60}?"
    r"\b(?:against|with|to|match(?:es|ed|ing)?)\s+(?:the|a)\s+(?:correct|right|true|actual)\s+"
    rf"{_GRADED}\b(?!\s+(?:format|form|line|style|type)s?\b)"
    # the reply judged from outside: "the model's answer"
    rf"|\bthe\s+model'?s\s+{_GRADED}\b",
    re.IGNORECASE,
)
# Who judges the answer. A task about grading essays or scoring games has these words in its
# own text, and then they pass.
JUDGE = re.compile(r"\b(?:grader|grading|scorer|evaluator)s?\b", re.IGNORECASE)


def grading_talk(text: str, vocabulary: Iterable[str] = ()) -> str | None:
    """The first phrase of `text` that speaks of grading the answer as something the target
    can see (the expected or gold answer, checking against the correct answer, the model's
    answer, the grader), or None. "Choose the correct answer" and "the correct option" pass:
    they ask for the answer, they do not compare with it. A word naming the judge ("grader")
    passes when `vocabulary` (the task's own words) holds it."""
    match = GRADING_TALK.search(text)
    if match:
        return " ".join(match.group(0).split())
    known = {w.casefold() for w in vocabulary}
    for judge in JUDGE.finditer(text):
        word = judge.group(0).casefold()
        if word not in known and word.rstrip("s") not in known:
            return word
    return None
