"""Answer extraction, normalization and matching shared by the single-turn tasks.

Extraction conventions, tried in this order on the model's reply:

1. the last line that starts with ``Answer:`` (case-insensitive; markdown emphasis such as
   ``**Answer:**`` and a leading ``Final`` are tolerated) -- the format every task asks for;
2. the last ``\\boxed{...}`` (maths-tuned models write this);
3. the last "the answer is ..." phrase;
4. a reply that is a single short line is taken whole;
5. otherwise the last non-empty line.

Only convention 1 counts as following the format: the others still produce an answer to score
(a right answer in the wrong format is worth knowing), but the feedback says the format was
wrong so an optimizer can learn to fix it.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from skillfit.tasks.base import Score

_ANSWER_LINE = re.compile(
    r"^[\s>*_#-]*(?:final\s+)?answer\s*\**\s*[:：]\s*\**\s*(?P<ans>.*?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_BOXED = re.compile(r"\\boxed\{(?P<ans>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_ANSWER_IS = re.compile(r"\bthe (?:final |correct )?answer is[:\s]+(?P<ans>[^\n]+)", re.I)

# Short replies are taken whole: longer ones are reasoning, not an answer.
_SHORT_REPLY_CHARS = 80


@dataclass(frozen=True)
class Extraction:
    """The final answer found in a reply, and how it was found."""

    answer: str
    method: str  # "answer_line" | "boxed" | "answer_is" | "whole_reply" | "last_line" | "empty"

    @property
    def format_ok(self) -> bool:
        return self.method == "answer_line"


def _clean(text: str) -> str:
    text = text.strip()
    # Markdown bold and code marks and wrapping quotes around an otherwise plain answer.
    # Underscores stay: they are answer content in board and grid puzzles.
    text = re.sub(r"^[*`\s]+|[*`\s]+$", "", text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


_ANSWER_MARK = re.compile(
    r"^[\s>*_#-]*(?:final\s+)?answer\s*\**\s*[:：]\**[ \t]*", re.IGNORECASE | re.MULTILINE
)


def extract_answer(reply: str, *, multiline: bool = False) -> Extraction:
    """Find the final answer in `reply` (see the module docstring for the conventions).

    With `multiline` (answers that are grids or lists of lines), everything after the last
    `Answer:` marker to the end of the reply is the answer, starting on the next line when the
    marker's own line is empty."""
    if multiline:
        marks = list(_ANSWER_MARK.finditer(reply))
        if marks:
            block = reply[marks[-1].end() :].strip("\n").rstrip()
            block = re.sub(r"^```\w*\n|\n?```$", "", block)  # a fenced block's fences
            if block.strip():
                return Extraction(block, "answer_line")
    matches = [m for m in _ANSWER_LINE.finditer(reply) if m.group("ans").strip(" *")]
    if matches:
        return Extraction(_clean(matches[-1].group("ans")), "answer_line")
    boxed = list(_BOXED.finditer(reply))
    if boxed:
        return Extraction(_clean(boxed[-1].group("ans")), "boxed")
    answer_is = list(_ANSWER_IS.finditer(reply))
    if answer_is:
        return Extraction(_clean(answer_is[-1].group("ans")).rstrip("."), "answer_is")
    lines = [line for line in reply.splitlines() if line.strip()]
    if not lines:
        return Extraction("", "empty")
    if len(lines) == 1 and len(lines[0].strip()) <= _SHORT_REPLY_CHARS:
        return Extraction(_clean(lines[0]), "whole_reply")
    return Extraction(_clean(lines[-1]), "last_line")


def normalize(text: str) -> str:
    """Case-fold, trim, collapse whitespace and drop a trailing full stop."""
    text = _clean(text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".").strip()


def exact_match(prediction: str, target: str) -> bool:
    return normalize(prediction) == normalize(target)


# --- multiple choice -------------------------------------------------------------------------

_CHOICE_TARGET = re.compile(r"^\(([A-Z])\)$")
_CHOICE_ANSWER = re.compile(r"^\(?([A-Z])\)?(?:$|[\s.:)\]])")
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)


