"""Meta-skill hygiene: the optimizer's notes between epochs, kept short and clean.

A small optimizer writes its notes as one sentence repeated many times, copies the scorer's
feedback or quotes a task. `clean_notes` keeps what the notes are for: a few distinct bullet
points about which kinds of edits helped."""

from __future__ import annotations

import re
from collections.abc import Sequence

from skillfit.optim.needles import FEEDBACK_LABELS, MIN_QUOTE, feedback_needles
from skillfit.optim.repetition import echoes_prompt, line_key, near_duplicate, overlapping
from skillfit.optim.vocabulary import ItemWords, names_an_item
from skillfit.skill import mentions_any

# The "Edits tried" listing the notes are written from ("step 2: add [end]: ... (rejected, val
# score change -0.02)"): a small model copies its lines back instead of naming kinds of edits.
BOOKKEEPING = re.compile(
    r"\bval(?:idation)? score (?:change|by)\b|\((?:adopted|rejected)\b|^\W*step \d+\s*:",
    re.IGNORECASE,
)
# "Adding steps helped": a claim of success. Only an adopted edit helped; a small model claims
# success for edits the gate rejected, and later reflections would believe it.
_SUCCESS = re.compile(
    r"\b(?:helped|helps|improved|improves|increased|raised|boosted|worked|paid off)\b", re.I
)
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|neither|nor|without)\b|n't", re.I)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+(.*\S)\s*$")
_HEADING = re.compile(r"^\s{0,3}#")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _points(text: str) -> list[str]:
    """The bullet points of `text`; when it has none, its sentences (a model that ignored the
    format still said something)."""
    lines = text.splitlines()
    bullets = [m.group(1) for line in lines if (m := _BULLET.match(line))]
    if bullets:
        return bullets
    prose = " ".join(line for line in lines if line.strip() and not _HEADING.match(line))
    return [s for s in _SENTENCE.split(prose) if s.strip()]


def _distinct_sentences(point: str) -> str:
    """`point` with repeated sentences dropped ("X. X. X." -> "X.")."""
    seen: set[str] = set()
    kept = []
    for sentence in _SENTENCE.split(" ".join(point.split())):
        key = line_key(sentence)
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    return " ".join(kept)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…" if cut else ""


def clean_notes(
    text: str,
    *,
    needles: Sequence[str],
    feedback: Sequence[str] = (),
    max_lines: int = 8,
    max_chars: int = 1200,
    words: ItemWords | None = None,
    adopted: bool = True,
) -> str:
    """The notes as at most `max_lines` distinct "- " bullet lines of at most `max_chars`
    characters in all ("" when nothing is left).

    Dropped: lines that are not bullet points (unless the notes have none, then each sentence
    is a point), sentences repeated within a line, lines that repeat an earlier one exactly or
    nearly (repetition.near_duplicate), lines quoting an item (`needles`, see needles.leak_needles)
    or naming one's particulars (`words`, see vocabulary.item_words) or the scorer's feedback
    (`feedback`, see needles.feedback_needles; the fixed scorer
    phrases are always refused). When no edit was `adopted`, lines claiming an edit helped are
    dropped too: they are false."""
    copied = (*feedback_needles(()), *feedback)
    kept: list[str] = []
    keys: list[str] = []
    used = 0
    for point in _points(text):
        point = _distinct_sentences(point)
        key = line_key(point)
        if not re.search(r"\w", key):
            continue
        if mentions_any(point, needles, min_len=MIN_QUOTE) or (
            words and names_an_item(point, words)
        ):
            continue
        if FEEDBACK_LABELS.search(point) or mentions_any(point, copied, min_len=MIN_QUOTE):
            continue
        if BOOKKEEPING.search(point) or echoes_prompt(point):
            continue  # the edit listing or the prompt's own example, copied back
        if not adopted and _SUCCESS.search(point) and not _NEGATION.search(point):
            continue
        if any(key == k or near_duplicate(key, k) or overlapping(key, k) for k in keys):
            continue
        line = _clip(f"- {point}", max_chars - used - (1 if kept else 0))
        if not line or len(line) <= 2:
            break
        kept.append(line)
        keys.append(key)
        used += len(line) + (1 if len(kept) > 1 else 0)
        if len(kept) >= max_lines or used >= max_chars:
            break
    return "\n".join(kept)
