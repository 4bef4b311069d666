"""Rules that add nothing to a skill: a rule restating one the skill already holds in other
words, and a rule about grading the answer, which the target never sees.

A small optimizer states the answer format again and again in new words ("Write the answer in
the correct format", then "Correct yes/no answer format", then "Check the answer format":
"Ensure the answer is in the correct format (yes or no)"), each too different in wording for a
near-duplicate check (guard.near_duplicate) yet saying nothing new. `restated_by` compares
what the rules are about: the content words of a new rule (no function word, none of the words
every rule of a skill uses such as "answer", "line" or "ensure"; stemmed, so "formats" is
"format") mostly contained in ONE section of the skill.

It also writes the reviewer's job into the target's skill ("review the model's answer and
check it against the correct answer"): the target has no correct answer to compare with.
`grading_talk` finds such text, kept narrow so that "choose the correct answer" or "the
correct option" pass.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache

import snowballstemmer

from skillfit.optim.marked import MARKER
from skillfit.optim.optimizer import (
    EXAMPLE_CLOSING,
    EXAMPLE_HEADING,
    PROCEDURE_CLOSING,
    PROCEDURE_HEADING,
    PROCEDURE_OPENING,
)
from skillfit.skill import Skill

# A new rule restates a section when at least RESTATED of its content words (and at least
# RULE_WORDS of them) are that section's: "Check the answer format: Ensure the answer is in the
# correct format (yes or no)" has {check, format, correct, yes, no}, four of them in "Write the
# answer in the correct format: ... (e.g., yes or no, the correct number, etc.)".
RESTATED = 0.8
RULE_WORDS = 4

# English function words and abbreviations: they tell nothing of what a rule is about.
_STOP = frozenset(
    re.findall(
        r"[a-z]+",
        """a an the of to in on at for by with from into onto upon about as is are was were be
        been being am it its this that these those there here then than and or but nor so if
        do does did doing done have has had can could will would shall should may might must
        you your yours yourself we our us they them their he she his her him who whom whose
        what which when where why how all any each every some such own same other only too
        very just also both few more most much many one ones out off over under again once
        via per because while until after before since though although whether either
        neither e g eg i ie etc vs""",
    )
)
# What every rule of a skill says in some words: the answer line it leads to, the question it
# answers, the writing, and the insistence ("ensure", "make sure", "always", "carefully").
# They tell two rules apart no more than "the" does.
_GENERIC = frozenset(
    re.findall(
        r"[a-z]+",
        """answer answers answering line lines question questions write writes writing written
        ensure ensures make makes sure always remember careful carefully need needs note""",
    )
)
# Negation turns a rule into its opposite: "Do not write the steps after the answer line" does
# not restate "Write the steps after the answer line", nor the other way round.
_NEGATION = re.compile(r"\b(?:not|never|no longer|avoid\w*|without|don'?t|doesn'?t)\b|n't\b")
_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?")


@cache
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@cache
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


# The skill's scaffolding: the procedure section's fixed lines and the worked example's, which
# every such section carries and no rule states.
_SCAFFOLD = frozenset(
    " ".join(s.casefold().split())
    for s in (PROCEDURE_OPENING, PROCEDURE_CLOSING, EXAMPLE_CLOSING, PROCEDURE_HEADING)
)


def _rule_text(text: str) -> str:
    """`text` without its scaffolding lines and list marks."""
    kept = []
    for line in text.splitlines():
        bare = " ".join(re.sub(r"^\s*(?:#+|[-*+•]|\d+[.)])\s*", "", line).casefold().split())
        if bare and bare not in _SCAFFOLD:
            kept.append(bare)
    return "\n".join(kept)


def rule_words(text: str) -> frozenset[str]:
    """What `text` is about: the stems of its words, less function words and the words every
    rule of a skill uses (see _GENERIC), scaffolding lines left out."""
    words = (w.replace("'", "") for w in _WORDS.findall(_rule_text(text)))
    return frozenset(_stem(w) for w in words if w not in _STOP and w not in _GENERIC)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(_rule_text(text)))


def rule_sections(skill: Skill) -> list[tuple[str, str]]:
    """(title, text) of each section that states rules: worked examples are item text."""
    return [
        (sec.title or "preamble", f"{sec.title}\n{sec.body}")
        for sec in skill.sections
        if not MARKER.search(sec.body)
        and EXAMPLE_CLOSING not in sec.body
        and sec.title != EXAMPLE_HEADING
    ]


def restated_by(rule: str, sections: Iterable[tuple[str, str]]) -> str | None:
    """The title of the first of `sections` ((title, text) pairs) that `rule` restates, or None:
    at least RULE_WORDS content words (see rule_words), at least RESTATED of them in that
    section, and the two either both negated or neither."""
    words = rule_words(rule)
    if len(words) < RULE_WORDS:
        return None
    negated = _negated(rule)
    for title, text in sections:
        if _negated(text) != negated:
            continue
        if len(words & rule_words(text)) >= RESTATED * len(words):
            return title
    return None


def _line(line: str) -> str:
    return " ".join(re.sub(r"^\s*#+\s*", "", line).casefold().split())


def restates_skill(content: str, candidate: Skill) -> str | None:
    """The title of the section that the new text `content` restates in `candidate`, the skill
    it is part of, or None. `content` is judged section by section (an edit may add several),
    against the candidate's sections with `content`'s own lines taken out: the rest of the
    section it went into counts, the text a replace removed does not."""
    mine = Counter(_line(line) for line in content.splitlines() if line.strip())
    others = []
    for title, text in rule_sections(candidate):
        rest = []
        for line in text.splitlines():
            if mine[_line(line)] > 0:
                mine[_line(line)] -= 1
            else:
                rest.append(line)
        others.append((title, "\n".join(rest)))
    for _, text in rule_sections(Skill.parse(content)):
        found = restated_by(text, others)
        if found:
            return found
    return None


# --- grading talk -----------------------------------------------------------------------------

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