def choice_letter(target: str) -> str | None:
    """ "(B)" -> "B"; None when the target is not a multiple-choice letter."""
    m = _CHOICE_TARGET.match(target.strip())
    return m.group(1) if m else None


def parse_options(question: str) -> dict[str, str]:
    """The "(A) text" option lines of a multiple-choice question, letter -> text."""
    return {m.group(1): m.group(2) for m in _OPTION_LINE.finditer(question)}


def answer_letter(answer: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter an answer names: "(A)", "A", "A)", "(A) some text", "A. text", or the
    option's own text when `options` are given."""
    cleaned = _clean(answer)
    m = _CHOICE_ANSWER.match(cleaned)
    if m and (options is None or not options or m.group(1) in options):
        return m.group(1)
    if options:
        wanted = normalize(cleaned)
        for letter, text in options.items():
            if normalize(text) == wanted:
                return letter
    return None


# --- numbers ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?|[-−]?\.\d+")


def parse_number(text: str) -> float | None:
    """The last number in `text`, ignoring thousands separators, currency signs and units:
    "$1,234.50 dollars" -> 1234.5, "x = 12" -> 12. None when there is no number."""
    found = _NUMBER.findall(text.replace("−", "-"))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", "").replace("−", "-"))
    except ValueError:
        return None


def numeric_match(prediction: str, target: str | float, *, rel_tol: float = 1e-6) -> bool:
    got = parse_number(prediction)
    want = target if isinstance(target, float | int) else parse_number(str(target))
    if got is None or want is None:
        return False
    return math.isclose(got, float(want), rel_tol=rel_tol, abs_tol=1e-9)


# --- token F1 --------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _f1_tokens(text: str) -> list[str]:
    text = text.casefold()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return _ARTICLES.sub(" ", text).split()


def f1_overlap(pred: Sequence[str], gold: Sequence[str]) -> float:
    """F1 of the token overlap of two already normalized token lists (1.0 when both are
    empty)."""
    if not pred or not gold:
        return float(list(pred) == list(gold))
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, target: str) -> float:
    """SQuAD-style token F1 (lower-cased, punctuation and articles removed)."""
    return f1_overlap(_f1_tokens(prediction), _f1_tokens(target))


# --- feedback --------------------------------------------------------------------------------


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_note(extraction: Extraction) -> str:
    """What was wrong with the reply's format, or "" when it followed it."""
    if extraction.method == "answer_line":
        return ""
    if extraction.method == "empty":
        return "The reply was empty."
    how = {
        "boxed": "took the last \\boxed{...}",
        "answer_is": "took the text after 'the answer is'",
        "whole_reply": "took the whole one-line reply",
        "last_line": "took the last line",
    }[extraction.method]
    return f"Format: no 'Answer:' line found; {how}."


def feedback(
    *, correct: bool, given: str, expected: str, extraction: Extraction, note: str = ""
) -> str:
    """Feedback written for an optimizer: expected vs given, and any format problem."""
    parts = [
        "Correct." if correct else "Wrong.",
        f"Expected: {_short(expected)!r}.",
        f"Given: {_short(given)!r}." if extraction.method != "empty" else "Given: nothing.",
    ]
    fmt = format_note(extraction)
    if fmt:
        parts.append(fmt)
    if note:
        parts.append(note)
    return " ".join(parts)


def binary_score(
    correct: bool,
    *,
    given: str,
    expected: str,
    extraction: Extraction,
    note: str = "",
    well_formed: bool = True,
) -> Score:
    """A right/wrong Score (soft equals hard) with optimizer-facing feedback. `well_formed`
    says whether the extracted answer is of the kind the task wants (a number, an option...);
    the reply counts as formatted when it also came on an `Answer:` line."""
    text = feedback(
        correct=correct, given=given, expected=expected, extraction=extraction, note=note
    )
    return Score(
        hard=int(correct),
        soft=float(correct),
        feedback=text,
        formatted=extraction.format_ok and well_formed,
    )
